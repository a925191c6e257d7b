"""Pen strokes -> what the stroke branch reads: the UCI pendigits 8 points, plus a raster.

This is where a stroke becomes a tensor (`strokes_to_input`). The canvas in the web app,
UNIPEN's tablet trajectories and the training augmentation all go through it, so the model
sees drawings from every source the same way. The input vector is the 16 pendigits numbers
(`strokes_to_pendigits`) followed by a 28x28 rendering of the pen path in the MNIST
convention (`rasterize`): 8 points keep the writing order, the raster keeps the shape that
8 points lose (a crossed 7, a looped 2, a multi-stroke 4).

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

import cv2
import numpy as np

from core import limits as L
from core.errors import InputError
from core.image import SIZE, to_mnist

N_POINTS = 8  # points per digit, as in pendigits
SCALE = 100.0  # each axis spans 0..SCALE
FLAT_AXIS = 0.5 * SCALE  # where an axis with no extent (a perfectly straight "1") lands
PER_SEGMENT = 16  # spline samples between two pendigits points when drawing them back
RASTER_CANVAS = 112  # px: the path is drawn here first, then reduced the MNIST way
RASTER_FIT = 84  # px: the longer side of the drawing on that canvas
RASTER_PEN = 9  # px pen width on that canvas: about 2 px at 28x28, as in MNIST
INPUT_SIZE = 2 * N_POINTS + SIZE * SIZE  # length of the stroke branch's input vector

StrokesLike = Sequence[Sequence[Sequence[float]]] | dict | str | Path


def load_strokes_json(text: str | bytes) -> object:
    """Stroke JSON text -> Python objects, with every bound checked before or while parsing.

    Request data is data: a string is always JSON, never a file name.
    """
    if len(text) > L.MAX_STROKE_JSON_BYTES:
        raise InputError(f"stroke JSON is {len(text):,} bytes; at most {L.MAX_STROKE_JSON_BYTES:,} are accepted")
    depth, lists = L.json_shape(text)
    if depth > L.MAX_JSON_DEPTH:
        raise InputError(
            f'stroke JSON is nested deeper than {L.MAX_JSON_DEPTH} levels; expected {{"strokes": [[[x, y], ...], ...]}}'
        )
    if lists > L.MAX_STROKES + L.MAX_POINTS + 2:  # every stroke and every point is a list
        raise InputError(f"stroke JSON holds {lists:,} lists; at most {L.MAX_STROKES} strokes of {L.MAX_POINTS:,} points in all")
    try:
        return json.loads(text, parse_int=L.parse_number, parse_float=L.parse_number, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"strokes are not valid JSON: {e}") from e


def _no_constant(name: str) -> float:
    raise InputError(f"strokes contain {name}; expected finite numbers")


def read_strokes_file(path: Path) -> object:
    """A stroke JSON file, opened only because the caller passed an explicit pathlib.Path (the CLI does)."""
    L.check_file_size(path, L.MAX_STROKE_JSON_BYTES, "stroke JSON")
    try:
        return load_strokes_json(path.read_bytes())
    except OSError as e:
        raise InputError(f"cannot read stroke file {path.name}: {e.strerror or e}") from e


def _as_points(i: int, s) -> np.ndarray:
    """One stroke (a sequence of (x, y) or (x, y, t)) -> float64 (n, 2|3), shape and size checked first."""
    if isinstance(s, np.ndarray):
        a = s
    elif isinstance(s, (list, tuple)):
        if len(s) > L.MAX_POINTS:
            raise InputError(f"stroke {i} has {len(s):,} points; at most {L.MAX_POINTS:,} are accepted in all")
        if any(not isinstance(q, (list, tuple, np.ndarray)) for q in s):
            raise InputError(f"stroke {i} is not a list of points; expected [[x, y], ...] or [[x, y, t], ...]")
        a = s
    else:
        raise InputError(f"stroke {i} is a {type(s).__name__}; expected a list of points [[x, y], ...]")
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as e:
        raise InputError(f"stroke {i} is not a list of numeric points (each [x, y] or [x, y, t])") from e
    return a


def parse_strokes(strokes: StrokesLike) -> list[np.ndarray]:
    """Validate strokes and return them as float64 arrays of shape (n_i, 2), x and y only.

    Accepts a list of strokes, each a sequence of (x, y) or (x, y, t); a dict with a "strokes"
    key (the canvas JSON); JSON text (a str or bytes is always JSON, never a file name); or an
    explicit pathlib.Path to a JSON file. Strokes of a single point, or of points that all coincide
    (taps), are dropped when strokes with length exist. Every bound in core/limits.py is checked before the work it bounds.
    """
    if isinstance(strokes, Path):
        strokes = read_strokes_file(strokes)
    elif isinstance(strokes, (str, bytes)):
        strokes = load_strokes_json(strokes)
    if isinstance(strokes, dict):
        if "strokes" not in strokes:
            raise InputError("stroke JSON object has no 'strokes' key; expected {\"strokes\": [[[x, y], ...], ...]}")
        strokes = strokes["strokes"]
    if isinstance(strokes, np.ndarray) and strokes.ndim == 2:
        strokes = [strokes]
    if not isinstance(strokes, (list, tuple, np.ndarray)):
        raise InputError(f"strokes must be a list of strokes, got {type(strokes).__name__}")
    if len(strokes) > L.MAX_STROKES:
        raise InputError(f"{len(strokes):,} strokes given; at most {L.MAX_STROKES} are accepted (empty ones count)")
    if len(strokes) == 0:
        raise InputError("no strokes: the canvas is empty; draw a digit first")
    out = []
    total = 0
    for i, s in enumerate(strokes):
        a = _as_points(i, s)
        if a.size == 0:
            continue
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise InputError(f"stroke {i} has shape {a.shape}; expected (n, 2) points (x, y) or (n, 3) (x, y, t)")
        total += len(a)
        if total > L.MAX_POINTS:
            raise InputError(f"too many points (> {L.MAX_POINTS:,}); expected a handwritten drawing")
        if not np.isfinite(a).all():
            raise InputError(f"stroke {i} contains NaN or infinite coordinates")
        if np.abs(a[:, :2]).max() > L.MAX_COORDINATE:
            raise InputError(f"stroke {i} has coordinates beyond ±{L.MAX_COORDINATE:g}; expected canvas pixels")
        out.append(a[:, :2])
    if not out:
        raise InputError("no strokes: every stroke is empty; draw a digit first")
    long = [a for a in out if len(a) > 1]
    if not long:
        raise InputError("only one-point strokes (taps): a digit needs at least one stroke with two or more points")
    # a stroke whose points all coincide is a tap too (the canvas sends pen-down and a move at the same pixel):
    # dropped where another stroke has length; before, one such dot stopped a whole drawn number
    moved = [a for a in long if np.ptp(a, axis=0).max() > 0]
    return moved or long


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


def catmull_rom(points: np.ndarray, per_segment: int = PER_SEGMENT) -> np.ndarray:
    """(n, 2) points -> a smooth curve through them, `per_segment` samples between neighbours."""
    p = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    parts = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        parts.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (3 * p1 - p0 - 3 * p2 + p3) * t**3))
    return np.vstack(parts + [points[-1:]])


def pendigits_curve(row: np.ndarray) -> np.ndarray:
    """16 pendigits numbers -> (m, 2) smooth path through the 8 points, y up, in 0..1 units.

    pendigits scales each axis to 0..100 on its own, losing the aspect ratio; but its points
    were equally spaced along the pen path, so the ratio that makes the curve's steps most
    equal brings the shape back.
    """
    p = np.asarray(row, dtype=np.float64).reshape(-1, 2) / SCALE
    base = catmull_rom(p, PER_SEGMENT)  # the spline commutes with scaling an axis: compute it once
    d = np.diff(base, axis=0)
    ratios = np.geomspace(0.1, 10.0, 121)[:, None]
    lengths = np.sqrt((d[None, :, 0] * ratios) ** 2 + d[None, :, 1] ** 2)
    steps = np.add.reduceat(lengths, np.arange(0, lengths.shape[1], PER_SEGMENT), axis=1)
    spread = steps.std(axis=1) / np.maximum(steps.mean(axis=1), 1e-9)
    return base * np.array([float(ratios[int(np.argmin(spread)), 0]), 1.0])


def pendigits_to_strokes(row: np.ndarray, size: float = 280.0, margin: float = 0.15) -> list[list[list[float]]]:
    """Inverse direction, for tests and demos: 16 pendigits numbers -> one smooth canvas stroke
    (y down), centred in a `size`-pixel square with a margin, as a person would draw it."""
    curve = pendigits_curve(row)
    lo, hi = curve.min(axis=0), curve.max(axis=0)
    f = size * (1 - 2 * margin) / max((hi - lo).max(), 1e-9)
    x = size / 2 + (curve[:, 0] - (lo[0] + hi[0]) / 2) * f
    y = size / 2 - (curve[:, 1] - (lo[1] + hi[1]) / 2) * f
    return [np.stack([x, y], axis=1).tolist()]


def rasterize(parts: list[np.ndarray], y_down: bool = True) -> np.ndarray:
    """Strokes as (n_i, 2) arrays -> (28, 28) uint8 rendering of the pen path, MNIST convention.

    Only pen-down segments are drawn; the drawing keeps its aspect ratio.
    """
    pts = np.concatenate(parts, axis=0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    f = RASTER_FIT / max(float((hi - lo).max()), 1e-9)
    off = (RASTER_CANVAS - (hi - lo) * f) / 2
    canvas = np.zeros((RASTER_CANVAS, RASTER_CANVAS), np.uint8)
    for s in parts:
        q = (s - lo) * f + off
        if not y_down:
            q[:, 1] = RASTER_CANVAS - q[:, 1]
        cv2.polylines(canvas, [np.round(q * 4).astype(np.int32)], False, 255, RASTER_PEN, cv2.LINE_AA, shift=2)
    return to_mnist(canvas)


def pack(points: np.ndarray, raster: np.ndarray) -> np.ndarray:
    """(8, 2) points in 0..100 and (28, 28) uint8 raster -> (INPUT_SIZE,) float32 input vector."""
    return np.concatenate([points.ravel(), raster.ravel() / 255.0]).astype(np.float32)


def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `pack`: -> (8, 2) points, (28, 28) uint8 raster."""
    x = np.asarray(x)
    raster = np.round(x[2 * N_POINTS :].reshape(SIZE, SIZE) * 255).astype(np.uint8)
    return x[: 2 * N_POINTS].reshape(N_POINTS, 2), raster


def strokes_to_input(strokes: StrokesLike, y_down: bool = True) -> np.ndarray:
    """Strokes -> (INPUT_SIZE,) float32: the stroke branch's whole input (points, then raster)."""
    parts = parse_strokes(strokes)
    return pack(strokes_to_pendigits(parts, y_down), rasterize(parts, y_down))


def pendigits_input(row: np.ndarray) -> np.ndarray:
    """A pendigits row (16 numbers) -> the same input vector; the raster is drawn along `pendigits_curve`."""
    return pack(np.asarray(row, np.float32).reshape(N_POINTS, 2), rasterize([pendigits_curve(row)], y_down=False))


def unipen_strokes(points: np.ndarray) -> list[np.ndarray]:
    """UNIPEN (m, 3) [x, y, stroke] rows -> list of (n_i, 2) strokes, in tablet units (y up)."""
    ids = points[:, 2]
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return [s[:, :2] for s in np.split(points, cuts) if len(s)]
