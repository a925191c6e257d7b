"""Accuracy, latency and size of the committed checkpoints against the targets of issue #2.

    .venv/bin/python scripts/benchmark_core.py [--data-dir DIR] [--checkpoints DIR] [--out FILE]

Prints a markdown table (and writes it to --out). Every number is measured in this run on the
test sets, except FSDD leave-one-speaker-out, which needs six trainings and is read from the
model card written by the same `scripts/train_core.sh` run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import InputError, Recognizer, data  # noqa: E402
from core import audio as A  # noqa: E402
from core import strokes as S  # noqa: E402
from core.recognizer import preprocess  # noqa: E402
from core.train import SUBSETS, accuracy, branch_logits, evaluate_tuples, tuple_pools  # noqa: E402

CANVAS = 280
N_TUPLES = 3000
LATENCY_RUNS = 300
CANVAS_DIGITS = 400


def draw_canvas(strokes: list, size: int = CANVAS, width: int = 18) -> np.ndarray:
    """Rasterize canvas strokes the way a browser sketchpad would: black ink on transparent RGBA."""
    img = np.zeros((size, size, 4), np.uint8)
    for s in strokes:
        pts = np.round(np.asarray(s)[:, :2]).astype(np.int32)
        cv2.polylines(img, [pts], False, (0, 0, 0, 255), width, cv2.LINE_AA)
    return img


def print_table(rows: list[tuple[str, str, str]], out: str | None = None) -> str:
    """(measure, target, measured) rows -> markdown table, printed and optionally written to `out`."""
    lines = ["| measure | target | measured |", "| --- | --- | --- |"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    table = "\n".join(lines)
    print(table)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(table + "\n")
    return table


def median_ms(fn, runs: int = LATENCY_RUNS) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--checkpoints", default=None)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    root = data.data_root(args.data_dir)
    r = Recognizer.load(args.checkpoints)
    m = r.model
    rows = []

    xi, yi = data.load_mnist(root, "test")
    x_img = torch.from_numpy(xi.astype(np.float32) / 255)
    acc_img = accuracy(branch_logits(m, "image", x_img), torch.from_numpy(yi))
    rows.append(("MNIST test 10k, image branch", "≥ 99.6%", pct(acc_img)))

    pp, py = data.load_pendigits(root, "test")
    x_pen = torch.from_numpy(np.stack([S.pendigits_input(row) for row in tqdm(pp, desc="pendigits", leave=False)]))
    acc_pen = accuracy(branch_logits(m, "strokes", x_pen), torch.from_numpy(py))
    rows.append((f"pendigits test {len(py):,} (unseen writers), stroke branch", "≥ 99.0%", pct(acc_pen)))

    u = data.load_unipen(root)
    xu, idx = [], []
    for i in tqdm(u.split_indices("test"), desc="unipen", leave=False):
        try:
            xu.append(S.strokes_to_input(S.unipen_strokes(u.sample(i)), y_down=False))
            idx.append(i)
        except InputError:  # a few samples are one repeated point; training skips them too
            pass
    xu = np.stack(xu)
    acc_uni = accuracy(branch_logits(m, "strokes", torch.from_numpy(xu)), torch.from_numpy(u.labels[idx]))
    rows.append(
        (f"UNIPEN held-out donors {'+'.join(data.UNIPEN_TEST_SOURCES)} ({len(idx):,}), stroke branch", "≥ 97%", pct(acc_uni))
    )

    clips = data.fsdd_split(data.list_fsdd(root), "test")
    waves = [A.trim(A.load_audio(c.path)) for c in tqdm(clips, desc="fsdd", leave=False)]
    xa = torch.from_numpy(np.stack([A.log_mel(w) for w in waves]))
    ya = torch.tensor([c.digit for c in clips])
    acc_aud = accuracy(branch_logits(m, "audio", xa), ya)
    rows.append(("FSDD customary split (indices 0-4 test), audio", "≥ 99%", pct(acc_aud)))
    loso = r.card.get("metrics", {}).get("fsdd_leave_one_speaker_out")
    loso_s = "not measured (train with --loso)"
    if loso:
        per = ", ".join(f"{s} {100 * v:.0f}" for s, v in loso.items() if s != "mean")
        loso_s = f"{pct(loso['mean'])} ({per}; from the training run)"
    rows.append(("FSDD leave-one-speaker-out mean", "≥ 85%", loso_s))

    pools = tuple_pools(m, {"image": (x_img, torch.from_numpy(yi)), "strokes": (x_pen, torch.from_numpy(py)), "audio": (xa, ya)})
    tup = evaluate_tuples(m, pools, N_TUPLES, seed=123)
    rows.append((f"fused, {N_TUPLES:,} label-matched test tuples, all three", "≥ 99.9%", pct(tup["image+strokes+audio"])))
    for s in SUBSETS:
        if len(s) == 2:
            best = max(tup[s[0]], tup[s[1]])
            ok = "yes" if tup["+".join(s)] >= best else "no"
            rows.append(
                (f"fused {'+'.join(s)} vs better single", "≥ better single", f"{pct(tup['+'.join(s)])} vs {pct(best)} ({ok})")
            )

    # what the Draw tab does: pendigits test digits drawn on a 280 px canvas, raster + strokes fused
    pick = np.random.default_rng(0).choice(len(py), CANVAS_DIGITS, replace=False)
    drawn = [S.pendigits_to_strokes(pp[i].ravel(), size=CANVAS) for i in pick]
    preds = r.predict_batch(images=[draw_canvas(s) for s in drawn], strokes=drawn)
    for name, get in (("fused", lambda p: p.label), ("image alone", lambda p: int(p.by_modality["image"].argmax()))):
        acc = float(np.mean([get(p) == py[i] for p, i in zip(preds, pick)]))
        rows.append((f"pendigits test digits drawn on the canvas ({CANVAS_DIGITS}), {name}", "", pct(acc)))

    with torch.inference_mode():
        for mod, x in (("image", x_img[:1]), ("strokes", x_pen[:1]), ("audio", xa[:1])):
            ms = median_ms(lambda mod=mod, x=x: m.heads[mod](m.encode(mod, x)))
            rows.append((f"batch-1 latency, {mod} branch (2 threads, median)", "≤ 2 ms", f"{ms:.2f} ms"))

    strokes = S.pendigits_to_strokes(pp[0].ravel(), size=CANVAS)
    canvas = draw_canvas(strokes)
    second = np.zeros(A.SAMPLE_RATE, np.float32)
    w = A.load_audio(clips[0].path)[: A.SAMPLE_RATE]
    second[: len(w)] = w
    ms = median_ms(lambda: r.predict(image=canvas, strokes=strokes, audio=second, sample_rate=A.SAMPLE_RATE), runs=100)
    rows.append(("`Recognizer.predict`: raw 280x280 canvas + strokes + 1 s audio, median", "≤ 25 ms", f"{ms:.1f} ms"))
    ms_pre = median_ms(lambda: preprocess("audio", second, A.SAMPLE_RATE), runs=100)
    rows.append(("  of which audio preprocessing", "", f"{ms_pre:.1f} ms"))

    ck = Path(args.checkpoints) if args.checkpoints else Path(__file__).resolve().parent.parent / "checkpoints"
    size = sum(f.stat().st_size for f in ck.iterdir() if f.is_file())
    rows.append(("`checkpoints/` total", "≤ 20 MB", f"{size / 1e6:.2f} MB"))

    return print_table(rows, args.out)


if __name__ == "__main__":
    main()
