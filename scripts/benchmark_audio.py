"""Every voice: the audio branch on voices it never trained on, measured in one run.

    .venv/bin/python scripts/benchmark_audio.py [--data-dir DIR] [--checkpoints DIR] [--out FILE] [--loso]

- espeak-ng digits in 20 voice variants (5 male and 5 female voices, 2 speeds): espeak-ng is never
  used for training, so every one of these voices is new to the model;
- non-digit words spoken by espeak-ng, and noise, hum and music (core/negatives.py, a seed the
  calibration never used): how often each is "not sure" at the default threshold;
- each text-to-speech voice (when the checkpoint's or `--tts-dir`'s folder exists: scripts/make_tts_digits.sh),
  marked new or heard: a checkpoint trained with them (--tts) heard every one;
- with --loso, FSDD leave-one-speaker-out per speaker, epochs chosen inside each fold (the
  checkpoint's audio recipe, trained here: 12 audio trainings);
- latency of the audio CNN forward and of a raw clip to an answer (core/timing.py, the median);
- where checkpoints/sphinx.json is there (python -m core.fit_sphinx), each row for the audio CNN alone
  and with the PocketSphinx expert, and the leave-one-speaker-out numbers that fit measured (nested).
Prints a markdown table; the targets are issue #10's.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import Recognizer, checkpoint, data, negatives, sphinx  # noqa: E402
from core import audio as A  # noqa: E402
from core.recognizer import preprocess, to_tensor  # noqa: E402
from core.timing import median_ms  # noqa: E402
from scripts.benchmark_core import print_table  # noqa: E402

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK_VOICES = (  # (voice, sex): five accents, each with a male and a female variant
    ("en-us", "m"), ("en-us+f2", "f"), ("en-gb", "m"), ("en-gb+f3", "f"), ("en-gb-scotland", "m"),
    ("en-gb-scotland+f4", "f"), ("en-029", "m"), ("en-029+f1", "f"), ("en-gb-x-rp+m3", "m"), ("en-gb-x-rp+f2", "f"),
)  # fmt: skip
ESPEAK_SPEEDS = (130, 200)  # words per minute: slow and brisk
NON_DIGIT_WORDS = ("hello", "yes", "no", "okay", "stop", "please", "water", "help", "thanks", "good", "house", "cat")
# the words above are among those the TTS voices say for training and calibration (core.tts.NON_DIGITS; new voices,
# known words); these are not, so their row says how "not sure" fares on a word the model never met in any voice
NEW_WORDS = ("banana", "river", "ticket", "purple", "garden", "monkey", "kitchen", "pencil", "rabbit", "lemon", "summer",
             "basket")  # fmt: skip
NON_DIGIT_VOICES = ("en-us", "en-gb+f3", "en-029+f1", "en-gb-scotland")
NOISE_KINDS = ("white", "pink", "hum", "music")
PER_KIND = 100
SEED = 4242  # not a seed the calibration uses


def espeak(word: str, voice: str, speed: int) -> tuple[np.ndarray, int]:
    """One word from espeak-ng -> (waveform, sample rate); no file touches the disk."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", word], check=True, capture_output=True, timeout=30
    ).stdout
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return x, sr


def answers(r: Recognizer, clips: list[tuple[np.ndarray, int]]) -> list:
    return [r.predict(audio=x, sample_rate=sr) for x, sr in clips]


def espeak_rows(r: Recognizer) -> list[tuple[str, str, str]]:
    right, by_voice, sure, sure_right = 0, {}, 0, 0
    for voice, _sex in tqdm(ESPEAK_VOICES, desc="espeak-ng voices", leave=False):
        for speed in ESPEAK_SPEEDS:
            preds = answers(r, [espeak(w, voice, speed) for w in WORDS])
            ok = sum(p.label == d for d, p in enumerate(preds))
            by_voice[f"{voice}@{speed}"] = ok
            right += ok
            sure += sum(p.sure for p in preds)
            sure_right += sum(p.sure and p.label == d for d, p in enumerate(preds))
    n = 10 * len(by_voice)
    female = sum(v for k, v in by_voice.items() if "+f" in k)
    n_f = 10 * sum(1 for k in by_voice if "+f" in k)
    worst = min(by_voice, key=by_voice.get)
    return [
        (f"espeak-ng digits, {len(by_voice)} voice variants ({n} clips)", "≥ 95%", f"{100 * right / n:.1f}%"),
        ("  female variants / male variants", "", f"{100 * female / n_f:.1f}% / {100 * (right - female) / (n - n_f):.1f}%"),
        ("  worst variant", "", f"{worst}: {by_voice[worst]}/10"),
        ("  answered sure / right among the sure answers / sure and right, of all", "",
         f"{100 * sure / n:.1f}% / {f'{100 * sure_right / sure:.1f}%' if sure else 'n/a'} / {100 * sure_right / n:.1f}%"),
    ]  # fmt: skip


def not_sure_rows(r: Recognizer, root: Path) -> list[tuple[str, str, str]]:
    rows = []
    if shutil.which("espeak-ng"):
        for words, what in ((NON_DIGIT_WORDS, ""), (NEW_WORDS, ", in no training voice's words")):
            clips = [espeak(w, v, 160) for w in words for v in NON_DIGIT_VOICES]
            unsure = [not p.sure for p in answers(r, clips)]
            rows.append(
                (f"non-digit words, espeak-ng ({len(clips)}: {', '.join(words[:4])}, ...{what}): not sure", "≥ 95%",
                 f"{100 * np.mean(unsure):.1f}%")
            )  # fmt: skip
    rng = np.random.default_rng(SEED)
    for kind in NOISE_KINDS:
        clips = [(negatives.negative_audio(kind, rng), A.SAMPLE_RATE) for _ in range(PER_KIND)]
        unsure = [not p.sure for p in answers(r, clips)]
        rows.append((f"{kind} ({PER_KIND}): not sure", "≥ 95%", f"{100 * np.mean(unsure):.1f}%"))
    return rows


def tts_note(card: dict, folder: Path) -> str:
    """What the text-to-speech voices in `folder` are to the checkpoint: heard (its audio branch chose its epochs
    with some held out, then was refit on every voice), new, or another folder than the one it learned from."""
    learned = card.get("training_files_sha256", {}).get(f"{data.TTS_FOLDER}/manifest.json")
    if card.get("splits", {}).get("tts", "not used") == "not used" or learned is None:
        return "this checkpoint's training did not use TTS: every voice is new"
    if data.file_digest(folder / "manifest.json") == learned:
        return "heard in training"
    return "not the TTS folder this checkpoint trained on"


def tts_rows(r: Recognizer, root: Path, folder: str | None) -> list[tuple[str, str, str]]:
    """Every text-to-speech voice: new to a checkpoint trained without them, heard by one trained with them."""
    folder = data.tts_folder(root, folder or r.card.get("config", {}).get("tts_dir"))
    if not (folder / "manifest.json").is_file():
        return [("TTS voices", "reported", f"not measured: no {folder} (scripts/make_tts_digits.sh)")]
    by_voice: dict[str, list[bool]] = {}
    for c in tqdm(data.list_tts(folder=folder), desc="tts voices", leave=False):
        by_voice.setdefault(c.voice, []).append(r.predict(audio=c.path).label == c.digit)
    note = tts_note(r.card, folder)
    rows = sorted(by_voice.items())
    return [(f"TTS voice {v} ({len(ok)} clips; {note})", "reported", f"{100 * np.mean(ok):.1f}%") for v, ok in rows]


def loso_rows(root: Path, card: dict, tts_dir: str | None) -> list[tuple[str, str, str]]:
    from core.config import audio_config
    from core.train_audio import leave_one_speaker_out

    t0 = time.time()
    # the checkpoint's own audio recipe, retrained per fold (as scripts/benchmark_core.py --loso)
    over = {"data_dir": str(root)} | ({"tts_dir": tts_dir} if tts_dir else {})
    loso = leave_one_speaker_out(audio_config(card.get("config", {}), **over))
    rows = [
        ("FSDD leave-one-speaker-out mean (epochs chosen inside each fold)", "≥ 95%", f"{100 * loso['mean']:.2f}%"),
        ("  worst speaker", "≥ 90%", f"{100 * min(loso[s] for s in data.FSDD_SPEAKERS):.2f}%"),
    ]
    for s in data.FSDD_SPEAKERS:
        f = loso["folds"][s]
        rows.append((f"  speaker {s} (epochs {f['epochs']}, chosen on {f['epochs_chosen_on']})", "", f"{100 * loso[s]:.2f}%"))
    rows.append(("  time for the 12 trainings", "", f"{(time.time() - t0) / 60:.0f} min"))
    return rows


def tagged(rows: list[tuple[str, str, str]], tag: str) -> list[tuple[str, str, str]]:
    """The first row of a group named with `tag` ("CNN alone", "with PocketSphinx"); the rest as they are."""
    return [(f"{name} [{tag}]" if tag and not name.startswith(" ") else name, t, v) for name, t, v in rows]


def expert_rows(folder: Path) -> list[tuple[str, str, str]]:
    """What `python -m core.fit_sphinx` measured when it fitted the shipped weights: leave-one-speaker-out,
    each speaker answered by a fold that never heard it, the expert weighed on the other five."""
    doc = json.loads((folder / sphinx.FILE).read_text())
    loso = doc["loso"]
    rows = [
        ("FSDD leave-one-speaker-out, audio CNN alone (python -m core.fit_sphinx)", "≥ 95%", f"{100 * loso['mean_cnn']:.2f}%"),
        ("  PocketSphinx alone (never trained on FSDD)", "", f"{100 * loso['mean_sphinx']:.2f}%"),
        ("  CNN + PocketSphinx, weights fitted on the other five speakers", "≥ 95%", f"{100 * loso['mean_combined']:.2f}%"),
        ("  worst speaker, CNN + PocketSphinx", "≥ 90%", f"{100 * min(loso[s]['combined'] for s in data.FSDD_SPEAKERS):.2f}%"),
    ]
    for s in data.FSDD_SPEAKERS:
        f = loso[s]
        rows.append(
            (
                f"  speaker {s}: CNN / PocketSphinx / both",
                "",
                f"{100 * f['cnn']:.1f} / {100 * f['sphinx']:.1f} / {100 * f['combined']:.1f}%",
            )
        )
    rows.append(("  shipped weights (fitted on all six)", "", " ".join(f"{w:.3f}" for w in doc["weights"])))
    return rows


def latency_rows(r: Recognizer, root: Path) -> list[tuple[str, str, str]]:
    clip = A.load_audio(data.fsdd_split(data.list_fsdd(root), "test")[0].path)
    second = np.zeros(A.SAMPLE_RATE, np.float32)
    second[: min(len(clip), A.SAMPLE_RATE)] = clip[: A.SAMPLE_RATE]
    x = to_tensor("audio", [preprocess("audio", second, A.SAMPLE_RATE)])
    m = r.model
    with torch.inference_mode():
        cnn = median_ms(lambda: m.heads["audio"](m.encode("audio", x)))
    alone = r if r.expert is None else r.with_expert(None)
    raw = median_ms(lambda: alone.predict(audio=second, sample_rate=A.SAMPLE_RATE), runs=100)
    rows = [
        ("audio CNN forward, batch 1 (2 threads, median)", "≤ 2 ms", f"{cnn:.2f} ms"),
        ("raw 1 s clip to an answer, `Recognizer.predict`, CNN alone (median)", "≤ 10 ms", f"{raw:.1f} ms"),
    ]
    if r.expert is not None:
        both = median_ms(lambda: r.predict(audio=second, sample_rate=A.SAMPLE_RATE), runs=100)
        rows.append(("raw 1 s clip to an answer, with the PocketSphinx expert (median)", "≤ 40 ms", f"{both:.1f} ms"))
    return rows


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--checkpoints", default=None)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    ap.add_argument("--tts-dir", default=None, help="the text-to-speech digits (default: the folder training used)")
    ap.add_argument("--loso", action="store_true", help="also FSDD leave-one-speaker-out (12 audio trainings)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    root = data.data_root(args.data_dir)
    r = Recognizer.load(args.checkpoints)
    readers = [("", r)] if r.expert is None else [("CNN alone", r.with_expert(None)), ("with PocketSphinx", r)]
    rows = []
    for tag, rr in readers:
        if shutil.which("espeak-ng"):
            rows += tagged(espeak_rows(rr), tag)
        else:
            rows.append(("espeak-ng voices", "≥ 95%", "not measured: espeak-ng is not installed"))
        rows += tagged(not_sure_rows(rr, root), tag)
        rows += tagged(tts_rows(rr, root, args.tts_dir), tag)
    rows += latency_rows(r, root)
    folder = Path(args.checkpoints) if args.checkpoints else checkpoint.DEFAULT_DIR
    if (folder / sphinx.FILE).is_file() and r.expert is not None:
        rows += expert_rows(folder)
    if args.loso:
        rows += loso_rows(root, r.card, args.tts_dir)
    return print_table(rows, args.out)


if __name__ == "__main__":
    main()
