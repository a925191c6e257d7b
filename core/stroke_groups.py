"""Where a drawing of several digits is cut into digits: pen strokes -> groups of strokes, one per digit.

A digit ends only where the pen is lifted, so the cut is between strokes, never inside one (a
number written in one stroke, joined-up, stays one group: the line reader reads those). Two strokes
belong to one digit when their x extents overlap by a good part of the narrower one: a 4's two
strokes, a 5's flag, a 7's cross-bar all sit over their digit's body, while neighbours in a number
sit side by side (and touching neighbours overlap by a sliver at most). A stroke drawn right after
another (one pen-up gap in time, nothing drawn in between) needs less overlap to join it, because
people finish a digit before starting the next.

Extents that do not overlap never join, however the strokes were drawn, except two narrow ones whose
centres all but coincide (a "1" drawn over again, a pixel to the side). Pure functions on (n, 2)
arrays in canvas pixels (y down), as `core.strokes.parse_strokes` returns them.
"""

from __future__ import annotations

import numpy as np

OVERLAP = 0.5  # join two groups when their x extents overlap by this share of the narrower one ...
OVERLAP_NEXT = 0.3  # ... or by this share when one was drawn straight after the other
MIN_WIDTH = 0.12  # a group narrower than this share of the drawing's height (a "1", a dot) joins by its centre
RETRACE = 0.25  # two narrow groups join when their centres are this share of MIN_WIDTH apart (3% of the height)


def extent(parts: list[np.ndarray]) -> tuple[float, float, float, float]:
    """Strokes -> (x0, y0, x1, y1) of all their points."""
    pts = np.concatenate(parts, axis=0)
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def joins(a: tuple[float, float], b: tuple[float, float], min_w: float, consecutive: bool) -> bool:
    """Do two groups' x extents (x0, x1) overlap enough to be one digit? A group narrower than `min_w`
    (a "1", the stem of a 4) joins when its centre lies at least min_w / 2 inside the other's extent; two
    such groups join when their centres are at most RETRACE * min_w apart."""
    return bool(joins_many(a[0], a[1], b[0], b[1], min_w, consecutive))


def joins_many(a0, a1, b0, b1, min_w: float, consecutive) -> np.ndarray:
    """`joins` elementwise over arrays of extents (a0, a1) and (b0, b1) (either side may be a scalar)."""
    a0, a1, b0, b1 = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (a0, a1, b0, b1)))
    overlap = np.minimum(a1, b1) - np.maximum(a0, b0)
    a_narrow = a1 - a0 <= b1 - b0  # ties: the first is the narrow one
    n0, n1 = np.where(a_narrow, a0, b0), np.where(a_narrow, a1, b1)
    w0, w1 = np.where(a_narrow, b0, a0), np.where(a_narrow, b1, a1)
    c = (n0 + n1) / 2
    by_centre = np.minimum(c - w0, w1 - c) >= min_w / 2
    by_share = overlap >= np.where(consecutive, OVERLAP_NEXT, OVERLAP) * (n1 - n0)
    # both narrow (a "1" traced twice): neither can hold the other's centre, so they join when their centres all
    # but coincide; before, a "1" drawn over again read "11", sure
    retraced = np.abs((a0 + a1) / 2 - (b0 + b1) / 2) <= RETRACE * min_w
    return np.where(w1 - w0 < min_w, retraced, (overlap >= 0) & np.where(n1 - n0 < min_w, by_centre, by_share))


def group_strokes(parts: list[np.ndarray]) -> list[list[int]]:
    """Strokes ((n_i, 2) arrays, canvas pixels, in drawing order) -> groups of stroke indices, one per
    digit, left to right; each group's indices in drawing order. No strokes: no groups.

    Merges the first joining pair (in order of the groups' first strokes) until none joins: each merge widens
    a group, which may reach another. Which pairs join is kept in a matrix and only the merged group's row and
    column are computed again, so 500 strokes (limits.MAX_STROKES) cost O(n^2), not O(n^3)."""
    if not parts:
        return []
    _, y0, _, y1 = extent(parts)
    min_w = MIN_WIDTH * max(y1 - y0, 1.0)
    groups = [[k] for k in range(len(parts))]
    x0 = np.array([float(p[:, 0].min()) for p in parts])
    x1 = np.array([float(p[:, 0].max()) for p in parts])
    first = np.arange(len(parts))  # each group's first and last stroke (drawing order)
    last = np.arange(len(parts))

    def row(i: int) -> np.ndarray:  # does group i join each later group?
        nxt = (np.abs(last[i] - first[i + 1 :]) == 1) | (np.abs(last[i + 1 :] - first[i]) == 1)
        return joins_many(x0[i], x1[i], x0[i + 1 :], x1[i + 1 :], min_w, nxt)

    def column(i: int) -> np.ndarray:  # does each earlier group join group i?
        nxt = (np.abs(last[:i] - first[i]) == 1) | (np.abs(last[i] - first[:i]) == 1)
        return joins_many(x0[:i], x1[:i], x0[i], x1[i], min_w, nxt)

    pair = np.zeros((len(parts), len(parts)), bool)  # pair[i, j], i < j: groups i and j join
    for i in range(len(parts) - 1):
        pair[i, i + 1 :] = row(i)
    while pair.any():
        i, j = divmod(int(np.argmax(pair)), len(groups))  # row-major: the first joining pair
        groups[i] = sorted(groups[i] + groups.pop(j))
        x0[i], x1[i] = min(x0[i], x0[j]), max(x1[i], x1[j])
        first[i], last[i] = groups[i][0], groups[i][-1]
        x0, x1, first, last = (np.delete(v, j) for v in (x0, x1, first, last))
        pair = np.delete(np.delete(pair, j, 0), j, 1)
        pair[i, i + 1 :] = row(i)
        pair[:i, i] = column(i)
    order = sorted(range(len(groups)), key=lambda g: (x0[g] + x1[g]) / 2)
    return [groups[g] for g in order]


def merge_to(parts: list[np.ndarray], groups: list[list[int]], n: int) -> list[list[int]]:
    """Fewer groups: while there are more than `n` (>= 1), join the two neighbours whose x extents come
    closest (overlap most, or have the smallest gap). Used when the line reader, which never cuts, counts
    fewer digits than the groups: a digit whose strokes sit side by side (a 4 written as "L" and "|")."""
    groups = [list(g) for g in groups]
    spans = [(min(float(parts[k][:, 0].min()) for k in g), max(float(parts[k][:, 0].max()) for k in g)) for g in groups]
    while len(groups) > max(1, n):
        closeness = [min(spans[i][1], spans[i + 1][1]) - max(spans[i][0], spans[i + 1][0]) for i in range(len(groups) - 1)]
        i = int(np.argmax(closeness))
        groups[i] = sorted(groups[i] + groups.pop(i + 1))
        spans[i] = (min(spans[i][0], spans[i + 1][0]), max(spans[i][1], spans.pop(i + 1)[1]))
    return groups
