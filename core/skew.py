"""A photo turned a little (a phone held askew): how far its lines of writing slope, and the photo turned back.

The line finder joins a line's digits sideways; lines that slope by 10 degrees fall apart into digits at
different heights, and the reader read 50% of validation pages turned by 10 degrees (15 degrees: 20%; straight:
92%). The slope is read from the writing itself (pure functions, OpenCV only): the ink's blobs on a small copy,
each joined to its nearest blob to the right (the next digit of its line is nearer than the line below), and the
median angle of those joins. A tight crop or a page with fewer than MIN_PAIRS joins is left as it is.
"""

from __future__ import annotations

import cv2
import numpy as np

from core import reading

WORK_SIDE = 600  # px: the blobs are found on the picture shrunk to this side
MIN_PAIRS = 3  # joins between neighbouring blobs needed before a slope is believed
MIN_TURN = 7.0  # degrees: a smaller slope is read as it is (the reader takes it in its stride)
MAX_TURN = 30.0  # degrees: a steeper median is not lines of writing (or a page turned on its side)
NEAR = 2.0  # a blob's right-hand neighbour is within this many blob sizes
STRAIGHT = 0.2  # a chain's centres stray at most this share of the typical blob (rms) from its fitted line
SMALL = 0.5  # blobs smaller than this share of the typical blob are dust, a dot or a digit's detached piece
MARGIN = 1.0  # the writing must keep this many blob sizes of paper from every edge (a page, not a crop)
MAX_BLOBS = 300  # more blobs than this is noise, not a page of numbers (and pairs cost n^2)


def text_angle(gray: np.ndarray) -> float:
    """uint8 gray, dark ink on light paper -> the slope of its lines of writing in degrees (y down, so a line that
    rises to the right is negative), or 0.0 where it cannot be told or is under MIN_TURN."""
    g = reading.shrunk(gray, WORK_SIDE)
    if min(g.shape) < reading.MIN_SIDE:
        return 0.0
    _, _, stats, centres = cv2.connectedComponentsWithStats(reading.ink_mask(g), connectivity=8)
    size = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]).astype(np.float64)
    if len(size) < MIN_PAIRS + 1:
        return 0.0
    typical = np.median(size[size >= 0.25 * size.max()])
    keep = size >= max(5.0, SMALL * typical)
    c, size, st = centres[1:][keep], size[keep], stats[1:][keep]
    if not MIN_PAIRS < len(c) <= MAX_BLOBS:
        return 0.0
    x0, y0 = st[:, 0].min(), st[:, 1].min()
    x1, y1 = (st[:, 0] + st[:, 2]).max(), (st[:, 1] + st[:, 3]).max()
    if min(x0, y0, g.shape[1] - x1, g.shape[0] - y1) < MARGIN * typical:
        return 0.0  # writing up to the picture's edge: a tight crop or a line, whose slant and bounce are no slope
    d = c[None, :, :] - c[:, None, :]  # d[i, j]: from blob i to blob j
    dist = np.hypot(d[..., 0], d[..., 1])
    steep = np.tan(np.radians(MAX_TURN))  # a steeper join is to the line below (the last digit to the next line's first)
    beside = (d[..., 0] > 0) & (np.abs(d[..., 1]) < steep * d[..., 0]) & (dist < NEAR * np.maximum(size[:, None], size[None, :]))
    dist = np.where(beside, dist, np.inf)
    j = np.argmin(dist, axis=1)
    rows = np.arange(len(c))
    found = np.isfinite(dist[rows, j])
    if found.sum() < MIN_PAIRS:
        return 0.0
    angle = chain_slope(c, rows[found], j[found], STRAIGHT * typical)
    return angle if MIN_TURN <= abs(angle) <= MAX_TURN else 0.0


def chain_slope(centres: np.ndarray, left: np.ndarray, right: np.ndarray, off_line: float) -> float:
    """Blob centres and the joins left[k] -> right[k] -> the slope in degrees: joined blobs make chains (lines of
    writing); a straight line is fitted through each chain's centres (a digit's jitter up or down tilts one join a
    lot, a line of five a little), and the chains' slopes are averaged, weighted by their joins. A chain whose
    centres stray further than `off_line` (rms) from its line is two lines joined end to end, and counts not."""
    parent = list(range(len(centres)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(left, right):
        parent[root(int(a))] = root(int(b))
    groups: dict[int, list[int]] = {}
    for i in set(int(v) for v in np.concatenate([left, right])):
        groups.setdefault(root(i), []).append(i)
    slopes, weights = [], []
    for members in groups.values():
        if len(members) < 2:
            continue
        xs, ys = centres[members, 0], centres[members, 1]
        xs, ys = xs - xs.mean(), ys - ys.mean()
        if float(xs @ xs) <= 0:
            continue
        slope = float(xs @ ys / (xs @ xs))
        if np.sqrt(np.mean((ys - slope * xs) ** 2)) > off_line:
            continue
        slopes.append(float(np.degrees(np.arctan(slope))))
        weights.append(len(members) - 1)
    return float(np.average(slopes, weights=weights)) if slopes else 0.0


def straighten(rgb: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) photo whose lines slope by `angle` degrees -> (the photo turned so they are level, on a canvas
    large enough to keep every corner; the 2x3 map from its pixels back to the photo's). The corners are filled with
    the photo mirrored at its edge (a constant is an edge of its own, read as ink; repeating the edge pixels draws
    streaks)."""
    h, w = rgb.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    big_w, big_h = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    turn[:, 2] += (big_w - w) / 2, (big_h - h) / 2
    turned = cv2.warpAffine(rgb, turn, (big_w, big_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return turned, cv2.invertAffineTransform(turn)


def box_back(box: tuple[int, int, int, int], back: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A box (x, y, w, h) on the straightened photo -> the box around the same four corners on the photo (clipped)."""
    x, y, w, h = box
    corners = np.array([[x, y, 1], [x + w, y, 1], [x + w, y + h, 1], [x, y + h, 1]], np.float64) @ back.T
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    return reading.clip_box((int(x0), int(y0), int(x1 - x0), int(y1 - y0)), shape)


def inside(box: tuple[int, int, int, int], back: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether a box's centre on the straightened photo lies on the photo itself, not in a mirrored corner."""
    cx, cy = back @ np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, 1.0])
    return 0 <= cx < shape[1] and 0 <= cy < shape[0]
