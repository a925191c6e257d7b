"""Command line: recognize digits in image, audio and stroke-JSON files (or letters, with --model characters).

    python -m core.predict seven.png seven.wav seven.json          # one line per file
    python -m core.predict --fuse seven.png seven.wav seven.json   # one fused answer
    python -m core.predict --model characters --classes letters a.png a.json   # 62 classes; a view of them

Any bad file gives one line on stderr and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.classes import VIEWS
from core.errors import DataError, InputError

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".webm", ".m4a", ".aiff", ".aif", ".opus"}
STROKE_EXTENSIONS = {".json"}


def modality_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in STROKE_EXTENSIONS:
        return "strokes"
    return "image"


def format_prediction(name: str, p, modality: str) -> str:
    top = ", ".join(f"{p.names[d] if p.names else d}:{q:.3f}" for d, q in p.top(3))
    label = p.text if p.sure else "not-sure"
    return f"{name}\t{modality}\t{label}\t{p.confidence:.4f}\t[{top}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.predict", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="images (png, jpg, ...), audio (wav, mp3, ...) or stroke JSON")
    ap.add_argument("--fuse", action="store_true", help="treat the files as one digit seen through several modalities")
    ap.add_argument("--checkpoints", default=None, help="checkpoint directory (default: checkpoints/)")
    ap.add_argument("--model", choices=("digits", "characters"), default="digits",
                    help="digits (image, strokes, speech) or characters (62 classes: 0-9, A-Z, a-z; image, strokes)")  # fmt: skip
    ap.add_argument("--classes", choices=[v for v in VIEWS if v], default=None,
                    help="answer within a view of the model's classes: digits, letters (case merged), upper, lower "
                    "(default: all the model's classes)")  # fmt: skip
    ap.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="answer not-sure below this confidence (default: the checkpoint's, chosen on validation data; 0 always answers)",
    )
    args = ap.parse_args(argv)
    try:
        from core.recognizer import Recognizer

        r = Recognizer.load(args.checkpoints, threshold=args.threshold, model=args.model)
        if args.fuse:
            kw = {}
            for f in args.files:
                m = modality_of(f)
                if m in kw:
                    raise InputError(f"--fuse takes at most one file per modality; two {m} files given")
                kw[m] = f
            p = r.predict(**kw, classes=args.classes)
            votes = " ".join(f"{m}={p.names[int(q.argmax())]}" for m, q in p.by_modality.items())
            label = p.text if p.sure else "not-sure"
            print(f"fused\t{label}\t{p.confidence:.4f}\t{votes}")
            return 0
        for f in args.files:
            m = modality_of(f)
            if not f.is_file():
                raise InputError(f"{f}: no such file")
            p = r.predict(**{m: f}, classes=args.classes)
            print(format_prediction(str(f), p, m), flush=True)
    except (InputError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
