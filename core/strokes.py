"""Pen strokes -> the UCI pendigits representation: 8 points along the trajectory, 0..100.

This is where a stroke becomes a tensor. The canvas in the web app, UNIPEN's tablet
trajectories and the training augmentation all go through `strokes_to_pendigits`, so
the model sees drawings from every source the same way.

pendigits facts this module reproduces (checked on all 7,494 training rows):
- strokes are joined into one trajectory (pen-up jumps included) and resampled to 8 points
  equally spaced along it;
- each axis is min-max scaled to 0..100 (in the data both ranges span exactly 0..100);
- y grows upward, while a browser canvas's y grows downward.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import InputError

N_POINTS = 8  # points per digit, as in pendigits
SCALE = 100.0  # each axis spans 0..SCALE
MAX_POINTS = 100_000  # more than any real drawing; guards against pathological input
FLAT_AXIS = 0.5 * SCALE  # where an axis with no extent (a perfectly straight "1") lands

StrokesLike = Sequence[Sequence[Sequence[float]]] | dict | str | Path


def parse_strokes(strokes: StrokesLike) -> list[np.ndarray]:
    """Validate strokes and return them as float64 arrays of shape (n_i, 2), x and y only.

    Accepts a list of strokes, each a sequence of (x, y) or (x, y, t); a dict with a
    "strokes" key (the canvas JSON); a JSON string; or a path to a JSON file. Strokes of a
    single point (taps) are dropped when longer strokes exist.
    """
    if isinstance(strokes, (str, Path)) and not (isinstance(strokes, str) and strokes.lstrip().startswith(("[", "{"))):
        path = Path(strokes)
        try:
            strokes = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"cannot read strokes from {path}: {e}; expected a JSON file of strokes") from e
    elif isinstance(strokes, str):
        try:
            strokes = json.loads(strokes)
        except json.JSONDecodeError as e:
            raise InputError(f"strokes are not valid JSON: {e}") from e
    if isinstance(strokes, dict):
        if "strokes" not in strokes:
            raise InputError(f"stroke JSON object has keys {sorted(strokes)}; expected a 'strokes' key")
        strokes = strokes["strokes"]
    if isinstance(strokes, np.ndarray) and strokes.ndim == 2:
        strokes = [strokes]
    if not isinstance(strokes, (list, tuple, np.ndarray)):
        raise InputError(f"strokes must be a list of strokes, got {type(strokes).__name__}")
    if len(strokes) == 0:
        raise InputError("no strokes: the canvas is empty; draw a digit first")
    out = []
    total = 0
    for i, s in enumerate(strokes):
        try:
            a = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InputError(f"stroke {i} is not a list of numeric points: {e}") from e
        if a.size == 0:
            continue
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise InputError(f"stroke {i} has shape {a.shape}; expected (n, 2) points (x, y) or (n, 3) (x, y, t)")
        if not np.isfinite(a).all():
            raise InputError(f"stroke {i} contains NaN or infinite coordinates")
        total += len(a)
        if total > MAX_POINTS:
            raise InputError(f"too many points (> {MAX_POINTS}); expected one handwritten digit")
        out.append(a[:, :2])
    if not out:
        raise InputError("no strokes: every stroke is empty; draw a digit first")
    long = [a for a in out if len(a) > 1]
    if not long:
        raise InputError("only one-point strokes (taps): a digit needs at least one stroke with two or more points")
    return long


def resample(points: np.ndarray, n: int = N_POINTS) -> np.ndarray:
    """(m, 2) polyline -> (n, 2) points equally spaced along its arc length."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        raise InputError("the strokes have no length (every point is the same); draw a digit")
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


def scale_axes(points: np.ndarray) -> np.ndarray:
    """Min-max scale each axis of (n, 2) points to 0..SCALE; an axis with no extent goes to the middle."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = hi - lo
    out = np.empty_like(points)
    for k in range(2):
        if span[k] > 1e-6 * max(span.max(), 1e-12):
            out[:, k] = (points[:, k] - lo[k]) / span[k] * SCALE
        else:
            out[:, k] = FLAT_AXIS
    return out


def strokes_to_pendigits(strokes: StrokesLike, y_down: bool = True, n: int = N_POINTS) -> np.ndarray:
    """Strokes -> (n, 2) float32 pendigits points, 0..100, y growing upward.

    `y_down=True` for canvas pixels (browser, OpenCV); False for tablet data such as UNIPEN.
    """
    parts = parse_strokes(strokes)
    joined = np.concatenate(parts, axis=0)
    if y_down:
        joined = joined * np.array([1.0, -1.0])
    return scale_axes(resample(joined, n)).astype(np.float32)


def pendigits_to_strokes(row: np.ndarray, size: float = 280.0, margin: float = 0.15) -> list[list[list[float]]]:
    """Inverse direction for tests and demos: 16 pendigits numbers -> one canvas stroke (y down).

    The digit is scaled uniformly into a `size`-pixel square canvas with a margin.
    """
    p = np.asarray(row, dtype=np.float64).reshape(-1, 2)
    inner = size * (1 - 2 * margin)
    x = size * margin + p[:, 0] / SCALE * inner
    y = size * margin + (SCALE - p[:, 1]) / SCALE * inner
    return [np.stack([x, y], axis=1).tolist()]


def unipen_strokes(points: np.ndarray) -> list[np.ndarray]:
    """UNIPEN (m, 3) [x, y, stroke] rows -> list of (n_i, 2) strokes, in tablet units (y up)."""
    ids = points[:, 2]
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return [s[:, :2] for s in np.split(points, cuts) if len(s)]
