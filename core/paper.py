"""A sheet of paper lying on a darker desk: find the sheet, so only what is on it is read.

The line finder and the component reader look for ink darker than its neighbourhood; around a sheet on a
wooden desk the whole desk is darker than the paper beside it, and its edge and grain became one huge
"line" that swallowed the writing (60 validation photos of pages on desks: none read, see
scripts/benchmark_reader.py). Here the sheet is found on a small copy (pure functions, OpenCV only):

gray -> a closing wider than a pen stroke (the ink vanishes, the paper stays) -> Otsu's threshold ->
the largest bright region, holes filled -> a sheet only if the step at its edge is sharp and large (a desk),
not a slow slope (uneven light on paper that fills the picture) -> the picture cut to the sheet, what lies
outside the sheet painted with the paper's own brightness carried outwards (no new edge to read as ink).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from core import reading

WORK_SIDE = 256  # px: the sheet is found on the picture shrunk to this side
CLOSE = 0.03  # the closing that takes the ink away: this share of the short side (a pen stroke is thinner)
MIN_AREA, MAX_AREA = 0.1, 0.95  # the sheet covers this share of the picture: less is a label, more is no desk
MIN_STEP = 24  # gray levels the paper must be brighter than the desk right beside its edge ...
SHARP = 0.35  # ... and that step must be at least this share of the whole paper-desk difference (light falls off slowly)
RING = 0.02  # the step is measured across rings this share of the short side wide, inside and outside the edge
INSET = 0.015  # the sheet's mask is shrunk by this share of the short side: its blurred edge is not paper
SPREAD = 0.08  # the paper's brightness is carried outwards by a blur this share of the short side wide
OTHER_BRIGHT = 0.02  # no second bright region bigger than this share of the picture (ink splitting paper in two)
CONVEX = 0.97  # a sheet is convex: at least this share of its hull (thick ink cut by the picture's edge bites into it)
DESK_BORDER = 0.15  # the desk shows along at least this share of the picture's border (thick ink touching it, far less)
DESK_GROW = 0.045  # the sheet grown by this share of the short side is painted over for the desk alone
REACH_X = 1.0  # writing this many of its heights beside the painted desk may go on under a shadow (the next digit) ...
REACH_Y = 0.25  # ... or this many above or below it
MIN_SIDE = 64  # px: a smaller picture is a crop, not a photo of a desk


@dataclass
class Sheet:
    box: tuple[int, int, int, int]  # (x, y, w, h) of the sheet in the picture's pixels
    image: np.ndarray  # the picture cut to `box`, the desk inside it painted paper
    on: np.ndarray  # (H, W) bool, the whole picture: True on the sheet, False on the desk (painted over in the cut)
    gray: np.ndarray  # (H, W) uint8, the whole picture: what `desk` is painted from
    small: np.ndarray  # the sheet's mask as found, at most WORK_SIDE a side
    brightness: np.ndarray  # the picture's brightness with the ink closed away, the same size

    @cached_property
    def desk_alone(self) -> tuple[np.ndarray, np.ndarray]:
        """(the whole picture with the sheet, grown past its blurred edge, painted over with the desk's brightness
        carried inwards: writing beside the sheet shows here; (H, W) bool, True where it shows the picture).
        Made only when asked: most photos of a sheet never need it."""
        grow = np.ones((2 * max(1, int(DESK_GROW * min(self.small.shape))) + 1,) * 2, np.uint8)
        desk = (cv2.dilate(self.small, grow) == 0).astype(np.uint8)
        h, w = self.gray.shape
        shown = cv2.resize(desk, (w, h), interpolation=cv2.INTER_NEAREST) > 0
        alone = paint(self.gray, shown, carry_paper(self.brightness, desk), (0, 0, w, h))
        return np.repeat(alone[..., None], 3, axis=2), shown

    @property
    def desk(self) -> np.ndarray:
        return self.desk_alone[0]

    def cuts_through(self, boxes: list[tuple[int, int, int, int]], desk: bool = False) -> bool:
        """Whether writing found on the sheet (or with `desk`, on the desk alone), (x, y, w, h) boxes in the
        picture's pixels, comes within REACH_X of its height of the painted part sideways (REACH_Y above or below):
        then the "desk" may be the rest of the page under a sharp shadow, and what was read only part of the writing
        (a page under a hard shadow read "80" for "8084", every digit sure; its shaded part "8038" for "38038")."""
        shown = self.desk_alone[1] if desk else self.on
        for x, y, w, h in boxes:
            rx, ry = int(REACH_X * h) + 1, int(REACH_Y * h) + 1
            if not shown[max(0, y - ry) : y + h + ry, max(0, x - rx) : x + w + rx].all():
                return True
        return False


def find_sheet(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """uint8 gray -> (the sheet's mask, uint8 sheet 1; the picture's brightness with the ink closed away, float32),
    both at most WORK_SIDE a side; or None where there is no sheet on a darker ground: paper filling the picture, a
    tight crop, a blank wall."""
    h, w = gray.shape[:2]
    if min(h, w) < MIN_SIDE:
        return None
    small = reading.shrunk(gray, WORK_SIDE)
    side = min(small.shape)
    k = max(3, int(CLOSE * side) | 1)
    paper = cv2.GaussianBlur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)), (0, 0), 1.0)
    _, bright = cv2.threshold(paper, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    if n < 2:
        return None
    areas = np.sort(stats[1:, cv2.CC_STAT_AREA])[::-1]
    if len(areas) > 1 and areas[1] > OTHER_BRIGHT * small.size:
        return None
    region = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    sheet = np.zeros_like(region)
    cv2.drawContours(sheet, contours, -1, 1, thickness=-1)  # ink and stains inside the sheet are the sheet
    if not MIN_AREA <= sheet.mean() <= MAX_AREA:
        return None
    hull = cv2.convexHull(np.concatenate(contours))
    if sheet.sum() < CONVEX * cv2.contourArea(hull):
        return None
    border = np.concatenate([sheet[0], sheet[-1], sheet[:, 0], sheet[:, -1]])
    if (border == 0).mean() < DESK_BORDER:
        return None
    ring = np.ones((2 * max(2, int(RING * side)) + 1,) * 2, np.uint8)
    inner = (sheet > 0) & (cv2.erode(sheet, ring) == 0)
    outer = (sheet == 0) & (cv2.dilate(sheet, ring) > 0)
    step = float(np.median(paper[inner])) - float(np.median(paper[outer]))
    overall = float(np.median(paper[sheet > 0])) - float(np.median(paper[sheet == 0]))
    if step < MIN_STEP or step < SHARP * overall:
        return None
    inset = np.ones((2 * max(1, int(INSET * side)) + 1,) * 2, np.uint8)
    # off the picture counts as desk: where the sheet's edge meets the picture's, its blurred edge goes too
    sheet = cv2.erode(sheet, inset, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return sheet, paper.astype(np.float32)


def carry_paper(paper: np.ndarray, sheet: np.ndarray) -> np.ndarray:
    """The paper's brightness (ink closed away) and the sheet's mask -> that brightness spread over the desk by a
    normalized blur, the sheet's own pixels kept: what the desk is painted with, so the sheet's edge is no step."""
    m = sheet.astype(np.float32)
    sigma = max(2.0, SPREAD * min(paper.shape))
    num, den = cv2.GaussianBlur(paper * m, (0, 0), sigma), cv2.GaussianBlur(m, (0, 0), sigma)
    spread = np.where(den > 1e-3, num / np.maximum(den, 1e-3), float(np.median(paper[sheet > 0])))
    return np.where(sheet > 0, paper, spread).astype(np.float32)


def cut_sheet(rgb: np.ndarray) -> Sheet | None:
    """(H, W, 3) uint8 photo -> the Sheet it shows on a darker desk, or None (see `find_sheet`). The sheet is
    found small; its mask and paint are scaled up to the photo, which is cut to the sheet's box."""
    step = max(1, max(rgb.shape[:2]) // WORK_SIDE)  # every pixel of a big photo is not needed to find it
    found = find_sheet(cv2.cvtColor(np.ascontiguousarray(rgb[::step, ::step]), cv2.COLOR_RGB2GRAY))
    if found is None:
        return None
    sheet, brightness = found
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    on = cv2.resize(sheet, (w, h), interpolation=cv2.INTER_NEAREST)
    x, y, bw, bh = cv2.boundingRect(on)
    painted = paint(gray[y : y + bh, x : x + bw], on[y : y + bh, x : x + bw] > 0, carry_paper(brightness, sheet), (x, y, w, h))
    return Sheet(
        box=(x, y, bw, bh),
        image=np.repeat(painted[..., None], 3, axis=2),
        on=with_edge(on > 0, INSET),
        gray=gray,
        small=sheet,
        brightness=brightness,
    )


def with_edge(shown: np.ndarray, inset: float) -> np.ndarray:
    """A mask of what a painted picture still shows -> the same with the strip along the picture's edge (painted
    by the inset's erosion) counted as shown: the picture's edge is no painted desk to writing beside it."""
    b = int(np.ceil(2 * inset * min(shown.shape))) + 2
    shown[:b] |= shown[b : b + 1]
    shown[-b:] |= shown[-b - 1 : -b]
    shown[:, :b] |= shown[:, b : b + 1]
    shown[:, -b:] |= shown[:, -b - 1 : -b]
    return shown


def paint(cut: np.ndarray, keep: np.ndarray, fill: np.ndarray, at: tuple[int, int, int, int]) -> np.ndarray:
    """A cut of the photo's gray, where it is kept (bool, same shape), and the small fill -> the cut with the rest
    painted with the fill scaled to the photo; `at`: the cut's (x, y) and the photo's (w, h)."""
    x, y, w, h = at
    big = cv2.resize(np.clip(fill, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.where(keep, cut, big[y : y + cut.shape[0], x : x + cut.shape[1]])
