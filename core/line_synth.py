"""Synthetic lines of handwritten digits, the line reader's training data (issue #8).

A line is real handwriting (MNIST, FEMNIST and UNIPEN digits, each split by writer) composed
side by side the way people write numbers: touching and overlapping neighbours, uneven spacing
and baseline, slant, scale and stroke width jitter; then put on simulated paper (texture,
shadow, uneven light, ruled lines, boxes) with clutter that is *not* a digit and must not be
read (dots, commas, dashes, currency signs, underlines, short printed words); then blurred,
noised, JPEG-compressed and sometimes shrunk to 20 px. Dark ink on light paper, as a photo is.

Everything is a pure function of a `numpy.random.Generator`: the same seed gives the same lines.

Writers never cross splits:
- MNIST: training = the training file's first rows, validation = its last `data.MNIST_VAL`
  rows (as core/sets.py), test = t10k;
- FEMNIST: by a hash of the writer id (`core.sets.writer_split`, shared with the letter sets);
- UNIPEN: by donor institution (`data.Unipen.split_indices`, as core/sets.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core import data, sets
from core import strokes as S

SPLITS = ("train", "val", "test")
MAX_DIGITS = 12  # digits in one line
GLYPH_HEIGHT = (30.0, 46.0)  # px: a line's typical digit height while composing (then shrunk)
SOURCE_WEIGHTS = {"mnist": 0.45, "femnist": 0.25, "unipen": 0.30}  # share of glyphs from each source
NEGATIVE_SHARE = 0.05  # lines with clutter and no digit at all (the reader must answer "")
MIN_HEIGHT_OUT, MAX_HEIGHT_OUT = 18, 64  # px: the finished crop's height range (low resolution included)
WORDS = ("Total", "EUR", "USD", "kg", "Nr", "No", "Ref", "date", "amount", "pcs", "cm", "TOTAL", "Tel", "page", "sum", "ab", "x")
PRINT_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
)
MARKS_AFTER = (".", ",", "-", ".-", ",-", "/-", "=", "--", ".")
MARKS_BEFORE = ("$", "#", "+", "-", "EUR", "no")


@dataclass
class Line:
    image: np.ndarray  # (h, w) uint8 gray, dark ink on light paper
    text: str  # the digits written, left to right ("" for a line of clutter only)
    spans: list[tuple[float, float]]  # each digit's x-extent [x0, x1) in `image` pixels


@dataclass
class GlyphPool:
    """Handwritten digits of one split: bitmaps (white ink on black, tight crops) and pen paths."""

    bitmaps: dict[str, tuple[list[np.ndarray], np.ndarray]] = field(default_factory=dict)  # source -> (crops, labels)
    paths: dict[str, tuple[list[list[np.ndarray]], np.ndarray]] = field(default_factory=dict)  # source -> (strokes y up, labels)

    def __post_init__(self):
        self._index = {}
        for name, (_, labels) in {**self.bitmaps, **self.paths}.items():
            self._index[name] = [np.flatnonzero(labels == d) for d in range(10)]
        names = [n for n in self._index if all(len(ix) for ix in self._index[n])]
        if not names:
            raise ValueError("a glyph pool needs at least one source with every digit 0-9")
        w = np.array([SOURCE_WEIGHTS.get(n, 0.2) for n in names])
        self.sources, self.weights = names, w / w.sum()

    def __len__(self) -> int:
        return sum(len(v[1]) for v in {**self.bitmaps, **self.paths}.values())


# ---------------------------------------------------------------- writer splits


def mnist_rows(n_train_file: int, split: str) -> tuple[str, np.ndarray]:
    """(which MNIST file, rows) of a split: train = all but the last MNIST_VAL rows, val = those, test = t10k."""
    v = data.MNIST_VAL if n_train_file >= 2 * data.MNIST_VAL else max(1, n_train_file // 5)
    if split == "train":
        return "train", np.arange(n_train_file - v)
    if split == "val":
        return "train", np.arange(n_train_file - v, n_train_file)
    if split == "test":
        return "test", np.array([], np.int64)  # every row of t10k (the caller knows its length)
    raise ValueError(f"split {split!r}; expected one of {SPLITS}")


def tight(img: np.ndarray, threshold: int = 40) -> np.ndarray | None:
    """White-on-black uint8 -> its crop to the ink's bounding box, or None when there is no ink."""
    ys, xs = np.nonzero(img > threshold)
    if len(ys) == 0:
        return None
    return np.ascontiguousarray(img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def bitmap_source(images: np.ndarray, labels: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    crops, keep = [], []
    for img, y in zip(images, labels):
        c = tight(img)
        if c is not None and c.shape[0] >= 4:
            crops.append(c)
            keep.append(y)
    return crops, np.asarray(keep, np.int64)


def load_pool(root: str | Path | None, split: str, verify: bool = True) -> GlyphPool:
    """The glyphs of one split's writers (see the module docstring). FEMNIST and UNIPEN are used
    where their files exist; MNIST is required."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}; expected one of {SPLITS}")
    root = data.data_root(root)
    which, rows = mnist_rows(60_000, split)
    x, y = data.load_mnist(root, which, verify)
    if which == "train":
        which, rows = mnist_rows(len(x), split)
        x, y = x[rows], y[rows]
    pool = {"mnist": bitmap_source(x, y)}
    paths = {}
    if (root / "femnist" / data.FEMNIST_FILE[0]).is_file():
        f = data.load_femnist(root, verify)
        keep = np.intersect1d(np.flatnonzero(f.labels < 10), sets.writer_split(f.writers, split))
        pool["femnist"] = bitmap_source(f.images[keep], f.labels[keep])
    if (root / "unipen" / data.UNIPEN_FILE[0]).is_file():
        u = data.load_unipen(root, verify)
        idx = u.split_indices(split)
        strokes, labels = [], []
        for i in idx:
            parts = [p for p in S.unipen_strokes(u.sample(i)) if len(p) >= 1]
            pts = np.concatenate(parts) if parts else np.zeros((0, 2))
            if len(pts) >= 2 and np.ptp(pts[:, 1]) > 0:
                strokes.append(parts)
                labels.append(u.labels[i])
        paths["unipen"] = (strokes, np.asarray(labels, np.int64))
    return GlyphPool(bitmaps=pool, paths=paths)


# ---------------------------------------------------------------- one glyph


def render_bitmap(crop: np.ndarray, h: float, aspect: float, rng: np.random.Generator) -> np.ndarray:
    """A tight white-on-black crop -> float32 ink alpha (0..1) about `h` px tall, stroke width jittered."""
    ch, cw = crop.shape
    gh = max(3, round(h))
    gw = max(2, round(cw / ch * h * aspect))
    a = cv2.resize(crop, (gw, gh), interpolation=cv2.INTER_LINEAR).astype(np.float32) / max(float(crop.max()), 1.0)
    a = np.clip((a - 0.15) / 0.55, 0.0, 1.0)  # upscaled MNIST is soft: give it a pen's edge
    grow = rng.choice([-1, 0, 0, 1, 1, 2]) * max(1, round(h / 28))
    if grow:
        k = np.ones((abs(grow) + 1, abs(grow) + 1), np.uint8)
        eroded = cv2.erode(a, k) if grow < 0 else None
        a = cv2.dilate(a, k) if grow > 0 else (eroded if eroded.max() > 0.5 else a)
    return a


def render_path(parts: list[np.ndarray], h: float, aspect: float, rng: np.random.Generator) -> np.ndarray:
    """Pen paths (y up, any units) -> float32 ink alpha about `h` px tall, drawn with a random pen width."""
    pts = np.concatenate(parts)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    f = h / max(float(hi[1] - lo[1]), 1e-9)
    fx = f * aspect
    pen = max(1, round(h * rng.uniform(0.04, 0.13)))
    pad = pen + 1
    w = int(min((hi[0] - lo[0]) * fx, 3 * h)) + 2 * pad + 1
    canvas = np.zeros((round(h) + 2 * pad + 1, w), np.uint8)
    for p in parts:
        q = np.stack([(p[:, 0] - lo[0]) * fx + pad, (hi[1] - p[:, 1]) * f + pad], axis=1)
        cv2.polylines(canvas, [np.round(q * 4).astype(np.int32)], False, 255, pen, cv2.LINE_AA, shift=2)
    c = tight(canvas, 60)
    return (c if c is not None else canvas).astype(np.float32) / 255.0


def shear(alpha: np.ndarray, slant: float) -> np.ndarray:
    """Slant a glyph: x moves by `slant` * (height above the bottom); the result is cropped to its ink."""
    if abs(slant) < 0.01:
        return alpha
    h, w = alpha.shape
    extra = int(np.ceil(abs(slant) * h))
    m = np.float32([[1, -slant, slant * h if slant > 0 else 0], [0, 1, 0]])
    out = cv2.warpAffine(alpha, m, (w + extra, h), flags=cv2.INTER_LINEAR)
    cols = np.flatnonzero(out.max(axis=0) > 0.2)
    return out[:, cols[0] : cols[-1] + 1] if len(cols) else alpha


def glyph(pool: GlyphPool, digit: int, h: float, slant: float, rng: np.random.Generator) -> np.ndarray:
    """One random handwritten `digit` of the pool -> float32 ink alpha, about `h` px tall."""
    src = pool.sources[rng.choice(len(pool.sources), p=pool.weights)]
    i = int(rng.choice(pool._index[src][digit]))
    aspect = rng.uniform(0.8, 1.2)
    if src in pool.bitmaps:
        a = render_bitmap(pool.bitmaps[src][0][i], h, aspect, rng)
    else:
        a = render_path(pool.paths[src][0][i], h, aspect, rng)
    return shear(a, slant + rng.normal(0, 0.05))


# ---------------------------------------------------------------- clutter


def put_text(layer: np.ndarray, text: str, x: float, baseline: float, cap_h: float, rng: np.random.Generator) -> tuple[int, int]:
    """Printed text with a Hershey font whose capitals are about `cap_h` px; returns its (x0, x1)."""
    font = PRINT_FONTS[rng.integers(len(PRINT_FONTS))]
    (_, th), _ = cv2.getTextSize("H", font, 1.0, 1)
    scale = cap_h / max(th, 1)
    thick = max(1, round(cap_h * rng.uniform(0.06, 0.14)))
    (tw, _), _ = cv2.getTextSize(text, font, scale, thick)
    scratch = np.zeros(layer.shape, np.uint8)  # putText draws on 8-bit images only
    cv2.putText(scratch, text, (round(x), round(baseline)), font, scale, 255, thick, cv2.LINE_AA)
    np.maximum(layer, scratch.astype(np.float32) / 255.0, out=layer)
    return round(x), round(x) + tw


def draw_mark(layer: np.ndarray, mark: str, x: float, baseline: float, h: float, pen: int, rng: np.random.Generator) -> float:
    """Hand-drawn punctuation after or before a number ("." "," "-" "=" "/" or printed $ # +); returns the x where it ends."""
    for ch in mark:
        if ch == ".":
            r = max(1, round(pen * rng.uniform(0.6, 1.1)))
            cv2.circle(layer, (round(x + r), round(baseline - r)), r, 1.0, -1, cv2.LINE_AA)
            x += 2 * r + h * rng.uniform(0.05, 0.2)
        elif ch == ",":
            p0 = (round(x + 0.1 * h), round(baseline - 0.05 * h))
            p1 = (round(x), round(baseline + 0.2 * h))
            cv2.line(layer, p0, p1, 1.0, pen, cv2.LINE_AA)
            x += 0.25 * h
        elif ch in "-=":
            length = h * rng.uniform(0.25, 0.6)
            y = baseline - h * rng.uniform(0.35, 0.55)
            for dy in (0.0,) if ch == "-" else (-0.12 * h, 0.12 * h):
                cv2.line(
                    layer,
                    (round(x), round(y + dy)),
                    (round(x + length), round(y + dy + rng.normal(0, 0.03 * h))),
                    1.0,
                    pen,
                    cv2.LINE_AA,
                )
            x += length + h * 0.1
        elif ch == "/":
            cv2.line(layer, (round(x), round(baseline)), (round(x + 0.35 * h), round(baseline - 0.8 * h)), 1.0, pen, cv2.LINE_AA)
            x += 0.45 * h
        else:  # printed symbols and short words
            _, x1 = put_text(layer, ch, x, baseline, h * rng.uniform(0.6, 0.9), rng)
            x = x1 + 0.05 * h
    return x


# ---------------------------------------------------------------- one line


def random_text(rng: np.random.Generator, max_len: int = MAX_DIGITS) -> str:
    """1..max_len random digits (short numbers more often, as on paper)."""
    n = int(min(max_len, max(1, round(rng.triangular(1, 3, max_len + 0.49)))))
    return "".join(str(d) for d in rng.integers(0, 10, n))


def compose(pool: GlyphPool, text: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Digits of `text` side by side, with clutter -> (ink alpha of handwriting and marks, alpha of
    printed words, alpha of ruled lines and boxes, digit x-extents), float32 (H, W) at composing scale.
    Rules are apart because the line finder crops a line by its writing, not by a rule across the page."""
    h = rng.uniform(*GLYPH_HEIGHT)
    slant = float(np.clip(rng.normal(0, 0.15), -0.4, 0.4))
    glyphs = [glyph(pool, int(c), h * rng.uniform(0.85, 1.1), slant, rng) for c in text]
    mu = rng.choice([rng.uniform(-0.12, 0.0), rng.uniform(0.0, 0.15), rng.uniform(0.15, 0.5)], p=[0.3, 0.45, 0.25])
    tilt = rng.uniform(-0.04, 0.04)
    pen = max(1, round(h * rng.uniform(0.05, 0.1)))
    lead = h * 4.5  # room for clutter before the number
    width = int(lead + sum(g.shape[1] for g in glyphs) + h * (0.6 * len(glyphs) + 5.0)) + 8
    height = int(2.6 * h)
    ink = np.zeros((height, width), np.float32)
    printed = np.zeros_like(ink)
    rules = np.zeros_like(ink)
    base0 = 1.6 * h
    x = lead
    spans, bottoms, tops = [], [], []
    for k, g in enumerate(glyphs):
        gh, gw = g.shape
        if k:
            x += max(-0.45 * gw, (mu + rng.normal(0, 0.08)) * h)
        bottom = base0 + tilt * (x - lead) + rng.normal(0, 0.05 * h)
        y0 = int(np.clip(round(bottom - gh), 0, height - gh))
        x0 = int(round(x))
        np.maximum(ink[y0 : y0 + gh, x0 : x0 + gw], g, out=ink[y0 : y0 + gh, x0 : x0 + gw])
        spans.append((float(x0), float(x0 + gw)))
        tops.append(y0)
        bottoms.append(y0 + gh)
        x = x0 + gw
    if not text:  # a line of clutter only
        tops, bottoms = [base0 - h], [base0]
        x = lead + h
    baseline = float(np.median(bottoms))
    end = x
    if rng.random() < 0.3:
        end = draw_mark(ink, MARKS_AFTER[rng.integers(len(MARKS_AFTER))], x + h * rng.uniform(0.03, 0.4), baseline, h, pen, rng)
    if rng.random() < 0.15 or not text:
        mark = MARKS_BEFORE[rng.integers(len(MARKS_BEFORE))]
        probe = np.zeros_like(ink)
        x1 = draw_mark(probe, mark, 0, baseline, h, pen, rng)
        shift = int(lead - x1 - h * rng.uniform(0.1, 0.5))
        if shift > 0:
            ink[:, shift:] = np.maximum(ink[:, shift:], probe[:, : width - shift])
    if rng.random() < 0.2 or not text:
        word = WORDS[rng.integers(len(WORDS))]
        if rng.random() < 0.5:
            put_text(printed, word, end + h * rng.uniform(0.3, 1.0), baseline, h * rng.uniform(0.4, 0.8), rng)
        else:
            probe = np.zeros_like(printed)
            _, x1 = put_text(probe, word, 0, baseline, h * rng.uniform(0.4, 0.8), rng)
            shift = int(lead - x1 - h * rng.uniform(0.3, 1.0))
            if shift > 0:
                printed[:, shift:] = np.maximum(printed[:, shift:], probe[:, : width - shift])
    left = spans[0][0] if spans else lead
    right = spans[-1][1] if spans else end
    if rng.random() < 0.1:  # underline
        y = round(max(bottoms) + h * rng.uniform(0.05, 0.25))
        cv2.line(ink, (round(left - 0.2 * h), y), (round(right + 0.2 * h), y + round(rng.normal(0, 2))), 1.0, pen, cv2.LINE_AA)
    if rng.random() < 0.15:  # ruled paper
        y = round(baseline + h * rng.uniform(-0.05, 0.3)) if rng.random() < 0.7 else round(min(tops) - h * rng.uniform(0.1, 0.5))
        cv2.line(rules, (0, y), (width - 1, y), float(rng.uniform(0.3, 0.8)), int(rng.integers(1, 3)))
    if rng.random() < 0.12 and spans:  # a form's box, sometimes with a cell per digit
        m = h * rng.uniform(0.05, 0.3)
        t = int(rng.integers(1, 3))
        p0 = (round(left - m), round(min(tops) - m))
        p1 = (round(right + m), round(max(bottoms) + m))
        cv2.rectangle(rules, p0, p1, float(rng.uniform(0.5, 1.0)), t)
        if rng.random() < 0.5 and mu > 0.1:
            for (_, a1), (b0, _) in zip(spans[:-1], spans[1:]):
                xc = round((a1 + b0) / 2)
                cv2.line(rules, (xc, p0[1]), (xc, p1[1]), float(rng.uniform(0.5, 1.0)), t)
    for _ in range(rng.poisson(0.6)):  # specks of dust and ink
        cv2.circle(
            ink,
            (int(rng.integers(0, width)), int(rng.integers(0, height))),
            int(rng.integers(1, 3)),
            float(rng.uniform(0.3, 1)),
            -1,
        )
    return ink, printed, rules, spans


def photograph(ink: np.ndarray, printed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink alphas (handwriting, print) -> uint8 gray photo of paper: texture, uneven light, shadow, ink darkness, blur, noise."""
    h, w = ink.shape
    paper = rng.uniform(150, 250)
    bg = np.full((h, w), paper, np.float32)
    if rng.random() < 0.7:
        small = rng.normal(0, rng.uniform(2, 10), (max(2, h // 8), max(2, w // 8))).astype(np.float32)
        bg += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg += rng.uniform(-40, 40) * xx / w + rng.uniform(-25, 25) * yy / h
    if rng.random() < 0.2:  # a soft shadow edge across the line
        edge = rng.uniform(0, w)
        angle = rng.uniform(-2, 2)
        d = (xx - edge - angle * (yy - h / 2)) / max(3.0, rng.uniform(2, 30))
        bg -= rng.uniform(25, 80) / (1 + np.exp(-np.clip(d, -30, 30)))
    bg = np.clip(bg, 40, 255)
    ink_level = rng.uniform(0, 0.55) * bg.min()
    print_level = rng.uniform(0, 0.6) * bg.min()
    a = np.clip(ink * rng.uniform(0.75, 1.0), 0, 1)
    img = bg * (1 - a) + ink_level * a
    img = img * (1 - printed) + print_level * printed
    if rng.random() < 0.6:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.4))
    img += rng.normal(0, rng.uniform(0, 10), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_line(pool: GlyphPool, rng: np.random.Generator, text: str | None = None) -> Line:
    """One synthetic photo of a handwritten number, cropped like the line finder crops it."""
    if text is None:
        text = "" if rng.random() < NEGATIVE_SHARE else random_text(rng)
    ink, printed, rules, spans = compose(pool, text, rng)
    both = np.maximum(ink, printed)
    rows = np.flatnonzero(ink.max(axis=1) > 0.3)
    cols = np.flatnonzero(both.max(axis=0) > 0.3)
    if len(rows) == 0 or len(cols) == 0:
        rows, cols = np.arange(ink.shape[0]), np.arange(ink.shape[1])
    gh = max(8.0, float(rows[-1] - rows[0] + 1))
    top = int(max(0, rows[0] - gh * rng.uniform(0.05, 0.4)))
    bottom = int(min(ink.shape[0], rows[-1] + 1 + gh * rng.uniform(0.05, 0.4)))
    left = int(max(0, cols[0] - gh * rng.uniform(0.05, 0.7)))
    right = int(min(ink.shape[1], cols[-1] + 1 + gh * rng.uniform(0.05, 0.7)))
    img = photograph(ink[top:bottom, left:right], np.maximum(printed, rules)[top:bottom, left:right], rng)
    spans = [(a - left, b - left) for a, b in spans]
    out_h = int(rng.integers(MIN_HEIGHT_OUT, MAX_HEIGHT_OUT + 1))
    f = out_h / img.shape[0]
    img = cv2.resize(img, (max(2, round(img.shape[1] * f)), out_h), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else img
    return Line(image=img, text=text, spans=[(a * f, b * f) for a, b in spans])


def make_lines(pool: GlyphPool, n: int, seed: int) -> list[Line]:
    """`n` lines from one seed: the fixed validation or test set of a split."""
    rng = np.random.default_rng(seed)
    return [make_line(pool, rng) for _ in range(n)]


def benchmark_lines(root: str | Path | None, n: int, seed: int = 0, verify: bool = True) -> list[Line]:
    """Lines written by test writers only (MNIST t10k, FEMNIST test writers, UNIPEN test donors), for the
    benchmark; nothing here is ever used to train or choose."""
    return make_lines(load_pool(root, "test", verify), n, seed)
