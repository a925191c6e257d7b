"""Speed and accuracy of the webcam loop against the targets of issue #4; prints a markdown table.

    .venv/bin/python scripts/benchmark_webcam.py [--data-dir DIR] [--pages 40] [--frames 15] [--update-docs]

Writes nothing tracked unless asked: the annotated frame goes to reports/webcam.png (git-ignored),
or --picture PATH; --update-docs writes it to docs/webcam.png, the picture README shows.

1. Speed: 640x480 frames with 10 digits in view (two lines of five) through the loop's own
   per-frame work (read + track + overlay), 2 threads; FPS and milliseconds per frame.
2. Accuracy: a test video of real MNIST *test* digits on simulated paper with perspective,
   blur, uneven light, noise and camera shake, each page held for --frames frames, run
   through `python -m demo.webcam --headless --json`; digits read right (edit distance per
   line) and numbers read exactly, over the frames after the first 5 of each page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core import Recognizer, data, synth  # noqa: E402
from core.text_metrics import edit_distance  # noqa: E402
from demo import webcam  # noqa: E402
from scripts.benchmark_core import print_table  # noqa: E402

SETTLE = 5  # frames a new page needs before the votes settle


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--frames", type=int, default=15)
    ap.add_argument("--out", default=None)
    ap.add_argument("--picture", default=str(REPO / "reports" / "webcam.png"), help="save one annotated frame here")
    ap.add_argument("--update-docs", action="store_true", help="save the annotated frame as docs/webcam.png (README shows it)")
    args = ap.parse_args(argv)
    if args.update_docs:
        args.picture = str(REPO / "docs" / "webcam.png")
    if args.picture:
        Path(args.picture).parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    xi, yi = data.load_mnist(data.data_root(args.data_dir), "test")
    rng = np.random.default_rng(2024)
    rows = []

    r = Recognizer.load()
    page = synth.compose(xi, yi, synth.random_numbers(rng, 2, 5, 5), rng, digit_px=60)
    frames = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in synth.shaky_frames(page.image, 60, rng)]
    tracker = webcam.Tracker()
    times, found = [], []
    for k, f in enumerate(frames * 3):
        t = time.perf_counter()
        digits = tracker.update(r.read(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)).digits)
        view = webcam.overlay(f, digits, 1000 / (1000 * statistics.median(times)) if times else 0.0)
        if k == 100 and args.picture:
            cv2.imwrite(args.picture, view)
        if k >= 10:
            times.append(time.perf_counter() - t)
            found.append(len(digits))
    ms = 1000 * statistics.median(times)
    rows.append(("FPS at 640x480, 10 digits in view, 2 cores", "≥ 30", f"{1000 / ms:.0f} FPS"))
    rows.append(
        (
            "  processing time per frame, median",
            "reported",
            f"{ms:.1f} ms (digits found per frame: median {statistics.median(found):.0f})",
        )
    )

    pages = [synth.compose(xi, yi, synth.random_numbers(rng, rng.integers(1, 3), 2, 5), rng) for _ in range(args.pages)]
    with tempfile.TemporaryDirectory() as tmp:
        video, js = Path(tmp) / "test.mp4", Path(tmp) / "r.jsonl"
        truth = synth.write_video(str(video), pages, args.frames, rng)
        proc = subprocess.run(
            [sys.executable, "-m", "demo.webcam", "--source", str(video), "--headless", "--json", str(js)],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        out = [json.loads(line)["numbers"] for line in js.read_text().splitlines()]
    digits_total = digit_errors = numbers_total = numbers_right = 0
    for k, (want, got) in enumerate(zip(truth, out)):
        if k % args.frames < SETTLE:
            continue
        want_lines = want.split("\n")
        got_lines = got + [""] * max(0, len(want_lines) - len(got))
        for w, g in zip(want_lines, got_lines):
            digits_total += len(w)
            digit_errors += min(len(w), edit_distance(w, g))
            numbers_total += 1
            numbers_right += w == g
        digit_errors += sum(len(g) for g in got[len(want_lines) :])  # extra lines are errors too
    rows.append(
        (
            f"test video ({args.pages} pages of MNIST test digits, {len(truth)} frames): digits read right",
            "≥ 97%",
            f"{100 * (1 - digit_errors / digits_total):.1f}%",
        )
    )
    rows.append(("  multi-digit numbers read exactly", "≥ 90%", f"{100 * numbers_right / numbers_total:.1f}%"))

    return print_table(rows, args.out)


if __name__ == "__main__":
    main()
