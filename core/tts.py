"""Spoken digits from text-to-speech voices, to give the audio branch more than FSDD's six men.

    scripts/make_tts_digits.sh [OUT]         # installs nothing; says which Debian packages are missing
    python -m core.tts --out data/tts_digits # the same

Every voice Debian's `flite` ships (kal, kal16, awb, awb_time, rms, slt) and three `festival`
voices (festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts) say "zero".."nine" at several
speaking rates and pitches. espeak-ng is left out on purpose: its voices are the tests' unheard
speakers (tests/test_audio.py). Files are `OUT/{digit}_{voice}_{variant}.wav` at the engine's own
sample rate, and `OUT/manifest.json` lists each clip with its digit, voice, *speaker* (the person
recorded for the voice: kal, kal16 and festival's kal are one man, so validation holds out speakers,
not voices), rate, pitch and sha256. A setting a voice ignores gives the same audio as another
variant; such duplicates are written once (counted in the manifest).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RATES = (0.8, 1.0, 1.25)  # speaking rate x this (duration / rate)
PITCHES = (0.85, 1.0, 1.3, 1.6)  # mean F0 x this; 1.6 takes a man's voice to a low woman's pitch (formants stay)
# words that are not digits and do not sound like one (no "ate", "for", "won", "to", "tree"): the audio
# branch's out-of-distribution check learns from them that speech is not always a digit
NON_DIGITS = ("hello", "yes", "no", "okay", "stop", "please", "thanks", "help", "water", "house", "cat", "dog",
              "green", "table", "music", "computer", "morning", "open", "close", "left", "right", "up", "down",
              "go", "wait", "maybe", "again", "hi", "goodbye", "good", "bad", "sorry", "coffee", "paper", "window",
              "apple", "yellow", "school", "phone", "number")  # fmt: skip
WORD_PITCHES = (1.0, 1.3)  # fewer variants for the non-digit words: they only teach "not a digit"
WORDS_DIR = "words"  # non-digit words go to OUT/words/{index}_{voice}_{variant}.wav with their own manifest
APT_PACKAGES = "flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Voice:
    id: str  # file-name part: letters, digits and "-" only
    engine: str  # "flite" or "festival"
    name: str  # the engine's own voice name
    speaker: str  # the person recorded for it
    f0: float | None  # Hz, the voice's own mean F0 that PITCHES multiply; None: the engine ignores a pitch setting
    rates: bool = True  # False: the engine ignores a rate setting for this voice


# f0: measured (librosa.pyin median on "seven") or the voice's own intonation target (festival's int_lr_params)
VOICES = (
    Voice("flite-kal", "flite", "kal", "kal", 100.0),
    Voice("flite-kal16", "flite", "kal16", "kal", 100.0),
    Voice("flite-awb", "flite", "awb", "awb", 108.0),
    Voice("flite-awbtime", "flite", "awb_time", "awb", None, rates=False),
    Voice("flite-rms", "flite", "rms", "rms", None),  # a clustergen voice whose F0 model ignores int_f0_target_mean
    Voice("flite-slt", "flite", "slt", "slt", 160.0),
    Voice("fest-kal", "festival", "kal_diphone", "kal", 105.0),
    Voice("fest-ked", "festival", "ked_diphone", "ked", 105.0),
    Voice("fest-slthts", "festival", "cmu_us_slt_arctic_hts", "slt", None),  # HTS: "-r" works, a pitch shift does not
)


def variants(v: Voice) -> list[tuple[float, float]]:
    """(rate, pitch) pairs a voice is asked for: the settings it ignores are left at 1."""
    return [(r, p) for r in (RATES if v.rates else (1.0,)) for p in (PITCHES if v.f0 else (1.0,))]


def variant_name(rate: float, pitch: float) -> str:
    return f"r{round(rate * 100):03d}p{round(pitch * 100):03d}"


def missing_tools() -> list[str]:
    return [t for t in ("flite", "festival") if shutil.which(t) is None]


def flite(v: Voice, word: str, rate: float, pitch: float, out: Path) -> None:
    cmd = ["flite", "-voice", v.name, "--setf", f"duration_stretch={1 / rate:.4f}"]
    if v.f0:
        cmd += ["--setf", f"int_f0_target_mean={v.f0 * pitch:.1f}"]
    subprocess.run(cmd + ["-t", word, "-o", str(out)], check=True, capture_output=True, timeout=60)


def festival_script(v: Voice, jobs: list[tuple[str, float, float, Path]]) -> str:
    """One Scheme script that says every (word, rate, pitch, path) job with voice v."""
    lines = [f"(voice_{v.name})"]
    if v.name.endswith("_hts"):
        lines.append("(define base_params hts_engine_params)")
    else:
        lines.append("(define base_lr int_lr_params)")
    for word, rate, pitch, path in jobs:
        if v.name.endswith("_hts"):
            lines.append(f'(set! hts_engine_params (append base_params (list (list "-r" {rate:.4f}))))')
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {1 / rate:.4f})")
            lines.append(f"(set! int_lr_params (cons (list 'target_f0_mean {v.f0 * pitch:.1f}) (cdr base_lr)))")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{word}")) "{path}" \'riff)')
    return "\n".join(lines) + "\n"


def synthesize(
    v: Voice, tmp: Path, words: tuple[str, ...] = WORDS, pairs: list[tuple[float, float]] | None = None
) -> list[tuple[int, float, float, Path]]:
    """Every word (default: the digits) and variant of voice v -> [(word index, rate, pitch, wav path in tmp)]."""
    pairs = variants(v) if pairs is None else pairs
    jobs = [(d, r, p, tmp / f"{d}_{v.id}_{variant_name(r, p)}.wav") for d in range(len(words)) for r, p in pairs]
    if v.engine == "flite":
        for d, r, p, path in jobs:
            flite(v, words[d], r, p, path)
    else:
        script = tmp / f"{v.id}.scm"
        script.write_text(festival_script(v, [(words[d], r, p, path) for d, r, p, path in jobs]))
        # one process per voice: a festival session that loaded another voice first can synthesize HTS wrongly
        subprocess.run(["festival", "-b", str(script)], check=True, capture_output=True, timeout=600)
    return jobs


def make(out: Path, voices: tuple[Voice, ...] = VOICES) -> dict:
    """Write every voice's digits into `out` (replacing what a previous run left there) and the manifest."""
    missing = missing_tools()
    if missing:
        raise SystemExit(
            f"error: {', '.join(missing)} not found; install the Debian packages: apt-get install -y {APT_PACKAGES} "
            "(scripts/make_tts_digits.sh --install), or train without these voices: --no-tts"
        )
    out.mkdir(parents=True, exist_ok=True)
    clips, seen, duplicates = [], set(), 0
    with tempfile.TemporaryDirectory(prefix="tts_digits_") as t:
        tmp = Path(t)
        for v in voices:
            for d, r, p, path in synthesize(v, tmp):
                y, sr = sf.read(path, dtype="int16")
                key = (v.id, d, hashlib.sha256(y.tobytes()).hexdigest())
                if key in seen:  # the voice ignored the setting that made this variant
                    duplicates += 1
                    continue
                seen.add(key)
                if len(y) == 0 or not np.abs(y).max():
                    raise SystemExit(f"error: {v.engine} voice {v.name} said nothing for {WORDS[d]!r}")
                dest = out / path.name
                shutil.copyfile(path, dest)
                clips.append(
                    {"file": dest.name, "digit": d, "voice": v.id, "speaker": v.speaker, "engine": v.engine,
                     "rate": r, "pitch": p, "sample_rate": int(sr), "seconds": round(len(y) / sr, 3),
                     "sha256": hashlib.sha256(dest.read_bytes()).hexdigest()}
                )  # fmt: skip
            print(f"{v.id}: {sum(c['voice'] == v.id for c in clips)} clips")
    keep = {c["file"] for c in clips}
    for stale in out.glob("*.wav"):
        if stale.name not in keep:
            stale.unlink()
    manifest = {
        "words": list(WORDS),
        "voices": {v.id: {"engine": v.engine, "name": v.name, "speaker": v.speaker} for v in voices},
        "duplicates_skipped": duplicates,
        "clips": clips,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    speakers = sorted({c["speaker"] for c in clips})
    print(f"wrote {len(clips)} clips ({len(voices)} voices, speakers {', '.join(speakers)}) and {MANIFEST} to {out}")
    make_words(out / WORDS_DIR, voices)
    return manifest


def make_words(out: Path, voices: tuple[Voice, ...] = VOICES) -> dict:
    """Every voice saying NON_DIGITS at its own rate and WORD_PITCHES -> `out` and its manifest."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.wav"):
        stale.unlink()
    clips = []
    with tempfile.TemporaryDirectory(prefix="tts_words_") as t:
        for v in voices:
            pairs = [(1.0, p) for p in (WORD_PITCHES if v.f0 else (1.0,))]
            for k, _, _, path in synthesize(v, Path(t), NON_DIGITS, pairs):
                dest = out / path.name
                shutil.copyfile(path, dest)
                clips.append({"file": dest.name, "word": NON_DIGITS[k], "voice": v.id, "speaker": v.speaker,
                              "sha256": hashlib.sha256(dest.read_bytes()).hexdigest()})  # fmt: skip
    manifest = {"words": list(NON_DIGITS), "clips": clips}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(clips)} non-digit words and {MANIFEST} to {out}")
    return manifest


def cli() -> None:
    p = argparse.ArgumentParser(description="Spoken digits from flite and festival voices (not espeak-ng).")
    p.add_argument("--out", default="data/tts_digits", help="output folder (default: data/tts_digits)")
    make(Path(p.parse_args().out))


if __name__ == "__main__":
    cli()
