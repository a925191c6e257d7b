"""Find the lines of writing in a photo and cut each one out at the reader's height (OpenCV only).

Steps: gray (at most reading.MAX_SIDE) -> ink mask (reading.ink_mask: CLAHE + adaptive threshold)
-> long horizontal rules taken out of the mask (ruled paper would join every line into one)
-> ink dilated sideways by about half a character, so the digits of one number join
-> connected bands, fragments of one tall digit merged back (a 5's flag above its body)
-> each band cut from the gray image with a margin and normalized (`normalize_line`).

A tight crop of one number is one band; a blank or noisy picture gives no band or bands the
reader reads as nothing. `normalize_line` is also what training applies to synthetic lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core import reading

LINE_HEIGHT = 32  # px: every line is read at this height
MAX_LINE_WIDTH = 2048  # px at LINE_HEIGHT: a wider band is squeezed to this (64 digits' worth)
BG_KERNEL = 15  # px at LINE_HEIGHT: the paper's brightness is the max over a window wider than a stroke
MIN_INK_RANGE = 30.0  # gray levels: contrast below this is not stretched (a blank line stays blank)
MARGIN_Y = 0.25  # cut a band with this much paper above and below, fraction of its height
MARGIN_X = 0.4  # and this much left and right (filled with paper where the picture ends)
PAPER_PERCENTILE = 75  # the paper's gray: this percentile of the cut's edge pixels (ink is darker)
JOIN = 0.6  # ink closer sideways than this fraction of a character's height joins one band
RULE = 0.35  # a horizontal stroke longer than this fraction of the picture's width is a rule, not writing
RULE_CHARS = 2.0  # ... and longer than this many character heights (in a tight crop a 5's bar spans the width)
MIN_BAND = 5  # px: a band lower than this holds no readable digit
SPECK = 0.25  # ink smaller than this fraction of a character's height is dust (or a dot: clutter anyway)
FRAGMENT = 0.45  # a band lower than this fraction of its neighbour is a piece of it, or dust
STACK_GAP = 0.4  # bands one above the other, closer than this fraction of the lower one's height: one broken digit
STACK_HEIGHT = 1.8  # ... if together they are no taller than this many times the taller piece (two lines are 2+)
DIGIT_WIDE = 1.3  # ... and no wider than this many times their height (a wide 2; a line of digits is wider)
MAX_COMPONENTS = 400  # ink blobs considered: a page of numbers has far fewer (noise has thousands)
FIND_SIDE = 800  # px: bands are found on the picture shrunk to this side (4x cheaper on a 1600 px page), cut at full size
MAX_LINES = 24  # bands read per picture, largest first
MAX_COLUMNS = 6144  # normalized columns read per picture (the reader's cost): about 200 digits; noise would give more
MAX_FILL = 0.5  # a band wider than high whose mask is more ink than this is noise or a blob (a lone "1" is not wide)
INK = 0.35  # normalized ink above this counts when a digit's box is fitted to its ink
REACH = 0.8  # a digit's box reaches at most this many ink heights either side of its CTC centre


@dataclass
class LineCrop:
    box: tuple[int, int, int, int]  # (x, y, w, h) of the cut in working-gray pixels, margins included
    ink_box: tuple[int, int, int, int]  # the band's writing alone, same pixels
    image: np.ndarray  # (LINE_HEIGHT, W) float32 ink 0..1, what the model reads

    def to_gray_x(self, column: float) -> float:
        """A column of `image` -> x in working-gray pixels."""
        return self.box[0] + column * self.box[2] / self.image.shape[1]

    def to_gray_y(self, row: float) -> float:
        return self.box[1] + row * self.box[3] / LINE_HEIGHT


def normalize_line(gray: np.ndarray) -> np.ndarray:
    """(h, w) uint8 gray line, dark ink on light paper -> (LINE_HEIGHT, W) float32 ink in 0..1, paper 0.

    The paper's local brightness (a max filter) is subtracted, so shadows and uneven light vanish;
    the ink is then stretched to 0..1 unless the line has almost no contrast."""
    h, w = gray.shape[:2]
    width = int(np.clip(round(w * LINE_HEIGHT / max(h, 1)), 4, MAX_LINE_WIDTH))
    shrink = h > LINE_HEIGHT or w > width
    g = cv2.resize(gray, (width, LINE_HEIGHT), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR).astype(np.float32)
    bg = cv2.GaussianBlur(cv2.dilate(g, np.ones((BG_KERNEL, BG_KERNEL), np.uint8)), (0, 0), BG_KERNEL / 4)
    diff = np.clip(bg - g, 0, None)
    scale = max(float(np.percentile(diff, 99.5)), MIN_INK_RANGE)
    return np.clip(diff / scale, 0.0, 1.0)


def _merge_bands(bands: list[list[int]]) -> list[list[int]]:
    """Bands that are one line after all -> one: a much lower band overlapping another in x and close
    above or below it (a digit's detached piece), two bands mostly over one another with almost no
    paper between them that together are one digit's shape, not a line's width and not two lines high
    (a digit the threshold broke in two: a 5's flag, a 4's arms), or bands side by side at the same height."""

    def joins(a: list[int], b: list[int]) -> bool:
        ox = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
        oy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
        big, small = max(a[3], b[3]), min(a[3], b[3])
        u = reading.box_union(a, b)
        piece = small < FRAGMENT * big and ox > -0.2 * big and oy > -0.3 * big and u[3] < 1.6 * big
        # a digit's two pieces make one digit's shape: not a line's width, not two lines high
        digit = u[2] <= DIGIT_WIDE * u[3] and u[3] <= STACK_HEIGHT * big
        stacked = ox > 0.5 * min(a[2], b[2]) and -oy <= STACK_GAP * small and digit
        same_row = oy > 0.5 * small and ox > -JOIN * 2 * big
        return piece or stacked or same_row

    return reading.merge_boxes(bands, joins)


def _ink_height(stats: np.ndarray) -> float:
    """A rough character height before rules are taken out, from the mask's blob stats: the median height
    of the blobs that are not dust (a rule merged with the digits on it is one blob among several)."""
    h = stats[1:, 3][stats[1:, 3] >= MIN_BAND]
    return float(np.median(h)) if len(h) else 0.0


def find_bands(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """uint8 gray -> the writing's bands (x, y, w, h), top to bottom, in its pixels."""
    if min(gray.shape) < reading.MIN_SIDE:
        return []
    mask = reading.ink_mask(gray)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    rule_len = max(15, int(RULE * gray.shape[1]), int(RULE_CHARS * _ink_height(stats)))
    rules = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, rule_len), np.uint8))
    text = mask
    if rules.any():  # without rules the text is the mask, and its blobs are the ones already counted
        text = cv2.subtract(mask, cv2.dilate(rules, np.ones((3, 1), np.uint8)))
        n, _, stats, _ = cv2.connectedComponentsWithStats(text, connectivity=8)
    comps = stats[1:]
    comps = comps[(comps[:, 3] >= 3) | (comps[:, 4] >= 6)]
    if len(comps) == 0:
        return []
    if len(comps) > MAX_COMPONENTS:
        comps = comps[np.argsort(-comps[:, 4])[:MAX_COMPONENTS]]
    tall = comps[comps[:, 3] >= max(MIN_BAND, 0.25 * comps[:, 3].max())]
    char_h = float(np.median(tall[:, 3])) if len(tall) else float(comps[:, 3].max())
    comps = comps[np.maximum(comps[:, 2], comps[:, 3]) >= SPECK * char_h]  # dust would chain lines together
    keep = np.zeros_like(text)
    for x, y, w, h, _ in comps:
        keep[y : y + h, x : x + w] |= text[y : y + h, x : x + w]
    joined = cv2.dilate(keep, np.ones((1, max(3, int(JOIN * char_h)) | 1), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    half = max(1, int(JOIN * char_h) // 2)
    bands = [[int(x) + half, int(y), max(1, int(w) - 2 * half), int(h)] for x, y, w, h, _ in stats[1:]]
    if len(bands) > 4 * MAX_LINES:
        bands = sorted(bands, key=lambda b: -b[2] * b[3])[: 4 * MAX_LINES]
    bands = _merge_bands(bands)
    top = max((b[3] for b in bands), default=0)
    bands = [b for b in bands if b[3] >= max(MIN_BAND, FRAGMENT * top)]
    bands = [b for b in bands if b[2] <= b[3] or (text[b[1] : b[1] + b[3], b[0] : b[0] + b[2]] > 0).mean() <= MAX_FILL]
    bands = sorted(bands, key=lambda b: -b[2] * b[3])[:MAX_LINES]
    return [tuple(b) for b in sorted(bands, key=lambda b: (b[1] + b[3] / 2, b[0]))]


def cut(gray: np.ndarray, band: tuple[int, int, int, int], pad: bool = True) -> LineCrop:
    """One band -> its LineCrop: cut with margins and normalized. Above and below, the margins are clipped to
    the picture; left and right, with `pad`, what the picture lacks is filled with its paper (a tight crop of a number
    ends at its first and last digit, and the reader, which learned lines with paper at both ends, dropped
    or doubled those digits more often: validation crops 96.9% -> 97.4% exact; padding above and below too
    made a line's digits smaller than the reader learned them and cost lines 9 points)."""
    x, y, w, h = band
    my, mx = int(round(MARGIN_Y * h)), int(round(MARGIN_X * h))
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(gray.shape[1], x + w + mx), min(gray.shape[0], y + h + my)
    g = gray[y0:y1, x0:x1]
    left, right = x0 - (x - mx), (x + w + mx) - x1
    if not pad:
        left = right = 0
    if left or right:
        edges = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
        paper = int(np.percentile(edges, PAPER_PERCENTILE))
        g = cv2.copyMakeBorder(g, 0, 0, left, right, cv2.BORDER_CONSTANT, value=paper)
    return LineCrop(box=(x0 - left, y0, g.shape[1], y1 - y0), ink_box=band, image=normalize_line(g))


def scale_box(b: tuple[int, int, int, int], f: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A box in a picture shrunk by 1/f -> the same box in the full picture of `shape` (outward-rounded, clipped)."""
    x0, y0 = max(0, int(b[0] * f)), max(0, int(b[1] * f))
    x1, y1 = min(shape[1], int(np.ceil((b[0] + b[2]) * f))), min(shape[0], int(np.ceil((b[1] + b[3]) * f)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def find_lines(gray: np.ndarray, pad: bool = True) -> list[LineCrop]:
    """uint8 gray (a page or a tight crop) -> the lines to read, top to bottom (at most MAX_COLUMNS in all);
    `pad`: fill the margins left and right with paper where the picture ends (see `cut`)."""
    f = FIND_SIDE / max(gray.shape)
    if f < 1 and min(gray.shape) * f >= 2 * reading.MIN_SIDE:
        small = cv2.resize(gray, (round(gray.shape[1] * f), round(gray.shape[0] * f)), interpolation=cv2.INTER_AREA)
        bands = [scale_box(b, 1 / f, gray.shape) for b in find_bands(small)]
    else:
        bands = find_bands(gray)
    budget, kept = MAX_COLUMNS, set()
    for k in sorted(range(len(bands)), key=lambda k: -bands[k][2] * bands[k][3]):
        cols = bands[k][2] * LINE_HEIGHT / max(1, bands[k][3])
        if cols <= budget:
            kept.add(k)
            budget -= cols
    return [cut(gray, b, pad) for k, b in enumerate(bands) if k in kept]


def digit_boxes(crop: LineCrop, centres: list[float]) -> list[tuple[float, float, float, float]]:
    """Digit centres along a line (columns of `crop.image`, from the CTC alignment) -> each digit's
    box (x, y, w, h) in working-gray pixels: the ink between the midpoints to its neighbours, no
    further than REACH ink heights from its centre. CTC says which digit is where; the ink says
    how far it reaches. A digit with no ink in its share (rare) gets its whole share."""
    ink = crop.image > INK
    width = ink.shape[1]
    ink_h = max(4.0, crop.ink_box[3] * LINE_HEIGHT / max(crop.box[3], 1))
    rows = np.flatnonzero(ink.any(axis=1))
    band = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, LINE_HEIGHT)
    out = []
    for k, c in enumerate(centres):
        lo = max(0.0, c - REACH * ink_h, (centres[k - 1] + c) / 2 if k else 0.0)
        hi = min(float(width), c + REACH * ink_h, (c + centres[k + 1]) / 2 if k + 1 < len(centres) else float(width))
        a, b = int(lo), max(int(lo) + 1, int(np.ceil(hi)))
        ys, xs = np.nonzero(ink[:, a:b])
        if len(xs):
            x0, x1, y0, y1 = a + xs.min(), a + xs.max() + 1, ys.min(), ys.max() + 1
        else:
            x0, x1, (y0, y1) = a, b, band
        gx0, gx1 = crop.to_gray_x(x0), crop.to_gray_x(x1)
        gy0, gy1 = crop.to_gray_y(y0), crop.to_gray_y(y1)
        out.append((gx0, gy0, gx1 - gx0, gy1 - gy0))
    return out
