"""The Teach tab: a user teaches the recognizer their own digits (core/adapt.py), sees how much
better it reads their examples, and the other tabs read with the result, for that browser tab only.

Session state is a `gr.State` (one per browser tab, never a global, so one user's profile never
reaches another's answers) holding a `Teaching`: the examples so far, kept preprocessed (an upload is
read once and its temporary file may go), a profile the user loaded, and the active profile.
Callbacks return a new Teaching; the base recognizer is shared and never changed.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from core import Recognizer, voice
from core import adapt as AD
from core import profile as profiles
from core.limits import MAX_TEACH_PER_DIGIT
from core.recognizer import preprocess
from demo.canvas import parse_canvas
from demo.guard import upload
from demo.messages import friendly

LOO_MAX = 50  # leave-one-out refits once per example: past this many it would take seconds per Add
STATE_SECONDS = 2 * 3600  # a session's examples and profile are dropped this long after its last change
KEEP_SECONDS = 900  # downloadable profile files older than this are deleted (the app's upload policy)
HINT = "Draw the digit, say it, or both, then press **Add example**."


@dataclass(frozen=True)
class Teaching:
    labels: tuple[int, ...] = ()
    seen: tuple[dict[str, np.ndarray], ...] = ()  # per example: modality -> preprocessed array (+ "voice": cepstra)
    loaded: profiles.Profile | None = None  # a profile the user uploaded; examples add to it
    profile: profiles.Profile | None = None  # what the other tabs read with
    scores: dict | None = None  # core.adapt.leave_one_out of the examples

    def examples(self) -> AD.Examples:
        mods = [m for m in ("image", "strokes", "audio") if any(m in s for s in self.seen)]
        seen = {m: [s.get(m) for s in self.seen] for m in mods}
        return AD.Examples(np.array(self.labels, np.int64), seen, [s.get("voice") for s in self.seen])


def prompt(digit: int) -> str:
    return f"<div class='big-digit'>{digit}</div><div class='big-conf'>draw it, say it, or both — then Add</div>"


def status(t: Teaching | None) -> str:
    if t is None or t.profile is None:
        return "No profile yet: every tab reads with the shipped model."
    n = len(t.labels)
    source = f"{n} example{'s' * (n != 1)}" + (" on top of the profile you loaded" if t.loaded is not None else "")
    if t.loaded is not None and n == 0:
        source = "the profile you loaded"
    counts = AD.counts_table(t.profile.counts()).replace("| examples |", "| |", 1)
    return f"**Your profile is active** in the other tabs of this browser tab ({source}).\n\n{counts}"


def scores_text(t: Teaching | None) -> str:
    if t is None or not t.labels:
        return ""
    if t.scores is None:
        n = len(t.labels)
        return "Add another example to see how teaching helps." if n < 2 else f"(checked for up to {LOO_MAX} examples)"
    return "**How well it reads your own examples**, each one read by a profile taught from the others:\n\n" + AD.loo_table(
        t.scores
    )


class Teacher:
    """Teach-tab callbacks bound to the shared base recognizer."""

    def __init__(self, recognizer: Recognizer):
        self.r = recognizer
        self.folder = Path(tempfile.mkdtemp(prefix="digits-profiles-"))
        atexit.register(shutil.rmtree, self.folder, ignore_errors=True)

    def active(self, t: Teaching | None) -> Recognizer:
        """The recognizer a session's tabs read with: the base one, or it with the session's profile."""
        return self.r if t is None or t.profile is None else self.r.with_profile(t.profile)

    def outputs(self, t: Teaching, digit: int, message: str = "") -> tuple:
        """(state, prompt, digit radio, status, scores, download button, audio, message)."""
        path = self.profile_file(t.profile) if t.profile is not None else None
        download = gr.DownloadButton(value=path, interactive=path is not None)
        return t, prompt(digit), str(digit), status(t), scores_text(t), download, None, message

    def add(self, canvas_value: str | None, audio_path: str | None, digit: str | None, t: Teaching | None):
        """The canvas and/or recording as one example of `digit`; refit and recheck."""

        t = t or Teaching()
        if digit not in [str(k) for k in range(10)]:
            return self.outputs(t, 0, "⚠️ choose the digit you are teaching (0-9) first.")
        d = int(digit)
        try:
            strokes, image = parse_canvas(canvas_value)
            item = {}
            if strokes:
                item["strokes"] = preprocess("strokes", strokes)
                if image is not None:
                    item["image"] = preprocess("image", image)
            if audio_path:
                waves: list = []
                item["audio"] = preprocess("audio", upload(audio_path), waves=waves)
                item["voice"] = voice.cepstra(waves[0])  # the recording kept as a template (core/voice.py)
            if not item:
                return self.outputs(t, d, HINT)
            if t.labels.count(d) >= MAX_TEACH_PER_DIGIT:
                return self.outputs(t, d, f"{MAX_TEACH_PER_DIGIT} examples of {d} are plenty; teach another digit.")
            t = self.refit(Teaching(t.labels + (d,), t.seen + (item,), t.loaded))
        except Exception as e:  # noqa: BLE001 - the page shows one line, never a traceback
            return self.outputs(t, d, friendly(e))
        return self.outputs(t, (d + 1) % 10, f"Added a {d} ({' + '.join(_names(item))}).")

    def refit(self, t: Teaching) -> Teaching:
        base = self.r.with_profile(t.loaded)
        ex = t.examples()
        profile = AD.adapt_examples(base, ex).profile
        scores = AD.leave_one_out(base, ex) if 2 <= len(ex) <= LOO_MAX else None
        return Teaching(t.labels, t.seen, t.loaded, profile, scores)

    def reset(self, t: Teaching | None):
        return self.outputs(Teaching(), 0, "Started over: every tab reads with the shipped model again.")

    def load(self, path: str | None, t: Teaching | None):
        """An uploaded profile file becomes the session's profile (the examples so far are set aside)."""

        t = t or Teaching()
        if not path:
            return self.outputs(t, 0)
        try:
            p = self.r.load_profile(upload(path)).profile
        except Exception as e:  # noqa: BLE001
            return self.outputs(t, 0, friendly(e))
        return self.outputs(Teaching(loaded=p, profile=p), 0, "Loaded your profile; examples you add now build on it.")

    def profile_file(self, p: profiles.Profile) -> str:
        """The profile as a file to download, named by its content (sessions never overwrite each other's)."""
        data = profiles.to_bytes(p)
        folder = self.folder / hashlib.sha256(data).hexdigest()[:24]
        path = folder / "digits-profile.pt"
        if not path.exists():
            for old in self.folder.iterdir():  # keep the folder small: files are downloaded within minutes
                if old.stat().st_mtime < time.time() - KEEP_SECONDS:
                    shutil.rmtree(old, ignore_errors=True)
            folder.mkdir(exist_ok=True)
            profiles.save(p, path)
        return str(path)


def _names(item: dict) -> list[str]:
    out = ["drawing"] if "strokes" in item else []
    return out + (["recording"] if "audio" in item else [])


class ProfileUpload(gr.UploadButton):
    """UploadButton whose callback gets the uploaded file's path (its own preprocess also leaves an
    empty temporary file behind on every call, which no cleanup tracks)."""

    is_template = True

    def preprocess(self, payload):
        if payload is None:
            return None
        return (payload[0] if isinstance(payload, list) else payload).path


def build_tab(teacher: Teacher, teaching: gr.State, canvas_cls) -> None:
    """The Teach tab's components and events (inside a gr.Tab)."""
    gr.Markdown(
        "Teach it **your** handwriting and voice: for each digit, draw it, say it, or both, then **Add example**. "
        "Two or three of each is plenty. The profile lives in this browser tab only; download it to keep it."
    )
    with gr.Row():
        with gr.Column(scale=3):
            digit = gr.Radio([str(d) for d in range(10)], value="0", label="digit to teach", elem_id="teach-digit")
            canvas = canvas_cls(elem_id="teach-canvas")
            audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label="say it", elem_id="teach-audio")
            with gr.Row():
                add = gr.Button("Add example", variant="primary", elem_id="teach-add")
                reset = gr.Button("Start over", elem_id="teach-reset")
            message = gr.Markdown(HINT, elem_classes=["msg"], elem_id="teach-msg")
        with gr.Column(scale=2):
            shown = gr.HTML(prompt(0), elem_id="teach-prompt")
            state_md = gr.Markdown(status(None), elem_id="teach-status")
            scores = gr.Markdown(elem_id="teach-scores")
            with gr.Row():
                download = gr.DownloadButton("Download profile", interactive=False, elem_id="teach-download")
                load = ProfileUpload("Load a profile", elem_id="teach-upload")
    outs = [teaching, shown, digit, state_md, scores, download, audio, message]
    # the canvas keeps its strokes in the browser: clear it there once its value is on its way
    clear_canvas = "(...args) => { document.querySelector('#teach-canvas .clear')?.click(); return args; }"
    add.click(teacher.add, [canvas, audio, digit, teaching], outs, api_visibility="private", js=clear_canvas)
    reset.click(teacher.reset, [teaching], outs, api_visibility="private")
    load.upload(teacher.load, [load, teaching], outs, api_visibility="private")
    digit.change(lambda d: prompt(int(d) if d else 0), digit, shown, api_visibility="private")
