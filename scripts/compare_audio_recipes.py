"""Which audio training recipe hears new voices best: each recipe trained without some voices, scored on them.

    .venv/bin/python scripts/compare_audio_recipes.py --tts-dir DIR [--data-dir DIR]
        [--held-out jackson,yweweler,tts:slt,tts:ked] [--recipes light,light+tts,...] [--seed 0] [--out FILE]

For each recipe the audio branch is trained the way the audio stage trains it (core.train_audio.train_audio:
epochs chosen with FSDD `theo` and, with TTS, the TTS speaker `awb` held out, then refit on every training
clip), on every FSDD clip and text-to-speech clip *except* those of the held-out voices, and scored on all of
theirs. The held-out voices are validation voices for this choice: espeak-ng (the benchmark's unheard voices)
is never used here. One row per recipe, one column per held-out voice, their mean, and the selection speakers.
The TTS clips come from scripts/make_tts_digits.sh (flite and festival voices: speakers awb, kal, ked, rms, slt);
recipes without "tts" train on FSDD alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import data, sets  # noqa: E402
from core.config import Config  # noqa: E402
from core.model import DigitNet  # noqa: E402
from core.train_audio import audio_dims, held_out_speakers, load_audio, train_audio, with_voice_bank  # noqa: E402
from core.tuples import branch_logits  # noqa: E402
from scripts.benchmark_core import publish  # noqa: E402

RECIPES = {  # name -> Config fields (the flags of python -m core.train), each spelled out: the defaults change
    "light": {"tts": False, "audio_aug": "light", "audio_norm": "cmn"},
    "light+tts": {"tts": True, "audio_aug": "light", "audio_norm": "cmn"},
    "light+tts+cmvn": {"tts": True, "audio_aug": "light", "audio_norm": "cmvn"},
    "voices+tts": {"tts": True, "audio_aug": "voices", "audio_norm": "cmn"},  # the best here; opt-in (README)
    "voices+tts+cmvn": {"tts": True, "audio_aug": "voices", "audio_norm": "cmvn"},
}
SELECT_FSDD = "theo"  # the FSDD speaker the epochs are chosen on (as the audio stage does)
SELECT_TTS = ("awb",)  # and the TTS speaker, for recipes with TTS
HELD_OUT = "jackson,yweweler,tts:slt,tts:ked"


def run_recipe(name: str, held: tuple[str, ...], base: Config) -> dict:
    """Train recipe `name` without the voices `held` -> {voice: accuracy, "epochs", "selection", "minutes"}."""
    over = RECIPES[name]
    cfg = replace(base, **{k: v for k, v in over.items() if k != "tts"}, tts=True, tts_val_speakers=SELECT_TTS)
    root = data.data_root(cfg.data_dir)
    rng, gen = np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    everything = load_audio(root, cfg, rng, sets.audio_all(root))  # TTS always loaded: held-out TTS voices are scored
    train, test = sets.held_out_speaker(everything, held)
    if not over.get("tts"):
        tts_speakers = tuple(s for s in np.unique(train.speakers.astype(str)) if s.startswith(sets.TTS_PREFIX))
        train, _ = sets.held_out_speaker(train, tts_speakers)
        cfg = replace(cfg, tts_val_speakers=())
    train = with_voice_bank(train, cfg, rng, held_out_speakers(cfg, SELECT_FSDD))
    model = DigitNet(audio_dims(cfg))
    t0 = time.time()
    h = train_audio(model, train, cfg, rng, gen, SELECT_FSDD)
    model.eval()
    right = (branch_logits(model, "audio", test.x).argmax(1) == test.y).numpy()
    out = {str(s): float(right[test.speakers == s].mean()) for s in held}
    out.update(epochs=h["best_epoch"], selection=h["val_acc_by_speaker"], minutes=(time.time() - t0) / 60)
    return out


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--tts-dir", required=True, help="the folder scripts/make_tts_digits.sh wrote (tts_digits)")
    ap.add_argument("--held-out", default=HELD_OUT, help=f"voices never trained on, scored (default: {HELD_OUT})")
    ap.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, of {', '.join(RECIPES)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    held = tuple(s for s in args.held_out.split(",") if s)
    names = [n for n in args.recipes.split(",") if n]
    unknown = [n for n in names if n not in RECIPES]
    if unknown or SELECT_FSDD in held or any(s.removeprefix(sets.TTS_PREFIX) in SELECT_TTS for s in held):
        ap.error(f"recipes {unknown} unknown, or a held-out voice is a selection speaker ({SELECT_FSDD}, {SELECT_TTS})")
    torch.set_num_threads(args.threads)
    base = Config(data_dir=args.data_dir, tts_dir=args.tts_dir, threads=args.threads, seed=args.seed)
    head = f"| recipe | {' | '.join(held)} | mean | epochs | selection speakers | minutes |"
    lines = [head, "|" + " --- |" * (len(held) + 5)]
    for name in names:
        r = run_recipe(name, held, base)
        sel = ", ".join(f"{s} {100 * a:.1f}%" for s, a in r["selection"].items())
        cells = " | ".join(f"{100 * r[s]:.1f}%" for s in held)
        mean = 100 * np.mean([r[s] for s in held])
        lines.append(f"| {name} | {cells} | {mean:.1f}% | {r['epochs']} | {sel} | {r['minutes']:.1f} |")
        print(lines[-1], flush=True)
    return publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
