"""Find and read the handwritten digits in a photo of paper: boxes, lines, the number.

Shared by the web app's Photo tab (`Recognizer.read`) and the webcam loop. Pure functions on
arrays; the recognizer does the one batched forward pass.

Steps: grayscale -> CLAHE (uneven light) -> adaptive threshold (ink = white) -> connected
components filtered by size, aspect and solidity -> broken strokes merged (a 5's flag, a 7's
bar) -> touching digits split at the thinnest column -> lines grouped top to bottom, digits
left to right -> each box cut from the mask and normalized like MNIST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from core.errors import InputError
from core.image import to_mnist

MAX_SIDE = 1600  # photos are shrunk to this side before segmentation (px)
CLAHE_CLIP = 2.0
BLOCK_FRACTION = 1 / 25  # adaptive-threshold window as a fraction of the shorter side
THRESH_C = 12  # how much darker than its neighbourhood a pixel must be to be ink
MIN_HEIGHT_FRACTION = 0.03  # a digit is at least this tall relative to the shorter side
MAX_HEIGHT_FRACTION = 0.9
MIN_INK_FRACTION = 0.04  # ink pixels / box area; lower is dust or a thin frame
MAX_ASPECT = 4.0  # width / height above this is a line or smear, not digits
SPLIT_ASPECT = 1.4  # width / height above this is probably touching digits
FRAGMENT = 0.5  # a piece shorter than this fraction of a typical digit is part of one, or dust
DIGIT_ASPECT = 0.7  # typical width / height of one handwritten digit
CROP_PAD = 0.15  # padding around a box before normalizing, fraction of its height
MAX_COMPONENTS = 300  # ink blobs considered per picture: a page of handwritten numbers has far fewer
MIN_SIDE = 8  # px: a smaller picture holds no readable digit
INK_TAIL = 0.2  # percent of a picture's pixels at each end of its brightness that stand for its ink
LIGHT_INK_MARGIN = 10  # grey levels the light end must reach further than the dark one: light ink on a dark ground
BROAD = 0.15  # ... and the light pixels must be strokes: an erosion this share of the picture's short side wide ...
BROAD_SHARE = 0.15  # ... leaves at most this share of them (a sheet of paper on a desk leaves most)


@dataclass
class Digit:
    box: tuple[int, int, int, int]  # (x, y, w, h) in pixels of the input image
    label: int
    confidence: float
    line: int  # 0 = top line
    probs: np.ndarray | None = field(default=None, repr=False)  # (10,) image-branch probabilities
    crop: np.ndarray | None = field(default=None, repr=False)  # (28, 28) uint8, what the CNN saw
    sure: bool = True  # confidence >= the recognizer's threshold


@dataclass
class Line:
    text: str  # the line's digits
    confidence: float  # how sure the reader is of the whole line: its least sure digit
    box: tuple[int, int, int, int]  # (x, y, w, h) of the line's writing in pixels of the input image


@dataclass
class Reading:
    digits: list[Digit]  # line by line, left to right
    text: str  # each line's digits, lines joined by "\n"
    lines: list[Line] = field(default_factory=list)  # one per line of `text`, with its confidence

    @property
    def line_confidences(self) -> list[float]:
        return [ln.confidence for ln in self.lines]

    def scaled(self, f: float) -> Reading:
        """The same reading with every box `f` times larger (boxes found on a photo decoded smaller than its file)."""
        return self if f == 1.0 else self.mapped(lambda b: scale_box(b, f))

    def shifted(self, dx: int, dy: int) -> Reading:
        """The same reading with every box moved by (dx, dy) (boxes found on a cut of the picture)."""
        return self if dx == dy == 0 else self.mapped(lambda b: (b[0] + dx, b[1] + dy, b[2], b[3]))

    def mapped(self, move: Callable[[tuple[int, int, int, int]], tuple[int, int, int, int]]) -> Reading:
        """The same reading with every box (digits' and lines') passed through `move`."""
        digits = [replace(d, box=move(d.box)) for d in self.digits]
        return Reading(digits=digits, text=self.text, lines=[replace(ln, box=move(ln.box)) for ln in self.lines])


def only(r: Reading, keep: Callable[[Digit], bool]) -> Reading:
    """A Reading with only the digits `keep` says yes to; each line rebuilt from its digits left (its text, its
    least sure digit, its box around them), lines left empty dropped."""
    digits, lines = [], []
    for li, line in enumerate(r.lines):
        kept = [d for d in r.digits if d.line == li and keep(d)]
        if not kept:
            continue
        if len(kept) < sum(d.line == li for d in r.digits):
            boxes = [list(d.box) for d in kept]
            u = boxes[0]
            for b in boxes[1:]:
                u = box_union(u, b)
            line = Line("".join(str(d.label) for d in kept), min(d.confidence for d in kept), tuple(u))
        digits += [replace(d, line=len(lines)) for d in kept]
        lines.append(line)
    return Reading(digits=digits, text="\n".join(ln.text for ln in lines), lines=lines)


def merged(a: Reading, b: Reading) -> Reading:
    """Two readings of different parts of one picture -> one, lines top to bottom (by their boxes' middles)."""
    order = sorted([(ln, r, li) for r in (a, b) for li, ln in enumerate(r.lines)], key=lambda t: t[0].box[1] + t[0].box[3] / 2)
    digits, lines = [], []
    for ln, r, li in order:
        digits += [replace(d, line=len(lines)) for d in r.digits if d.line == li]
        lines.append(ln)
    return Reading(digits=digits, text="\n".join(ln.text for ln in lines), lines=lines)


def clip_box(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x, y, w, h) -> the part of it inside a picture of `shape` (at least 1x1)."""
    x0, y0 = min(max(0, box[0]), shape[1] - 1), min(max(0, box[1]), shape[0] - 1)
    x1, y1 = min(shape[1], box[0] + box[2]), min(shape[0], box[1] + box[3])
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def scale_box(box: tuple[int, int, int, int], f: float) -> tuple[int, int, int, int]:
    """(x, y, w, h) -> the box covering the same pixels at `f` times the size."""
    x0, y0 = int(box[0] * f), int(box[1] * f)
    return (x0, y0, int(np.ceil((box[0] + box[2]) * f)) - x0, int(np.ceil((box[1] + box[3]) * f)) - y0)


def light_ink(rgb: np.ndarray) -> bool:
    """(H, W, 3) uint8 picture -> whether its few extreme pixels are light ones: the brightest INK_TAIL% lie
    further above the median (the ground) than the darkest INK_TAIL% lie below it, by LIGHT_INK_MARGIN grey
    levels, and they are strokes, not a broad area (a sheet of paper on a darker desk). Chalk on a board and white
    digits on black; paper with dark ink, dim or not, never (none of 300 validation lines, 60 pages and 150 tight
    crops, at full or a third of their brightness). Read on a subsample of at most about 400 px a side."""
    step = max(1, max(rgb.shape[:2]) // 400)
    small = np.ascontiguousarray(rgb[::step, ::step, :3])
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small
    share = np.cumsum(cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()) / gray.size
    lo, med, hi = (int(np.searchsorted(share, q)) for q in (INK_TAIL / 100, 0.5, 1 - INK_TAIL / 100))
    if (hi - med) - (med - lo) <= LIGHT_INK_MARGIN:
        return False
    # ink is strokes; a sheet of paper on a dark desk is one broad light area, which a wide erosion leaves standing
    light = (gray > (med + hi) // 2).astype(np.uint8)
    k = max(3, round(BROAD * min(gray.shape)))
    kept = cv2.erode(light, np.ones((k, k), np.uint8))
    return int(kept.sum()) <= BROAD_SHARE * max(1, int(light.sum()))


def sureness(r: Reading) -> float:
    """How much sure reading a Reading holds: its sure digits' confidences added (which of two readings to keep)."""
    return float(sum(d.confidence for d in r.digits if d.sure))


def shrunk(image: np.ndarray, side: int) -> np.ndarray:
    """A picture -> the same at most `side` pixels a side (area-averaged), or itself if it is no bigger."""
    f = side / max(image.shape[:2])
    if f >= 1:
        return image
    size = (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def fit(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 photo -> the same at most MAX_SIDE a side (what is read of it anyway), and the factor back
    to its pixels: finding a sheet, turning the page and painting the desk then cost a 1600-px picture's memory,
    not a 24-MP array's."""
    side = max(rgb.shape[:2])
    return (rgb, 1.0) if side <= MAX_SIDE else (shrunk(rgb, MAX_SIDE), side / MAX_SIDE)


def to_gray_u8(image: np.ndarray) -> tuple[np.ndarray, float]:
    """(H, W[, 3|4]) array -> uint8 gray at most MAX_SIDE, and the factor back to input pixels."""
    a = image
    if a.ndim == 3:
        a = cv2.cvtColor(a[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
    a = a.astype(np.uint8)
    scale = 1.0
    if max(a.shape) > MAX_SIDE:
        scale = MAX_SIDE / max(a.shape)
        a = cv2.resize(a, (max(1, round(a.shape[1] * scale)), max(1, round(a.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return a, 1.0 / scale


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """uint8 gray (dark ink on light paper) -> uint8 mask, ink 255."""
    g = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(8, 8)).apply(gray)
    g = cv2.GaussianBlur(g, (3, 3), 0)
    block = max(15, int(min(g.shape) * BLOCK_FRACTION) | 1)
    mask = cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, block, THRESH_C)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))


def box_union(a: list[int], b: list[int]) -> list[int]:
    """The smallest (x, y, w, h) box holding both."""
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    return [x0, y0, max(a[0] + a[2], b[0] + b[2]) - x0, max(a[1] + a[3], b[1] + b[3]) - y0]


def merge_boxes(boxes: list[list[int]], joins) -> list[list[int]]:
    """Merge pairs while any pair (a, b) satisfies `joins(a, b)`: b's box goes into a's, and the search
    starts again (merging changes which other boxes join). Shared by the digit and the line finders."""
    changed = True
    while changed:
        changed = False
        for i in range(len(boxes)):
            for j in range(len(boxes)):
                if i != j and joins(boxes[i], boxes[j]):
                    boxes[i] = box_union(boxes[i], boxes[j])
                    del boxes[j]
                    changed = True
                    break
            if changed:
                break
    return boxes


def _merge(boxes: list[list[int]]) -> list[list[int]]:
    """Pieces of one digit -> one box: boxes overlapping mostly in x and close in y merge, and a
    fragment much shorter than a typical digit joins the nearest digit above or below it
    (or is dropped as dust when none is near)."""
    if not boxes:
        return boxes
    typical = float(np.median([b[3] for b in boxes]))

    def joins(a: list[int], b: list[int]) -> bool:
        ox = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
        gap_y = max(a[1], b[1]) - min(a[1] + a[3], b[1] + b[3])
        small = b[3] < FRAGMENT * typical and b[3] <= a[3]
        return (ox > 0.6 * min(a[2], b[2]) and gap_y < 0.25 * max(a[3], b[3])) or (
            small and ox > -0.15 * typical and gap_y < 0.5 * typical
        )

    return [b for b in merge_boxes(boxes, joins) if b[3] >= FRAGMENT * typical]


def _split(mask: np.ndarray, box: list[int], line_h: float) -> list[list[int]]:
    """A box much wider than a digit of its line -> pieces cut at the columns with the least ink."""
    x, y, w, h = box
    ref = max(h, line_h)
    n = max(1, round(w / (DIGIT_ASPECT * ref)))
    if w / ref < SPLIT_ASPECT or n < 2:
        return [box]
    cols = (mask[y : y + h, x : x + w] > 0).sum(axis=0).astype(float)
    cuts = []
    for k in range(1, n):
        centre = int(w * k / n)
        lo, hi = max(1, centre - w // (3 * n)), min(w - 1, centre + w // (3 * n))
        cuts.append(lo + int(np.argmin(cols[lo:hi])) if hi > lo else centre)
    edges = [0] + cuts + [w]
    return [[x + a, y, b - a, h] for a, b in zip(edges[:-1], edges[1:]) if b - a > 2]


def find_digits(mask: np.ndarray) -> list[list[tuple[int, int, int, int]]]:
    """Ink mask -> lines (top to bottom) of digit boxes (left to right), in mask pixels."""
    short = min(mask.shape)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = []
    for x, y, w, h, _area in stats[1:]:
        if h < MIN_HEIGHT_FRACTION * short and w < MIN_HEIGHT_FRACTION * short:
            continue
        boxes.append([int(x), int(y), int(w), int(h)])
    if len(boxes) > MAX_COMPONENTS:  # noise, not a page of digits: keep the largest, so merging stays cheap
        boxes = sorted(boxes, key=lambda b: -b[2] * b[3])[:MAX_COMPONENTS]
    boxes = _merge(boxes)
    kept = []
    for b in boxes:
        x, y, w, h = b
        if not MIN_HEIGHT_FRACTION * short <= h <= MAX_HEIGHT_FRACTION * mask.shape[0]:
            continue
        if w / h > MAX_ASPECT or (mask[y : y + h, x : x + w] > 0).mean() < MIN_INK_FRACTION:
            continue
        kept.append(b)
    kept.sort(key=lambda b: b[1] + b[3] / 2)
    lines: list[list[list[int]]] = []
    for b in kept:  # a box joins the line whose vertical extent holds its centre
        cy = b[1] + b[3] / 2
        if lines and min(c[1] for c in lines[-1]) <= cy <= max(c[1] + c[3] for c in lines[-1]):
            lines[-1].append(b)
        else:
            lines.append([b])
    out = []
    for line in lines:
        line_h = float(np.median([c[3] for c in line]))
        pieces = [p for b in line for p in _split(mask, b, line_h)]
        out.append([tuple(p) for p in sorted(pieces, key=lambda p: p[0])])
    return out


def crop_digit(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Cut one box (with padding) from the ink mask and normalize it like MNIST -> (28, 28) uint8."""
    x, y, w, h = box
    pad = int(CROP_PAD * h)
    crop = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    crop[pad : pad + h, pad : pad + w] = mask[y : y + h, x : x + w]
    return to_mnist(crop)


def segment(image: np.ndarray) -> tuple[list[list[tuple[int, int, int, int]]], list[np.ndarray]]:
    """Photo -> (lines of boxes in input pixels, 28x28 crops in the same order). A box whose crop
    normalizes to nothing (a speck, a sliver) is skipped, never an error."""
    gray, back = to_gray_u8(image)
    if min(gray.shape) < MIN_SIDE:
        return [], []
    mask = ink_mask(gray)
    lines, crops = [], []
    for line in find_digits(mask):
        kept = []
        for b in line:
            try:
                crops.append(crop_digit(mask, b))
            except InputError:
                continue
            kept.append(tuple(int(round(v * back)) for v in b))
        if kept:
            lines.append(kept)
    return lines, crops
