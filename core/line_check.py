"""A second opinion on the line reader's digits: where a digit's ink stands alone, the digit model reads it too.

The line reader (core/line_model.py) reads a whole line at once, which is what touching and broken digits
need, but on a digit that stands apart from its neighbours the digit model's image branch is about as good
and errs on other items (on validation writers' lines one of the two is right on 97.5% of such digits,
each alone on 95-96%). So: the normalized line's ink is split into connected blobs; a CTC digit whose
centre lies in blobs that hold no other digit's centre is *clean*, and those blobs alone (no neighbour's
ink) are cut out and normalized like MNIST. The two readings are mixed as a weighted geometric mean of
their probabilities (`WEIGHT` for the digit model), which keeps the scale of each. A digit whose ink
touches a neighbour's keeps the line reader's answer: a crop of it would carry the neighbour's ink (tried:
re-reading crops cut between CTC centres lost 1-3 points of exact lines).

`WEIGHT` was chosen on validation writers only (`scripts/benchmark_reader.py --split val`, two samples,
1,600 lines, 600 pages, 1,600 tight crops pooled: 0.3 read the most lines and pages; 0.2-0.5 all help).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from core.errors import InputError
from core.image import to_mnist
from core.line_finder import INK
from core.line_model import Emission

WEIGHT = 0.3  # the digit model's share of the mixed log-probabilities (0: the line reader alone)
MIN_BLOB = 4  # px at the line's height: smaller blobs are dust, part of no digit
MIN_HEIGHT = 0.5  # a clean digit's ink is at least this fraction of the line's ink height (not a dot or dash)
FLOOR = 1e-3  # both readers' probabilities are clipped here: neither can outvote the other by more than 1000:1
PAD = 2  # px of the line kept around a clean digit's blobs (their soft edges)


def clean_crops(image: np.ndarray, centres: list[float]) -> list[np.ndarray | None]:
    """A normalized line ((32, W) float ink 0..1) and its digits' centres (columns) -> per digit the
    (28, 28) uint8 MNIST-style crop of the ink that is its own, or None where its ink touches another
    digit's (or is too small to be a digit). The crop is cut around the digit's own blobs, so it keeps
    the line's resolution however long the line is."""
    ink = (image > INK).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    rows = np.flatnonzero(ink.any(axis=1))
    ink_h = rows[-1] - rows[0] + 1 if len(rows) else image.shape[0]
    c = np.asarray(centres, np.float64)[:, None]
    x0, y0, w, h, area = (stats[1:, i][None, :] for i in range(5))
    holds = (x0 <= c) & (c < x0 + w) & (area >= MIN_BLOB)  # (digits, blobs): the blob's columns hold the centre
    shared = holds.sum(axis=0) > 1  # a blob that holds two centres is two digits touching
    out: list[np.ndarray | None] = []
    for k in range(len(centres)):
        mine = np.flatnonzero(holds[k])
        if len(mine) == 0 or shared[mine].any():
            out.append(None)
            continue
        top, bottom = int(y0[0, mine].min()), int((y0 + h)[0, mine].max())
        if bottom - top < MIN_HEIGHT * ink_h:
            out.append(None)
            continue
        left, right = int(x0[0, mine].min()), int((x0 + w)[0, mine].max())
        win = (slice(max(0, top - PAD), bottom + PAD), slice(max(0, left - PAD), right + PAD))
        own = np.isin(labels[win], mine + 1)
        # the blobs' soft edges (below INK) belong to them too, but not what lies next to another blob
        near = cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        others = cv2.dilate(((labels[win] > 0) & ~own).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        try:
            out.append(to_mnist((np.where(own | (near & ~others), image[win], 0.0) * 255.0).astype(np.uint8)))
        except InputError:
            out.append(None)
    return out


def mix(e: Emission, cnn: np.ndarray, weight: float = WEIGHT) -> Emission:
    """One CTC digit and the digit model's (10,) probabilities for its crop -> the digit both read.

    The digit model's rows sum to its image check's in-distribution probability: its weight is scaled by
    it, so a crop the check finds unlike any digit hardly counts. The confidence is the two readers'
    weighted geometric mean for the answer, and never above the line reader's own confidence: two
    readers agreeing is not proof, and where they disagree the answer is unsure."""
    q = float(np.clip(cnn.sum(), 0.0, 1.0))
    w = weight * q
    a = np.log(np.clip(e.probs, FLOOR, 1.0))
    b = np.log(np.clip(cnn / max(q, FLOOR), FLOOR, 1.0))
    z = (1 - w) * a + w * b
    label = int(z.argmax())
    p = np.exp(z - z.max())
    return replace(e, label=label, confidence=float(min(e.confidence, np.exp(z[label]))), probs=p / p.sum())


def check_lines(
    images: list[np.ndarray], emissions: list[list[Emission]], classify: Callable[[list], np.ndarray]
) -> tuple[list[list[Emission]], list[list[np.ndarray | None]]]:
    """Lines' CTC digits -> the same digits with the clean ones re-read (see the module docstring), and
    each digit's crop (None where its ink is not its own). `classify`: (n) 28x28 crops -> (n, 10), called
    once for the whole picture (a webcam frame's lines share one forward pass)."""
    crops = [clean_crops(img, [e.centre() for e in ems]) for img, ems in zip(images, emissions)]
    where = [(i, k) for i, line in enumerate(crops) for k, c in enumerate(line) if c is not None]
    out = [list(ems) for ems in emissions]
    if where:
        probs = classify([crops[i][k] for i, k in where])
        for (i, k), p in zip(where, probs):
            out[i][k] = mix(emissions[i][k], np.asarray(p, np.float64))
    return out, crops
