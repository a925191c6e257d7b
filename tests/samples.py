"""The real samples committed in tests/data/ (see its README): a few test-split items of MNIST,
pendigits and FSDD in the publishers' layouts, so tests on real handwriting and speech run on any
machine, with or without the full data sets. Read them through `core.data`'s own loaders."""

from __future__ import annotations

import json
from functools import cache

import numpy as np

from core import data
from tests.conftest import REPO

ROOT = REPO / "tests" / "data"


@cache
def manifest() -> dict:
    return json.loads((ROOT / "manifest.json").read_text())


@cache
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    return data.load_mnist(ROOT, "test", verify=False)


def mnist() -> tuple[np.ndarray, np.ndarray]:
    """100 MNIST test digits (10 per class): (100, 28, 28) uint8 white on black, (100,) labels."""
    x, y = _mnist()
    return x.copy(), y.copy()


@cache
def _pendigits() -> tuple[np.ndarray, np.ndarray]:
    return data.load_pendigits(ROOT, "test", verify=False)


def pendigits() -> tuple[np.ndarray, np.ndarray]:
    """100 pendigits test rows (10 per class, writers never trained on): (100, 8, 2) float32 y up, (100,) labels."""
    p, y = _pendigits()
    return p.copy(), y.copy()


def fsdd() -> list[data.Clip]:
    """20 FSDD test recordings (indices 0-4), 2 per digit, all six speakers."""
    return data.list_fsdd(ROOT)


def pendigit_numbers(n: int, seed: int, digits: tuple[int, int] = (2, 4)) -> list[tuple[str, list[np.ndarray]]]:
    """n numbers of `digits` (fewest, most) committed pendigits test digits side by side on the Draw tab's
    wide canvas, some touching (core.sets.number_on_canvas): (the number, its canvas strokes)."""
    from core import sets
    from core.strokes import pendigits_curve

    rows, labels = _pendigits()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        picks = rng.choice(len(labels), int(rng.integers(digits[0], digits[1] + 1)), replace=False)
        strokes = sets.number_on_canvas([[pendigits_curve(rows[i].ravel())] for i in picks], rng)
        out.append(("".join(str(int(labels[i])) for i in picks), strokes))
    return out
