"""A photo of handwritten numbers on paper -> Reading: the line reader where one is loaded, else the
component reader (core/reading.py segments the ink, the digit model's image branch reads each piece)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from core import image as I
from core import line_check, line_finder, line_model, paper, reading, skew
from core.errors import InputError


def read_photo(
    rgb: np.ndarray, reader: line_model.LineNet | None, classify: Callable[[list], np.ndarray], threshold: float
) -> reading.Reading:
    """(H, W, 3) uint8 photo -> Reading. `classify`: (n) 28x28 crops -> (n, 10) probabilities: the
    component reader's digits, or the line reader's second opinion on digits that stand alone.

    Both readers look for dark ink on light paper. Where the picture's light end reaches further from its median
    than its dark end (chalk on a board, white digits on black: `reading.light_ink`), it is read inverted as well
    and the reading with more sure confidence is kept (a white-on-black "1947" read "97", both digits "sure").
    A sheet of paper on a darker desk (core/paper.py) is also read alone, cut out with the desk painted over."""
    small, back = reading.fit(rgb)
    return read_fitted(small, reader, classify, threshold).scaled(back).mapped(lambda b: reading.clip_box(b, rgb.shape))


def read_fitted(
    rgb: np.ndarray, reader: line_model.LineNet | None, classify: Callable[[list], np.ndarray], threshold: float
) -> reading.Reading:
    """`read_photo` of a photo at most reading.MAX_SIDE a side."""
    whole = read_level(rgb, reader, classify, threshold)
    sheet = paper.cut_sheet(rgb)
    if sheet is None:
        return whole
    # the whole picture is read too, and the surer reading kept: what looks like a sheet on a desk may be a white
    # table beside grey paper; or the lit part of a page under a sharp shadow, where writing runs into the "desk";
    # or a white note stuck on a grey page with writing of its own, which is read from the desk alone
    on_sheet = read_level(sheet.image, reader, classify, threshold).shifted(sheet.box[0], sheet.box[1])
    if sheet.cuts_through([ln.box for ln in on_sheet.lines]):
        return whole
    if writing_on(sheet.desk):  # ink beside the sheet: the "desk" may be a page
        beside = read_level(sheet.desk, reader, classify, threshold)
        if sheet.cuts_through([ln.box for ln in beside.lines], desk=True):
            return whole
        if reading.sureness(beside) > 0:  # a note stuck on a grey page: both are read (none of 60 desks reads sure)
            on_sheet = reading.merged(on_sheet, beside)
    return on_sheet if reading.sureness(on_sheet) >= reading.sureness(whole) else whole


def writing_on(rgb: np.ndarray) -> bool:
    """Whether the line finder finds a band as tall as a digit (reading.MIN_HEIGHT_FRACTION of the short side) on a
    copy at most line_finder.FIND_SIDE a side: a desk's grain gives bands of specks a few pixels high."""
    gray = reading.shrunk(reading.to_gray_u8(rgb)[0], line_finder.FIND_SIDE)
    tall = reading.MIN_HEIGHT_FRACTION * min(gray.shape)
    return any(b[3] >= tall for b in line_finder.find_bands(gray))


def read_level(
    rgb: np.ndarray, reader: line_model.LineNet | None, classify: Callable[[list], np.ndarray], threshold: float
) -> reading.Reading:
    """`read_inks` with the picture turned first where its lines of writing slope (core/skew.py), boxes turned back.
    The turned picture's corners are the photo mirrored: digits read there are dropped (writing near an edge showed
    up mirrored as a line of its own, all sure)."""
    step = -(-max(rgb.shape[:2]) // skew.WORK_SIDE)  # its blobs are found small: every pixel is not needed
    angle = skew.text_angle(cv2.cvtColor(np.ascontiguousarray(rgb[::step, ::step, :3]), cv2.COLOR_RGB2GRAY))
    if angle == 0.0:
        return read_inks(rgb, reader, classify, threshold)
    level, back = skew.straighten(rgb, angle)
    found = reading.only(read_inks(level, reader, classify, threshold), lambda d: skew.inside(d.box, back, rgb.shape))
    return found.mapped(lambda b: skew.box_back(b, back, rgb.shape))


def read_inks(
    rgb: np.ndarray, reader: line_model.LineNet | None, classify: Callable[[list], np.ndarray], threshold: float
) -> reading.Reading:
    """`read_photo` once the picture is the paper: dark ink, or light ink read inverted where it looks so."""
    found = read_dark_ink(rgb, reader, classify, threshold)
    if reading.light_ink(rgb):
        other = read_dark_ink(255 - rgb, reader, classify, threshold)
        if reading.sureness(other) > reading.sureness(found):
            return other
    return found


def read_dark_ink(
    rgb: np.ndarray, reader: line_model.LineNet | None, classify: Callable[[list], np.ndarray], threshold: float
) -> reading.Reading:
    """`read_photo` for dark ink on light paper."""
    if reader is not None:
        return read_lines(reader, rgb, threshold, classify)
    lines, crops = reading.segment(rgb)
    probs = classify(crops)
    digits, k = [], 0
    for li, line in enumerate(lines):
        for box in line:
            digits.append(
                reading.Digit(
                    box=box,
                    label=int(probs[k].argmax()),
                    confidence=float(probs[k].max()),
                    line=li,
                    probs=probs[k],
                    crop=crops[k],
                    sure=float(probs[k].max()) >= threshold,
                )
            )
            k += 1
    found = []
    for li, line in enumerate(lines):
        ds = [d for d in digits if d.line == li]
        x0, y0 = min(b[0] for b in line), min(b[1] for b in line)
        x1, y1 = max(b[0] + b[2] for b in line), max(b[1] + b[3] for b in line)
        text = "".join(str(d.label) for d in ds)
        found.append(reading.Line(text, min(d.confidence for d in ds), (x0, y0, x1 - x0, y1 - y0)))
    return reading.Reading(digits=digits, text="\n".join(ln.text for ln in found), lines=found)


def read_lines(
    net: line_model.LineNet,
    rgb: np.ndarray,
    threshold: float,
    classify: Callable[[list], np.ndarray] | None = None,
    pad_ends: bool = True,
) -> reading.Reading:
    """(H, W, 3) uint8 photo -> Reading, with the line reader: lines found (line_finder), each read by
    the CRNN and decoded (line_model); with `classify`, digits whose ink stands alone are re-read by the
    digit model too (line_check); boxes from the alignment fitted to the ink, in input pixels. `pad_ends`:
    paper added where a line's margin runs off the picture (a tight crop); a picture rendered with its own
    margin (core/drawing.py) does not need it."""
    gray, back = reading.to_gray_u8(rgb)
    crops = line_finder.find_lines(gray, pad_ends)
    digits, found = [], []
    height, width = rgb.shape[:2]

    def to_input(b) -> tuple[int, int, int, int]:
        x0, y0 = max(0, int(b[0] * back)), max(0, int(b[1] * back))
        x1, y1 = min(width, int(np.ceil((b[0] + b[2]) * back))), min(height, int(np.ceil((b[1] + b[3]) * back)))
        return x0, y0, max(1, x1 - x0), max(1, y1 - y0)

    read = [emissions for emissions, _ in line_model.read_lines(net, [c.image for c in crops])]
    own: list = [[None] * len(ems) for ems in read]
    if classify is not None:
        read, own = line_check.check_lines([c.image for c in crops], read, classify)
    for crop, emissions, cuts in zip(crops, read, own):
        if not emissions:
            continue
        li = len(found)
        boxes = line_finder.digit_boxes(crop, [e.centre() for e in emissions])
        for e, b, cut in zip(emissions, boxes, cuts):
            x, y, w, h = (int(round(v)) for v in b)
            if cut is None:
                try:
                    cut = I.to_mnist(gray[max(0, y) : max(0, y + max(1, h)), max(0, x) : max(0, x + max(1, w))])
                except InputError:
                    cut = None
            digits.append(reading.Digit(to_input(b), e.label, e.confidence, li, e.probs, cut, sure=e.confidence >= threshold))
        found.append(reading.Line(line_model.text_of(emissions), min(e.confidence for e in emissions), to_input(crop.ink_box)))
    return reading.Reading(digits=digits, text="\n".join(ln.text for ln in found), lines=found)
