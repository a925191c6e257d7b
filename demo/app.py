"""The web app: draw, speak, both, or photograph digits and watch the model read them.

    python -m demo.app [--host 127.0.0.1] [--port 7860] [--share] [--checkpoints DIR] [--threshold P]

The Draw tab reads digits, letters, or both (a switch beside the canvas: the characters model,
checkpoints/characters.pt, where it exists); every other tab reads digits.

The model is loaded once; callbacks only call `core` and turn its answers into pictures.
Named API endpoints (see README): /predict_image, /predict_strokes, /predict_speech,
/predict_multimodal, /read_photo. The tabs read with the browser tab's own profile when its user
taught one (the Teach tab, demo/teach.py); the JSON endpoints always read with the shipped model.

Every endpoint is reachable by strangers once the app listens on a network (`--host 0.0.0.0`,
`--share`), so requests are treated as hostile:
- request data is data: stroke text is always JSON, never a file name; the only files opened are
  the upload components' files, which Gradio accepts only from its own upload folder, and they
  become `pathlib.Path` in demo/guard.py (`upload`, the one place a path is trusted) before `core`
  opens them;
- cost is bounded before work: uploads by `MAX_UPLOAD_BYTES` (Gradio's `max_file_size`), every
  other request body by `MAX_BODY_BYTES` (`RequestGuard`; both in demo/guard.py), and `core`
  enforces its own limits on pixels, samples and stroke JSON (`core/limits.py`); uploads are
  deleted after `DELETE_CACHE`;
- one error contract (below): endpoints answer `{"error": "..."}` with no server paths in it,
  tabs show one line.

Here: the page (its tabs and the hidden JSON endpoints), the callbacks behind it (`App`) and the
error contract. What an answer looks like: demo/answers.py; the Teach tab: demo/teach.py.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

import gradio as gr
import numpy as np
from starlette.middleware import Middleware

from core import DataError, InputError, Recognizer, voice
from core import image as I
from core import strokes as S
from core.stroke_groups import group_strokes
from demo import render
from demo.answers import as_json, big, big_number, fit, model_card_markdown
from demo.canvas import DRAW_WIDTH, StrokeCanvas, parse_canvas
from demo.guard import MAX_UPLOAD_BYTES, PhotoInput, RequestGuard, UploadInput, upload
from demo.messages import error_text, friendly
from demo.teach import STATE_SECONDS, Teacher, Teaching, build_tab

log = logging.getLogger("demo")
REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
HINT_EMPTY = "✏️ Draw a digit, or a number, on the canvas — it is read each time you lift the pen."
READ_AS = {"digits": "digits", "letters": "letters", "digits and letters": None}  # the Draw tab's switch -> classes view
NO_CHARACTERS = "letters need the characters model (checkpoints/characters.pt; scripts/train_core.sh --only characters)"
HINT_AUDIO = "🎙️ Record or upload one spoken digit (zero to nine)."
# Every 5 minutes, delete uploads and results older than 15 minutes: strangers' files do not
# linger on the server (and all of them go when it stops).
DELETE_CACHE = (300, 900)
# Gradio keeps about 170 KB per browser session here, and drops the oldest once there are more than this many: with
# its default (10,000) a stranger opening sessions could pin 1.6 GB (hostile review); 2,000 is at most ~340 MB. The
# same stranger can push a user's Teach examples out sooner, so the Teach tab offers the profile as a download.
SESSIONS = 2000

CSS = """
.big-digit { font-size: 96px; font-weight: 700; line-height: 1; text-align: center; }
.big-digit.not-sure { opacity: 0.35; }
.big-digit.number { font-size: 72px; letter-spacing: 4px; word-break: break-all; }
.digit-chip { display: inline-block; margin: 2px; padding: 1px 6px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); }
.digit-chip.not-sure { opacity: 0.45; }
.big-conf { text-align: center; opacity: 0.75; }
.msg { min-height: 1.5em; }
#teach-status table, #teach-scores table { font-size: 13px; }
#teach-status th, #teach-status td { padding: 2px 6px; text-align: center; }
"""


# ---------------------------------------------------------------- callbacks


class App:
    """Callbacks bound to one loaded Recognizer (its `threshold` decides what is "sure"). The tabs'
    callbacks take the session's Teaching (None: not taught) and read with its profile."""

    def __init__(self, recognizer: Recognizer, characters: Recognizer | None = None):
        self.r = recognizer
        self.characters = characters  # the 62-class model for the Draw tab's letters (None: digits only)
        self.teacher = Teacher(recognizer)

    # ------------------------------------------------------------------ Draw
    def draw(self, value: str, teaching: Teaching | None = None, read_as: str = "digits"):
        """Canvas JSON -> big answer, fused bars, image bars, stroke bars, 28x28 view, 8-point view, whether the
        row of bars shows, message. `read_as` (the switch): "digits" (the digits model, with the session's
        profile; strokes that make several digits (core/stroke_groups.py) are read as a number, `draw_number`),
        "letters" or "digits and letters" (the characters model, one character, answering within that view)."""
        empty = (big(None), None, None, None, None, None, gr.update(visible=True))
        try:
            strokes, image = parse_canvas(value)
            if not strokes:
                return (*empty, HINT_EMPTY)
            if read_as not in READ_AS:
                raise InputError(f"read as {read_as!r}; expected one of {', '.join(READ_AS)}")
            if read_as == "digits":
                r = self.teacher.active(teaching)
                if len(group_strokes(S.parse_strokes(strokes))) > 1:
                    return self.draw_number(r, strokes)
                p = r.predict(image=image, strokes=strokes)
            elif self.characters is None:
                raise InputError(NO_CHARACTERS)
            else:
                p = self.characters.predict(image=image, strokes=strokes, classes=READ_AS[read_as])
            points, _ = S.unpack(p.seen["strokes"])
            pictured = "image" in p.seen  # the browser always sends the picture; a stranger may send strokes only
            return (
                big(p, len(strokes)),
                render.probs_dict(p.probs, p.names),
                render.probs_dict(p.by_modality["image"], p.names) if pictured else None,
                render.probs_dict(p.by_modality["strokes"], p.names),
                render.mnist_view(p.seen["image"]) if pictured else None,
                render.trajectory_view(points),
                gr.update(visible=True),
                "",
            )
        except Exception as e:  # noqa: BLE001 - the page must show a message, never a traceback
            return (*empty, friendly(e))

    @staticmethod
    def draw_number(r: Recognizer, strokes: list):
        """Several digits drawn -> the number (`Recognizer.read_strokes`), each digit's confidence, and the
        28x28 picture each digit's CNN saw side by side; the row of single-digit bars is hidden."""
        reading = r.read_strokes(strokes)
        crops = [d.crop for d in reading.digits if d.crop is not None]
        strip = render.mnist_view(np.hstack(crops), scale=4) if crops else None
        msg = f"Read as a number: {len(reading.digits)} digits. Lift the pen between digits; Clear starts again."
        return big_number(reading, len(strokes)), None, None, None, strip, None, gr.update(visible=False), msg

    # ------------------------------------------------------------------ Speak
    def speak(self, path: str | None, teaching: Teaching | None = None):
        """Audio file path -> big digit, bars, spectrogram, message."""
        if not path:
            return big(None), None, None, HINT_AUDIO
        try:
            p = self.teacher.active(teaching).predict(audio=upload(path))
            return big(p), render.probs_dict(p.probs), render.spectrogram_view(p.seen["audio"]), ""
        except Exception as e:  # noqa: BLE001
            return big(None), None, None, friendly(e)

    # ------------------------------------------------------------------ Draw + Speak
    def both(self, value: str, path: str | None, teaching: Teaching | None = None):
        """Canvas + audio -> big digit, fused bars, per-modality bars (image, strokes, audio), votes, message."""
        empty = (big(None), None, None, None, None, "")
        try:
            strokes, image = parse_canvas(value)
            kw = {}
            if strokes:
                kw.update(image=image, strokes=strokes)
            if path:
                kw["audio"] = upload(path)
            if not kw:
                return (*empty, "Draw a digit, say one, or both; the result fuses whatever is there.")
            p = self.teacher.active(teaching).predict(**kw)
            bars = [render.probs_dict(p.by_modality[m]) if m in p.by_modality else None for m in ("image", "strokes", "audio")]
            votes = " · ".join(f"**{m}** says {int(q.argmax())} ({100 * q.max():.0f}%)" for m, q in p.by_modality.items())
            return (big(p), render.probs_dict(p.probs), *bars, f"Votes: {votes} → fused **{p.label}**", "")
        except Exception as e:  # noqa: BLE001
            return (*empty, friendly(e))

    # ------------------------------------------------------------------ Photo
    def photo(self, path: str | None, teaching: Teaching | None = None):
        """Photo file -> annotated photo, number read, message."""
        if not path:
            return None, "", "📷 Upload or snap a photo of a handwritten number on paper."
        try:
            rgb = I.load_rgb(upload(path))  # header checked against the pixel limit before decoding
            reading = self.teacher.active(teaching).read(rgb)
            if not reading.digits:
                return fit(rgb), "", "No digits found. Write darker or larger, and fill the frame with the paper."
            shown = render.draw_reading(rgb, reading)
            unsure = sum(not d.sure for d in reading.digits)
            note = f" ({unsure} not sure, in orange)" if unsure else ""
            return fit(shown), reading.text, f"{len(reading.digits)} digit(s) found{note}."
        except Exception as e:  # noqa: BLE001
            return None, "", friendly(e)

    # ------------------------------------------------------------------ API (JSON in, JSON out)
    def api_image(self, path: str | None) -> dict:
        return self._api(lambda: as_json(self.r.predict(image=upload(path))), path, "an image file")

    def api_strokes(self, strokes_json: str | None) -> dict:
        # a str is JSON text for core, never a file name
        return self._api(lambda: as_json(self.r.predict(strokes=strokes_json)), strokes_json, "stroke JSON")

    def api_speech(self, path: str | None) -> dict:
        return self._api(lambda: as_json(self.r.predict(audio=upload(path))), path, "an audio file")

    def api_multimodal(self, image: str | None, strokes_json: str | None, audio: str | None) -> dict:
        def run():
            kw = {}
            if image:
                kw["image"] = upload(image)
            if strokes_json and strokes_json.strip():
                kw["strokes"] = strokes_json
            if audio:
                kw["audio"] = upload(audio)
            return as_json(self.r.predict(**kw))

        return self._api(run, image or (strokes_json or "").strip() or audio, "an image, stroke JSON or audio, or several")

    def api_photo(self, path: str | None) -> dict:
        def run():
            reading = self.r.read(upload(path))
            return {
                "text": reading.text,
                "digits": [
                    {"box": list(d.box), "label": d.label, "confidence": round(d.confidence, 6), "sure": bool(d.sure)}
                    for d in reading.digits
                ],
            }

        return self._api(run, path, "a photo file")

    @staticmethod
    def _api(fn, given, what: str) -> dict:
        if not given:
            return {"error": f"no input: send {what}"}
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            return {"error": error_text(e)}


# ---------------------------------------------------------------- the page, and serving it


def build_app(recognizer: Recognizer, characters: Recognizer | None = None) -> gr.Blocks:
    app = App(recognizer, characters)
    with gr.Blocks(title="digits — multimodal digit recognizer", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# digits\nRead a digit from your handwriting, your pen strokes or your voice — alone or together.")
        # this browser tab's Teaching (demo/teach.py): never shared between sessions; at most ~1 MB, dropped when idle
        teaching = gr.State(None, time_to_live=STATE_SECONDS)
        with gr.Tabs():
            with gr.Tab("Draw", id="draw"):
                with gr.Row():
                    with gr.Column(scale=3, min_width=DRAW_WIDTH // 2):
                        canvas = StrokeCanvas(
                            width=DRAW_WIDTH, hint="draw a digit or a number; lift the pen between digits", elem_id="draw-canvas"
                        )
                        read_as = gr.Radio(list(READ_AS), value="digits", label="read as", elem_id="draw-read-as")
                        draw_msg = gr.Markdown(HINT_EMPTY, elem_classes=["msg"], elem_id="draw-msg")
                    with gr.Column(scale=1, min_width=240):
                        draw_big = gr.HTML(big(None), elem_id="draw-result")
                        draw_28 = gr.Image(label="what the CNN saw (28x28)", interactive=False, height=150)
                with gr.Row() as draw_bars:
                    draw_fused = gr.Label(num_top_classes=5, label="fused")
                    draw_img = gr.Label(num_top_classes=3, label="image branch alone")
                    draw_str = gr.Label(num_top_classes=3, label="stroke branch alone")
                    draw_8 = gr.Image(label="what the stroke model saw (8 points)", interactive=False, height=180)
                draw_outs = [draw_big, draw_fused, draw_img, draw_str, draw_28, draw_8, draw_bars, draw_msg]
                for trigger in (canvas.change, read_as.change):  # the switch reads the drawing again
                    trigger(
                        app.draw, [canvas, teaching, read_as], draw_outs, api_visibility="private", trigger_mode="always_last"
                    )
            with gr.Tab("Speak", id="speak"):
                with gr.Row():
                    with gr.Column():
                        mic = gr.Audio(
                            sources=["microphone", "upload"], type="filepath", label="say a digit", elem_id="speak-audio"
                        )
                        speak_msg = gr.Markdown(HINT_AUDIO, elem_classes=["msg"], elem_id="speak-msg")
                    with gr.Column():
                        speak_big = gr.HTML(big(None), elem_id="speak-result")
                        speak_bars = gr.Label(num_top_classes=10, label="probabilities")
                speak_spec = gr.Image(label="what the audio model heard (log-mel, 40 bands x 48 frames)", interactive=False)
                mic.change(app.speak, [mic, teaching], [speak_big, speak_bars, speak_spec, speak_msg], api_visibility="private")
            with gr.Tab("Draw + Speak", id="both"):
                with gr.Row():
                    with gr.Column():
                        canvas2 = StrokeCanvas(elem_id="both-canvas")
                        mic2 = gr.Audio(
                            sources=["microphone", "upload"], type="filepath", label="say the same digit", elem_id="both-audio"
                        )
                    with gr.Column():
                        both_big = gr.HTML(big(None), elem_id="both-result")
                        both_fused = gr.Label(num_top_classes=5, label="fused")
                        both_votes = gr.Markdown(elem_id="both-votes")
                        both_msg = gr.Markdown(elem_classes=["msg"])
                with gr.Row():
                    b_img = gr.Label(num_top_classes=3, label="image")
                    b_str = gr.Label(num_top_classes=3, label="strokes")
                    b_aud = gr.Label(num_top_classes=3, label="audio")
                outs = [both_big, both_fused, b_img, b_str, b_aud, both_votes, both_msg]
                canvas2.change(app.both, [canvas2, mic2, teaching], outs, api_visibility="private", trigger_mode="always_last")
                mic2.change(app.both, [canvas2, mic2, teaching], outs, api_visibility="private")
            with gr.Tab("Photo", id="photo"):
                with gr.Row():
                    photo_in = PhotoInput(
                        sources=["upload", "webcam"],
                        type="filepath",
                        image_mode=None,
                        label="handwritten number on paper",
                        elem_id="photo-in",
                    )
                    photo_out = gr.Image(label="what was found", interactive=False, elem_id="photo-out")
                photo_text = gr.Textbox(label="number read", elem_id="photo-text", lines=2)
                photo_msg = gr.Markdown(elem_classes=["msg"], elem_id="photo-msg")
                photo_in.change(app.photo, [photo_in, teaching], [photo_out, photo_text, photo_msg], api_visibility="private")
            with gr.Tab("Teach", id="teach"):
                build_tab(app.teacher, teaching, StrokeCanvas)
            with gr.Tab("Model", id="model"):
                gr.Markdown(model_card_markdown(recognizer.card))
                gr.Markdown(
                    f"Answers below {100 * recognizer.threshold:.0f}% confidence are marked *not sure* "
                    "(the threshold is chosen on validation data; `--threshold` overrides it)."
                )
                pictures = sorted(DOCS.glob("confusion_*.png"))
                if pictures:
                    gr.Gallery([str(p) for p in pictures], label="confusion matrices on the test sets", columns=4, height="auto")
        with gr.Column(visible=False):  # JSON endpoints for gradio_client; see README
            f_img, f_aud, f_photo = UploadInput(), UploadInput(), UploadInput()
            t_str = gr.Textbox()
            out = gr.JSON()
            gr.Button().click(app.api_image, f_img, out, api_name="predict_image")
            gr.Button().click(app.api_strokes, t_str, out, api_name="predict_strokes")
            gr.Button().click(app.api_speech, f_aud, out, api_name="predict_speech")
            gr.Button().click(app.api_multimodal, [f_img, t_str, f_aud], out, api_name="predict_multimodal")
            gr.Button().click(app.api_photo, f_photo, out, api_name="read_photo")
    return demo


def warm_up(recognizer: Recognizer) -> None:
    """One prediction per branch before the server opens, so the first visitor does not wait for
    librosa's JIT compilation and torch's first passes (seconds, once per process); and one match of the
    Teach tab's voice templates (core/voice.py compiles its DTW on first use)."""
    t = np.arange(8000) / 8000
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 13:15] = 255
    tone = (0.3 * np.sin(2 * np.pi * 300 * t) * np.hanning(t.size)).astype(np.float32)
    recognizer.predict(image=image, strokes=[[(140, 50), (140, 230)]], audio=tone, sample_rate=8000)
    c = voice.cepstra(tone)
    voice.distance(voice.with_deltas(c), voice.with_deltas(c))


def load_characters(checkpoints: str | None) -> Recognizer | None:
    """The characters model for the Draw tab's letters, where its checkpoint exists (else the switch says it is missing)."""
    folder = Path(checkpoints) if checkpoints else REPO / "checkpoints"
    folder = folder.parent if folder.is_file() else folder
    return Recognizer.load(folder, model="characters") if (folder / "characters.pt").is_file() else None


def stop_politely_on_sigterm() -> None:
    """systemd, Docker and `kill` end a server with SIGTERM, which skipped Gradio's shutdown and atexit: the session
    profiles and every upload stayed on disk, and a later server on the same cache folder served them (hostile
    review). SIGTERM now stops it as Ctrl-C does: the server closes, `forget_uploads` deletes its files, atexit runs."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def forget_uploads(blocks: gr.Blocks) -> None:
    """Delete every upload and result file this server kept, as it stops: Gradio does so only when its server thread
    finishes its shutdown, which the process does not wait for (after SIGTERM or Ctrl-C the uploads stayed)."""
    from gradio.route_utils import delete_files_created_by_app

    try:
        delete_files_created_by_app(blocks, age=None)
    except Exception:  # noqa: BLE001 - a cleanup at exit must not hide why the server stopped
        log.warning("could not delete this server's uploads", exc_info=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m demo.app", description="Open the digits web app.")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    ap.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    ap.add_argument("--share", action="store_true", help="also make a public gradio.live link (off by default)")
    ap.add_argument("--checkpoints", default=None, help="checkpoint directory (default: checkpoints/)")
    ap.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="answer 'not sure' below this confidence, 0..1 (default: the checkpoint's, chosen on validation data)",
    )
    args = ap.parse_args(argv)
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        ap.error(f"--threshold {args.threshold} is not a probability; expected 0..1")
    logging.basicConfig(level=logging.INFO)
    try:
        recognizer = Recognizer.load(args.checkpoints, threshold=args.threshold)
        characters = load_characters(args.checkpoints)
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
    warm_up(recognizer)
    stop_politely_on_sigterm()
    blocks = build_app(recognizer, characters).queue(default_concurrency_limit=4)
    try:
        blocks.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            css=CSS,
            max_file_size=MAX_UPLOAD_BYTES,
            state_session_capacity=SESSIONS,
            app_kwargs={"middleware": [Middleware(RequestGuard)]},
        )
    finally:
        forget_uploads(blocks)


if __name__ == "__main__":
    main()
