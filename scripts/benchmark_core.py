"""Accuracy, latency and size of the committed checkpoints against the targets of issue #2.

    .venv/bin/python scripts/benchmark_core.py [--data-dir DIR] [--checkpoints DIR] [--out FILE] [--loso [--tts-dir DIR]]

Prints a markdown table (and writes it to --out). Every number is measured in this run: the
branches on their test sets, label-matched test tuples, every test digit drawn through the canvas
path (the Draw tab: fused, image alone, strokes alone) and the same for validation drawings, latency
(one helper, the median: core/timing.py), size; with --loso also FSDD leave-one-speaker-out, with
the number of epochs chosen inside each fold (12 audio trainings, one after another: about 15 minutes
for the light recipe; `core.fit_sphinx --nested` took 29 minutes for the voices recipe two at a time),
with the checkpoint's own audio recipe (core.config.audio_config).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import Recognizer, data, sets  # noqa: E402
from core import audio as A  # noqa: E402
from core import strokes as S  # noqa: E402
from core.recognizer import preprocess  # noqa: E402
from core.sets import draw_canvas  # noqa: E402, F401  (scripts/benchmark_app.py and plot_inputs.py draw with it)
from core.timing import median_ms  # noqa: E402
from core.tuples import SUBSETS, accuracy, branch_logits, evaluate_tuples, tuple_pools  # noqa: E402

N_TUPLES = 3000
BATCH = 500  # drawings per Recognizer.predict_batch call


def print_table(rows: list[tuple[str, str, str]], out: str | None = None) -> str:
    """(measure, target, measured) rows -> markdown table, printed and optionally written to `out`."""
    lines = ["| measure | target | measured |", "| --- | --- | --- |"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    table = "\n".join(lines)
    print(table)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(table + "\n")
    return table


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def publish(text: str, out: str | None) -> str:
    """Print a benchmark's markdown, and also write it to `out` when given (folders made as needed)."""
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    return text


def drawing_trajectories(root: Path, split: str) -> dict[str, tuple[list, np.ndarray]]:
    """Every pendigits row and UNIPEN donor digit of `split` (val | test) as a pen path (y up), with labels."""
    pp, py = data.load_pendigits(root, "train" if split == "val" else "test")
    if split == "val":
        n_val = sets.val_size(len(pp), data.PENDIGITS_VAL)
        pp, py = pp[-n_val:], py[-n_val:]
    parts, _, uy = sets.unipen_split(data.load_unipen(root), split, 0, np.random.default_rng(0))
    return {"pendigits": ([[S.pendigits_curve(p)] for p in pp], py), "unipen": (parts, uy)}


def draw_tab(r: Recognizer, trajectories: list, y: np.ndarray) -> dict[str, float]:
    """Each pen path drawn on the 280 px canvas and given to Recognizer.predict_batch as the Draw tab
    does (the canvas picture and the strokes) -> accuracy of the fused answer and of each branch alone."""
    right = {"fused": 0, "image": 0, "strokes": 0}
    for i in range(0, len(y), BATCH):
        strokes = [sets.to_canvas(p) for p in trajectories[i : i + BATCH]]
        preds = r.predict_batch(images=[sets.draw_canvas(s) for s in strokes], strokes=[[q.tolist() for q in s] for s in strokes])
        for p, t in zip(preds, y[i : i + BATCH]):
            right["fused"] += p.label == t
            right["image"] += int(p.by_modality["image"].argmax()) == t
            right["strokes"] += int(p.by_modality["strokes"].argmax()) == t
    return {k: v / len(y) for k, v in right.items()}


def drawing_rows(r: Recognizer, root: Path, split: str) -> list[tuple[str, str, str]]:
    rows = []
    what = {"val": "validation", "test": "test"}[split]
    for source, (traj, y) in drawing_trajectories(root, split).items():
        name = {"pendigits": f"pendigits {what} digits", "unipen": f"UNIPEN {what} donors"}[source]
        acc = draw_tab(r, traj, y)
        for k, label in (("fused", "fused"), ("image", "image alone"), ("strokes", "strokes alone")):
            rows.append((f"{name} drawn on the canvas ({len(y):,}), {label}", "", pct(acc[k])))
        best = max(acc["image"], acc["strokes"])
        ok = "yes" if acc["fused"] >= best else "no"
        rows.append((f"  fused vs better single, {name}", "≥ better single", f"{pct(acc['fused'])} vs {pct(best)} ({ok})"))
    return rows


def loso_row(root: Path, card: dict, tts_dir: str | None) -> tuple[str, str, str]:
    from core.config import audio_config
    from core.train_audio import leave_one_speaker_out

    t0 = time.time()
    # the checkpoint's own audio recipe (augmentation, TTS clips, normalization, widths), retrained per fold
    over = {"data_dir": str(root)} | ({"tts_dir": tts_dir} if tts_dir else {})
    loso = leave_one_speaker_out(audio_config(card.get("config", {}), **over))
    per = ", ".join(f"{s} {100 * loso[s]:.0f} ({loso['folds'][s]['epochs']} ep.)" for s in data.FSDD_SPEAKERS)
    return (
        "FSDD leave-one-speaker-out mean (epochs chosen inside each fold)",
        "≥ 85%",
        f"{pct(loso['mean'])} ({per}; measured here in {(time.time() - t0) / 60:.0f} min)",
    )


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--checkpoints", default=None)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    ap.add_argument(
        "--loso", action="store_true", help="FSDD leave-one-speaker-out: 12 trainings of the checkpoint's audio recipe"
    )
    ap.add_argument("--tts-dir", default=None, help="--loso: the text-to-speech digits (default: the folder the checkpoint used)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    root = data.data_root(args.data_dir)
    r = Recognizer.load(args.checkpoints)
    m = r.model
    rng = np.random.default_rng(0)
    rows = []

    x_img, y_img = sets.image_test(root, 0, True, rng)
    rows.append(("MNIST test 10k, image branch", "≥ 99.6%", pct(accuracy(branch_logits(m, "image", x_img), y_img))))
    st = sets.stroke_test(root, 0, True, rng)
    x_pen, y_pen = st["pendigits"]
    acc_pen = accuracy(branch_logits(m, "strokes", x_pen), y_pen)
    rows.append((f"pendigits test {len(y_pen):,} (unseen writers), stroke branch", "≥ 99.0%", pct(acc_pen)))
    acc_uni = accuracy(branch_logits(m, "strokes", st["unipen"][0]), st["unipen"][1])
    rows.append(
        (
            f"UNIPEN held-out donors {'+'.join(data.UNIPEN_TEST_SOURCES)} ({len(st['unipen'][1]):,}), stroke branch",
            "≥ 97%",
            pct(acc_uni),
        )
    )
    au = sets.audio_test(root, 0, rng)
    rows.append(("FSDD customary split (indices 0-4 test), audio", "≥ 99%", pct(accuracy(branch_logits(m, "audio", au.x), au.y))))
    no_loso = ("FSDD leave-one-speaker-out mean", "≥ 85%", "not measured (pass --loso)")
    rows.append(loso_row(root, r.card, args.tts_dir) if args.loso else no_loso)

    pools = tuple_pools(m, {"image": (x_img, y_img), "strokes": (x_pen, y_pen), "audio": (au.x, au.y)})
    tup = evaluate_tuples(m, pools, N_TUPLES, seed=123)
    rows.append((f"fused, {N_TUPLES:,} label-matched test tuples, all three", "≥ 99.9%", pct(tup["image+strokes+audio"])))
    for s in SUBSETS:
        if len(s) == 2:
            best = max(tup[s[0]], tup[s[1]])
            ok = "yes" if tup["+".join(s)] >= best else "no"
            rows.append(
                (
                    f"fused {'+'.join(s)} vs better single (label-matched tuples)",
                    "≥ better single",
                    f"{pct(tup['+'.join(s)])} vs {pct(best)} ({ok})",
                )
            )

    # what the Draw tab does: one drawing, its canvas picture and its strokes, fused
    rows += drawing_rows(r, root, "test")
    rows += drawing_rows(r, root, "val")

    with torch.inference_mode():
        for mod, x in (("image", x_img[:1]), ("strokes", x_pen[:1]), ("audio", au.x[:1])):
            ms = median_ms(lambda mod=mod, x=x: m.heads[mod](m.encode(mod, x)))
            rows.append((f"batch-1 latency, {mod} branch (2 threads, median)", "≤ 2 ms", f"{ms:.2f} ms"))

    pp, _ = data.load_pendigits(root, "test")
    strokes = S.pendigits_to_strokes(pp[0].ravel(), size=sets.CANVAS)
    canvas = sets.draw_canvas(strokes)
    second = np.zeros(A.SAMPLE_RATE, np.float32)
    w = A.load_audio(data.fsdd_split(data.list_fsdd(root), "test")[0].path)[: A.SAMPLE_RATE]
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
