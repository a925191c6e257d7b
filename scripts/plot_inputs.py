"""Picture of what each branch sees, to check by eye that every source looks alike.

    .venv/bin/python scripts/plot_inputs.py [--data-dir DIR] [--out reports/inputs.png] [--update-docs]

Writes reports/inputs.png (git-ignored) by default; --update-docs writes docs/inputs.png, the
picture README shows.

One row per digit: a pendigits training sample (8 points, y up); a UNIPEN trajectory as the
tablet recorded it; the same trajectory after `strokes_to_pendigits` (the function canvas
strokes go through); a canvas drawing rasterized like the browser does, with its strokes
through `strokes_to_pendigits`; and the 28x28 image `to_mnist` makes of that drawing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core import data  # noqa: E402
from core.image import to_mnist  # noqa: E402
from core.strokes import pendigits_to_strokes, strokes_to_pendigits, unipen_strokes  # noqa: E402
from scripts.benchmark_core import draw_canvas  # noqa: E402

COLUMNS = ["pendigits (8 pts)", "UNIPEN raw", "UNIPEN -> 8 pts", "canvas drawing", "canvas -> 8 pts", "canvas -> 28x28"]


def plot_points(ax, p: np.ndarray) -> None:
    ax.plot(p[:, 0], p[:, 1], "-o", ms=3, lw=1.5, color="#1f5fa8")
    ax.plot(p[0, 0], p[0, 1], "o", ms=5, color="#d62728")  # where the pen started
    ax.set_xlim(-10, 110)
    ax.set_ylim(-10, 110)
    ax.set_aspect("equal")


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="reports/inputs.png")
    ap.add_argument("--update-docs", action="store_true", help="write docs/inputs.png (README shows it)")
    args = ap.parse_args(argv)
    if args.update_docs:
        args.out = "docs/inputs.png"
    root = data.data_root(args.data_dir)
    pp, py = data.load_pendigits(root, "train")
    ptest, ptest_y = data.load_pendigits(root, "test")
    u = data.load_unipen(root)
    rng = np.random.default_rng(3)
    fig, axes = plt.subplots(10, len(COLUMNS), figsize=(1.6 * len(COLUMNS), 16))
    for d in range(10):
        row = axes[d]
        plot_points(row[0], pp[rng.choice(np.flatnonzero(py == d))])
        i = rng.choice(np.flatnonzero(u.labels == d))
        for s in unipen_strokes(u.sample(i)):
            row[1].plot(s[:, 0], s[:, 1], lw=1.2, color="#333")
        row[1].set_aspect("equal")
        plot_points(row[2], strokes_to_pendigits(unipen_strokes(u.sample(i)), y_down=False))
        strokes = pendigits_to_strokes(ptest[rng.choice(np.flatnonzero(ptest_y == d))].ravel())
        canvas = draw_canvas(strokes)
        row[3].imshow(255 - canvas[..., 3], cmap="gray", vmin=0, vmax=255)
        plot_points(row[4], strokes_to_pendigits(strokes))
        row[5].imshow(to_mnist(canvas), cmap="gray", vmin=0, vmax=255)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(str(d), rotation=0, fontsize=14, labelpad=12)
    for ax, title in zip(axes[0], COLUMNS):
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
