"""A number drawn on the canvas -> Reading: the strokes cut into digits (core/stroke_groups.py), each
digit read by the digit model from its strokes *and* its picture (fused, as the Draw tab reads one
digit), and the whole drawing, rendered, read by the line reader (core/line_model.py). The two
readings are combined by `RULE` (see `combine`; scripts/benchmark_numbers.py measures every rule).

Why both: grouping by pen-up and x overlap is right for digits written apart, and there the fused
digit model is the strongest reader we have; but joined-up digits (one stroke for "00") or a digit
whose bar reaches over its neighbour make the wrong groups, and the line reader, which never cuts,
reads those.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core import reading
from core import strokes as S
from core.image import to_mnist
from core.limits import MAX_RENDER_WIDTH
from core.photo import read_lines
from core.sets import CANVAS, CANVAS_MARGIN, CANVAS_PEN
from core.stroke_groups import extent, group_strokes, merge_to

RENDER_HEIGHT = 48  # px: the drawing's ink is rendered this tall for the line reader (its glyphs were 30-46 px, then shrunk)
RENDER_MARGIN = 16  # px of paper around it
RULES = ("groups", "reader", "merge", "agree")  # how the two readings combine; see `combine`
UNSURE = 0.7  # agree: the line reader may overrule a fused digit less confident than this (val: 0.5, 0.9 worse) ...
MARGIN = 0.0  # ... and only when it is this much more confident (chosen on --split val: 0.2 changed nothing)
READER_SURE = 0.9  # agree: the line reader's reading replaces the groups' when it found more digits, all this sure
RULE = "agree"  # the one shipped (measured best by scripts/benchmark_numbers.py)


def digit_picture(parts: list[np.ndarray]) -> np.ndarray:
    """One digit's strokes (canvas pixels, y down) -> (28, 28) uint8 as the Draw tab's canvas gives it for one
    digit: drawn centred on a CANVAS px square with its margin and pen, then `to_mnist`."""
    x0, y0, x1, y1 = extent(parts)
    f = CANVAS * (1 - 2 * CANVAS_MARGIN) / max(x1 - x0, y1 - y0, 1e-9)
    img = np.zeros((CANVAS, CANVAS), np.uint8)
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    for p in parts:
        q = np.round((CANVAS / 2 + (p - c) * f) * 4).astype(np.int32)
        cv2.polylines(img, [q], False, 255, CANVAS_PEN, cv2.LINE_AA, shift=2)
    return to_mnist(img)


def render(parts: list[np.ndarray]) -> tuple[np.ndarray, float, np.ndarray]:
    """The whole drawing -> ((H, W, 3) uint8 black ink on white paper, scale, offset) with
    canvas point p at render pixel (p - offset) * scale; the ink is about RENDER_HEIGHT px tall, less where
    the render would be wider than limits.MAX_RENDER_WIDTH (a bound on what one request may cost)."""
    x0, y0, x1, y1 = extent(parts)
    f = RENDER_HEIGHT / max(y1 - y0 + CANVAS_PEN, 1e-9)  # the pen is at most RENDER_HEIGHT px wide
    f = min(f, (MAX_RENDER_WIDTH - 2 * RENDER_MARGIN - RENDER_HEIGHT - 1) / max(x1 - x0, 1e-9))
    pen = max(1, int(round(CANVAS_PEN * f)))
    off = np.array([x0, y0]) - (RENDER_MARGIN + pen / 2) / f
    w = int(np.ceil((x1 - x0) * f)) + 2 * RENDER_MARGIN + pen
    h = int(np.ceil((y1 - y0) * f)) + 2 * RENDER_MARGIN + pen
    img = np.full((h, w), 255, np.uint8)
    for p in parts:
        q = np.round((p - off) * f * 4).astype(np.int32)
        cv2.polylines(img, [q], False, 0, pen, cv2.LINE_AA, shift=2)
    return np.repeat(img[..., None], 3, axis=2), f, off


def group_box(parts: list[np.ndarray]) -> tuple[int, int, int, int]:
    """(x, y, w, h) of a digit's ink on the canvas, the pen's width included."""
    x0, y0, x1, y1 = extent(parts)
    r = CANVAS_PEN / 2
    return int(x0 - r), int(y0 - r), int(np.ceil(x1 - x0 + 2 * r)), int(np.ceil(y1 - y0 + 2 * r))


def read_drawing(recognizer, strokes, rule: str = RULE) -> reading.Reading:
    """Strokes of a drawing (as `Recognizer.predict` takes them: canvas pixels, y down, or JSON text) ->
    Reading in canvas pixels: `.digits` left to right, `.text` the number, one `.lines` entry (its
    confidence is its least sure digit's). Validated like `predict` (InputError on bad strokes)."""
    if rule not in RULES:
        raise ValueError(f"rule {rule!r}; expected one of {RULES}")
    parts = _parse(strokes)
    if not parts:
        return reading.Reading(digits=[], text="", lines=[])
    ids = group_strokes(parts)
    read = None
    if recognizer.reader is not None and len(ids) > 1 and rule != "groups":
        rgb, f, off = render(parts)
        read = [
            reading.Digit(
                (int(d.box[0] / f + off[0]), int(d.box[1] / f + off[1]), int(np.ceil(d.box[2] / f)), int(np.ceil(d.box[3] / f))),
                d.label,
                d.confidence,
                0,
                d.probs,
                d.crop,
                d.sure,
            )  # fmt: skip
            # no paper added at the ends: the render has its own margin (with it, validation numbers read 88.7% vs 89.0%)
            for d in read_lines(recognizer.reader, rgb, recognizer.threshold, pad_ends=False).digits
        ]
    fused = fused_digits(recognizer, parts, ids)
    if rule in ("merge", "agree") and read and len(read) < len(ids):
        fused = merged(recognizer, parts, ids, fused, merge_to(parts, ids, len(read)))
    digits = combine(fused, read, rule)
    if not digits:
        return reading.Reading(digits=[], text="", lines=[])
    x0, y0 = min(d.box[0] for d in digits), min(d.box[1] for d in digits)
    x1, y1 = max(d.box[0] + d.box[2] for d in digits), max(d.box[1] + d.box[3] for d in digits)
    text = "".join(str(d.label) for d in digits)
    line = reading.Line(text, min(d.confidence for d in digits), (x0, y0, x1 - x0, y1 - y0))
    return reading.Reading(digits=digits, text=text, lines=[line])


def fused_digits(recognizer, parts: list[np.ndarray], ids: list[list[int]]) -> list[reading.Digit]:
    """Each group of strokes read by the digit model from its strokes and its picture together."""
    groups = [[parts[k] for k in g] for g in ids]
    preds = recognizer.predict_batch(images=[digit_picture(g) for g in groups], strokes=groups)
    return [
        reading.Digit(group_box(g), p.label, p.confidence, 0, p.probs, p.seen.get("image"), p.sure) for g, p in zip(groups, preds)
    ]


def merged(recognizer, parts, ids: list[list[int]], fused: list[reading.Digit], fewer: list[list[int]]) -> list[reading.Digit]:
    """The groups `fewer` proposes to join (to the line reader's count), each join kept only where the digit
    model is surer of the joined digit than of its least sure part (a 4 cut in two reads as two unsure 1s;
    two touching digits joined read as one unsure digit)."""
    new = [g for g in fewer if g not in ids]
    joined = dict(zip(map(tuple, new), fused_digits(recognizer, parts, new))) if new else {}
    out = []
    for g in fewer:
        if tuple(g) not in joined:
            out.append(fused[ids.index(g)])
            continue
        pieces = [fused[i] for i, h in enumerate(ids) if set(h) <= set(g)]
        d = joined[tuple(g)]
        out.extend([d] if d.confidence > min(p.confidence for p in pieces) else pieces)
    return out


def _parse(strokes) -> list[np.ndarray]:
    """`strokes.parse_strokes`, except that nothing drawn (no strokes, or only empty ones) is [] rather than an error."""
    if isinstance(strokes, Path):
        strokes = S.read_strokes_file(strokes)
    elif isinstance(strokes, (str, bytes)):
        strokes = S.load_strokes_json(strokes)
    if isinstance(strokes, dict) and isinstance(strokes.get("strokes"), (list, tuple)):
        strokes = strokes["strokes"]
    if isinstance(strokes, (list, tuple)) and all(isinstance(s, (list, tuple)) and len(s) == 0 for s in strokes):
        return []
    return S.parse_strokes(strokes)


def combine(fused: list[reading.Digit], read: list[reading.Digit] | None, rule: str) -> list[reading.Digit]:
    """The digits to answer, from the fused reading of each stroke group and the line reader's (None: not run,
    as for one group or without a line reader).
    groups: the fused digits, always. reader: the line reader's digits whenever it read any.
    agree: the groups first merged down to the line reader's count where it read fewer digits
    (`stroke_groups.merge_to`); then, where both have as many digits, per digit the fused answer unless
    the line reader's is more confident by MARGIN; where the line reader read more digits (strokes
    joined across digits), the line reader. merge: as agree, but the fused answer for every digit."""
    if read is None or rule == "groups" or not read:
        return fused
    if rule == "reader" or (len(read) > len(fused) and min(d.confidence for d in read) >= READER_SURE):
        return read
    if len(read) != len(fused):
        return fused
    out = []
    for a, b in zip(fused, read):
        unsure = a.confidence < UNSURE and b.confidence > a.confidence + MARGIN
        pick = b if rule == "agree" and a.label != b.label and unsure else a
        out.append(reading.Digit(a.box, pick.label, pick.confidence, 0, pick.probs, a.crop, pick.sure))
    return out
