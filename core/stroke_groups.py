"""Where a drawing of several digits is cut into digits: pen strokes -> groups of strokes, one per digit.

A digit ends only where the pen is lifted, so the cut is between strokes, never inside one (a
number written in one stroke, joined-up, stays one group: the line reader reads those). Two strokes
belong to one digit when their x extents overlap by a good part of the narrower one: a 4's two
strokes, a 5's flag, a 7's cross-bar all sit over their digit's body, while neighbours in a number
sit side by side (and touching neighbours overlap by a sliver at most). A stroke drawn right after
another (one pen-up gap in time, nothing drawn in between) needs less overlap to join it, because
people finish a digit before starting the next.

Extents that do not overlap never join, however the strokes were drawn. Pure functions on (n, 2)
arrays in canvas pixels (y down), as `core.strokes.parse_strokes` returns them.
"""

from __future__ import annotations

import numpy as np

OVERLAP = 0.5  # join two groups when their x extents overlap by this share of the narrower one ...
OVERLAP_NEXT = 0.3  # ... or by this share when one was drawn straight after the other
MIN_WIDTH = 0.12  # a group narrower than this share of the drawing's height (a "1", a dot) joins by its centre


def extent(parts: list[np.ndarray]) -> tuple[float, float, float, float]:
    """Strokes -> (x0, y0, x1, y1) of all their points."""
    pts = np.concatenate(parts, axis=0)
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def joins(a: tuple[float, float], b: tuple[float, float], min_w: float, consecutive: bool) -> bool:
    """Do two groups' x extents (x0, x1) overlap enough to be one digit? A group narrower than `min_w`
    (a "1", the stem of a 4) joins when its centre lies at least min_w / 2 inside the other's extent."""
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    if overlap < 0:
        return False
    narrow, wide = (a, b) if a[1] - a[0] <= b[1] - b[0] else (b, a)
    if narrow[1] - narrow[0] < min_w:
        c = (narrow[0] + narrow[1]) / 2
        return min(c - wide[0], wide[1] - c) >= min_w / 2
    return overlap >= (OVERLAP_NEXT if consecutive else OVERLAP) * (narrow[1] - narrow[0])


def group_strokes(parts: list[np.ndarray]) -> list[list[int]]:
    """Strokes ((n_i, 2) arrays, canvas pixels, in drawing order) -> groups of stroke indices, one per
    digit, left to right; each group's indices in drawing order. No strokes: no groups."""
    if not parts:
        return []
    _, y0, _, y1 = extent(parts)
    min_w = MIN_WIDTH * max(y1 - y0, 1.0)
    groups = [[k] for k in range(len(parts))]
    spans = [(float(p[:, 0].min()), float(p[:, 0].max())) for p in parts]
    changed = True
    while changed:  # merge until no pair joins: each merge widens a group, which may reach another
        changed = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                consecutive = abs(groups[i][-1] - groups[j][0]) == 1 or abs(groups[j][-1] - groups[i][0]) == 1
                if joins(spans[i], spans[j], min_w, consecutive):
                    groups[i] = sorted(groups[i] + groups[j])
                    spans[i] = (min(spans[i][0], spans[j][0]), max(spans[i][1], spans[j][1]))
                    del groups[j], spans[j]
                    changed = True
                    break
            if changed:
                break
    order = sorted(range(len(groups)), key=lambda g: (spans[g][0] + spans[g][1]) / 2)
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
