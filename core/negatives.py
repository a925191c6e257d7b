"""Inputs that are not digits, one generator per kind, for the out-of-distribution check.

A classifier trained only on digits answers every input with a digit, often confidently; the
calibration stage (core/calibrate.py) teaches a small per-branch check what a digit is *not*
from these, and the hostile-input tests measure it on fresh draws (other seeds). Every
generator is a pure function of its random generator, so a seed reproduces a set.

Images are what a user could hand the image branch (any size, dark ink on light paper);
strokes are canvas strokes (pixels, y down); audio is mono 8 kHz float32.
"""

from __future__ import annotations

import cv2
import numpy as np

from core import audio as A

CANVAS = 280  # px, the web canvas
PRINTED_WORDS = ["hello", "Total", "Name", "date", "OK", "yes", "Street", "Paid", "km", "kg", "abc", "Sum", "Hi", "xyz",
                 "Ref", "Page", "item", "cash", "Mr", "New", "Tax", "Fee", "Qty", "no", "cm", "sale", "Due", "Vat"]  # fmt: skip
# printed or handwritten letters that are digits in disguise are not negatives: O/o/Q/D (0), I/l/i/j/J/T (1, 7),
# S/s (5), Z/z (2), b/G (6), g/q (9), B (8)
DIGIT_LIKE_LETTERS = set("OoQDIlijJTSsZzbGgqB")
FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
         cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_COMPLEX_SMALL, cv2.FONT_ITALIC | cv2.FONT_HERSHEY_SIMPLEX]  # fmt: skip
IMAGE_KINDS = ("noise", "blob", "scribble", "printed", "shape")
STROKE_KINDS = ("scribble", "zigzag", "spiral", "hatching", "shape")
AUDIO_KINDS = ("white", "pink", "hum", "music", "reversed", "babble", "tone", "chirp")
# shapes people draw that are no digit; a circle (0), a bar (1) and a hook are left out, as digits in disguise
SHAPES = ("triangle", "square", "diamond", "star", "heart", "arrow", "cross", "plus", "check", "dash", "wave")
# as strokes, a plus or a cross is a fine 4 and a dash a 1 (the pendigits convention scales each axis to 0..100
# alone): learning them as non-digits cost the stroke check real 4s and 1s (other kinds 80% -> 69% not sure)
STROKE_SHAPES = tuple(s for s in SHAPES if s not in ("plus", "cross", "dash"))
DTMF_LOW, DTMF_HIGH = (697.0, 770.0, 852.0, 941.0), (1209.0, 1336.0, 1477.0)  # a phone keypad's beeps (Hz)
WORD_KIND = "words"  # spoken non-digit words (text-to-speech clips), where they were made


# ---------------------------------------------------------------- images


def paper(rng: np.random.Generator, h: int = 200, w: int = 200) -> np.ndarray:
    """Light paper with a little texture, uint8 (h, w)."""
    base = rng.uniform(200, 255)
    return np.clip(base + rng.normal(0, rng.uniform(0, 6), (h, w)), 0, 255).astype(np.uint8)


def noise_image(rng: np.random.Generator) -> np.ndarray:
    """Uniform, Gaussian, salt-and-pepper or smooth noise, at a random size."""
    h, w = rng.integers(28, 300, size=2)
    kind = rng.integers(0, 4)
    if kind == 0:
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == 1:
        return np.clip(rng.normal(128, rng.uniform(20, 90), (h, w)), 0, 255).astype(np.uint8)
    if kind == 2:
        img = paper(rng, h, w)
        img[rng.random((h, w)) < rng.uniform(0.01, 0.2)] = 0
        return img
    small = rng.random((int(rng.integers(3, 12)), int(rng.integers(3, 12)))).astype(np.float32)
    return (cv2.resize(small, (int(w), int(h)), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def blob_image(rng: np.random.Generator) -> np.ndarray:
    """One to four filled ellipses or polygons of ink."""
    img = paper(rng)
    for _ in range(rng.integers(1, 5)):
        if rng.random() < 0.5:
            c = tuple(int(v) for v in rng.integers(40, 160, 2))
            axes = tuple(int(v) for v in rng.integers(15, 80, 2))
            cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, int(rng.integers(0, 60)), -1, cv2.LINE_AA)
        else:
            pts = rng.integers(20, 180, (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], int(rng.integers(0, 60)), cv2.LINE_AA)
    return img


def _fit(paths: list[np.ndarray]) -> list[np.ndarray]:
    """Paths moved and scaled together so that the longer side of their box spans 0..1."""
    lo = np.min([p.min(0) for p in paths], axis=0)
    span = max(float((np.max([p.max(0) for p in paths], axis=0) - lo).max()), 1e-6)
    return [(p - lo) / span for p in paths]


def scribble_path(rng: np.random.Generator, n_turns: int | None = None) -> np.ndarray:
    """A random scribble: a smoothed random walk with many sharp turns, (n, 2) in 0..1."""
    n = int(n_turns or rng.integers(12, 40))
    steps = rng.normal(0, 1, (n, 2))
    (pts,) = _fit([np.cumsum(steps, axis=0)])
    t = np.linspace(0, n - 1, n * 6)
    return np.stack([np.interp(t, np.arange(n), pts[:, 0]), np.interp(t, np.arange(n), pts[:, 1])], 1)


def _closed(corners: list[tuple[float, float]]) -> np.ndarray:
    return np.array(corners + corners[:1], dtype=np.float64)


def _wobble(p: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Densify a path and add a smooth hand tremor, so a shape is drawn, not ruled."""
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    t = np.concatenate([[0.0], np.cumsum(seg)])
    u = np.linspace(0.0, t[-1], max(int(t[-1] * 60), 8))
    q = np.stack([np.interp(u, t, p[:, 0]), np.interp(u, t, p[:, 1])], 1)
    knots = rng.normal(0, amount, (6, 2))
    k = np.linspace(0, len(q) - 1, 6)
    return q + np.stack([np.interp(np.arange(len(q)), k, knots[:, i]) for i in range(2)], 1)


def shape_paths(rng: np.random.Generator, shape: str | None = None, among: tuple[str, ...] = SHAPES) -> list[np.ndarray]:
    """A hand-drawn shape that is no digit (`shape`, else one of `among`), as paths fitted to 0..1 (y down)."""
    shape = shape or str(rng.choice(among))
    if shape == "triangle":
        paths = [_closed([(0.5, 0.0), (1.0, 1.0), (0.0, 1.0)])]
    elif shape == "square":
        paths = [_closed([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)])]
    elif shape == "diamond":
        paths = [_closed([(0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5)])]
    elif shape == "star":  # a pentagram in one stroke
        a = -np.pi / 2 + np.arange(6) * 4 * np.pi / 5
        paths = [np.stack([0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a)], 1)]
    elif shape == "heart":
        t = np.linspace(0, 2 * np.pi, 80)
        x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        paths = [np.stack([x, y], 1)]
    elif shape == "arrow":
        paths = [np.array([[0.0, 0.5], [1.0, 0.5]]), np.array([[0.7, 0.25], [1.0, 0.5], [0.7, 0.75]])]
    elif shape == "cross":
        paths = [np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])]
    elif shape == "plus":
        paths = [np.array([[0.5, 0.0], [0.5, 1.0]]), np.array([[0.0, 0.5], [1.0, 0.5]])]
    elif shape == "check":
        paths = [np.array([[0.0, 0.55], [0.35, 1.0], [1.0, 0.0]])]
    elif shape == "dash":
        paths = [np.array([[0.0, 0.5], [1.0, 0.5 + rng.uniform(-0.08, 0.08)]])]
    elif shape == "wave":
        t = np.linspace(0, 1, 60)
        paths = [np.stack([t, 0.5 + 0.15 * np.sin(2 * np.pi * rng.uniform(1.5, 3.5) * t)], 1)]
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    aspect = 1.0 if shape in ("dash", "wave", "arrow") else float(np.exp(rng.uniform(-0.35, 0.35)))
    a = rng.uniform(-0.25, 0.25)  # radians of tilt
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    paths = [_wobble(p, rng, 0.015) * [aspect, 1.0] @ rot.T for p in _fit(paths)]
    return _fit(paths)


def draw_paths(paths: list[np.ndarray], rng: np.random.Generator, size: int = 200) -> np.ndarray:
    """Paths in 0..1 -> dark ink on paper, a random pen width."""
    img = paper(rng, size, size)
    pen = int(rng.integers(3, 14))
    for p in paths:
        q = np.round((0.15 + 0.7 * p) * size * 4).astype(np.int32)
        cv2.polylines(img, [q], False, int(rng.integers(0, 60)), pen, cv2.LINE_AA, shift=2)
    return img


def scribble_image(rng: np.random.Generator) -> np.ndarray:
    return draw_paths([scribble_path(rng) for _ in range(rng.integers(1, 3))], rng)


def shape_image(rng: np.random.Generator) -> np.ndarray:
    return draw_paths(shape_paths(rng), rng)


def printed_text(rng: np.random.Generator) -> np.ndarray:
    """A short printed word or a few letters (no digit look-alikes), in a Hershey font."""
    if rng.random() < 0.6:
        word = str(rng.choice(PRINTED_WORDS))
    else:
        letters = [c for c in "abcdefhkmnprtuvwxyACEFHKLMNPRUVWXY" if c not in DIGIT_LIKE_LETTERS]
        word = "".join(rng.choice(letters, size=int(rng.integers(1, 4))))
    font = int(rng.choice(FONTS))
    scale = float(rng.uniform(1.0, 3.0))
    thick = int(rng.integers(1, 5))
    (tw, th), base = cv2.getTextSize(word, font, scale, thick)
    img = paper(rng, th + base + 40, tw + 40)
    cv2.putText(img, word, (20, th + 20), font, scale, int(rng.integers(0, 70)), thick, cv2.LINE_AA)
    return img


def negative_image(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One non-digit picture of `kind` (IMAGE_KINDS), uint8 gray, dark on light."""
    makers = {"noise": noise_image, "blob": blob_image, "scribble": scribble_image, "printed": printed_text, "shape": shape_image}
    return makers[kind](rng)


# ---------------------------------------------------------------- strokes


def _to_canvas(paths: list[np.ndarray], rng: np.random.Generator) -> list[list[list[float]]]:
    """Paths in 0..1 (y down) -> canvas strokes [[x, y], ...] in pixels."""
    f = rng.uniform(0.5, 0.8) * CANVAS
    off = rng.uniform(0.05, 0.45, 2) * CANVAS * (1 - f / CANVAS) / 0.5
    return [np.round(p * f + off, 1).tolist() for p in paths]


def negative_strokes(kind: str, rng: np.random.Generator) -> list[list[list[float]]]:
    """Canvas strokes of `kind` (STROKE_KINDS) that are no digit: scribbles, zigzags, spirals, hatching, shapes."""
    if kind == "shape":
        paths = shape_paths(rng, among=STROKE_SHAPES)
    elif kind == "scribble":
        paths = [scribble_path(rng) for _ in range(rng.integers(1, 4))]
    elif kind == "zigzag":
        n = int(rng.integers(6, 16))
        x = np.linspace(0, 1, n)
        y = np.where(np.arange(n) % 2 == 0, 0.0, 1.0) * rng.uniform(0.3, 1.0) + rng.normal(0, 0.03, n)
        p = np.stack([x, y], 1) if rng.random() < 0.5 else np.stack([y, x], 1)
        paths = [p]
    elif kind == "spiral":
        t = np.linspace(0, rng.uniform(4, 9) * np.pi, 200)
        r = t / t.max()
        p = np.stack([0.5 + 0.5 * r * np.cos(t), 0.5 + 0.5 * r * np.sin(t)], 1)
        paths = [p]
    else:  # hatching: several parallel strokes, or a grid
        k = int(rng.integers(4, 9))
        a = rng.uniform(0, np.pi)
        paths = []
        for i in range(k):
            o = i / (k - 1) - 0.5
            d = np.array([np.cos(a), np.sin(a)]) * 0.5
            n = np.array([-np.sin(a), np.cos(a)]) * o
            paths.append(np.stack([0.5 + n - d, 0.5 + n + d]) + rng.normal(0, 0.02, (2, 2)))
        if rng.random() < 0.5:
            paths += [np.stack([q[:, 1], q[:, 0]], 1) for q in paths]
    paths = [np.clip(p, 0, 1) for p in paths]
    return _to_canvas(paths, rng)


# ---------------------------------------------------------------- audio


def _colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    y = np.fft.irfft(spec / f ** (exponent / 2), n)
    return (y / (np.abs(y).max() + 1e-9)).astype(np.float32)


def negative_audio(
    kind: str, rng: np.random.Generator, speech: list[np.ndarray] | None = None, words: list[np.ndarray] | None = None
) -> np.ndarray:
    """About a second of something that is not a spoken digit, mono 8 kHz float32.

    `speech` (trimmed digit recordings) is needed for "reversed" (a digit played backwards: speech-like,
    no word) and "babble" (several digits at once); `words` (spoken non-digit words) for "words"."""
    sr = A.SAMPLE_RATE
    n = int(rng.uniform(0.5, 2.0) * sr)
    t = np.arange(n) / sr
    if kind == "white":
        y = rng.normal(0, 1, n).astype(np.float32)
    elif kind == "pink":
        y = _colored(rng, n, float(rng.choice([1.0, 2.0])))
    elif kind == "hum":
        f0 = float(rng.choice([50.0, 60.0])) * rng.uniform(0.98, 1.02)
        y = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in range(1, 8))
        y = y + rng.uniform(0.0, 0.05) * rng.normal(0, 1, n)
    elif kind == "music":
        y = np.zeros(n)
        notes = int(rng.integers(1, 6))
        for k in range(notes):  # a short melody or chord of decaying harmonic tones
            f0 = 220.0 * 2 ** (rng.integers(-12, 13) / 12)
            start = int(k * n / notes * rng.uniform(0, 1)) if rng.random() < 0.5 else 0
            env = np.exp(-np.maximum(t - start / sr, 0) * rng.uniform(1, 6)) * (t >= start / sr)
            y += env * sum(0.6**h * np.sin(2 * np.pi * f0 * (h + 1) * t) for h in range(4))
    elif kind == "tone":  # a whistle or a held hum (a slow vibrato), or a few beeps (a phone keypad's among them)
        if rng.random() < 0.6:
            f0 = rng.uniform(400.0, 2500.0) * (1 + rng.uniform(0, 0.03) * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
            y = np.sin(2 * np.pi * np.cumsum(f0) / sr) * np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
        else:
            beeps = int(rng.integers(1, 5))
            y = np.zeros(n)
            for b in range(beeps):
                lo, hi = int(b * n / beeps), int((b + rng.uniform(0.4, 0.8)) * n / beeps)
                pair = (rng.choice(DTMF_LOW), rng.choice(DTMF_HIGH)) if rng.random() < 0.5 else (rng.uniform(400, 3000),)
                y[lo:hi] = sum(np.sin(2 * np.pi * f * t[lo:hi]) for f in pair)
    elif kind == "chirp":  # one to three sweeps up or down (a whistled slide, a bird, a siren)
        sweeps = int(rng.integers(1, 4))
        f_a, f_b = np.exp(rng.uniform(np.log(200.0), np.log(3200.0), 2))
        phase = (t * sweeps / t[-1]) % 1.0
        f = f_a * (f_b / f_a) ** (phase if rng.random() < 0.7 else np.abs(2 * phase - 1))
        y = np.sin(2 * np.pi * np.cumsum(f) / sr)
        y = y + rng.uniform(0.0, 0.3) * np.sin(4 * np.pi * np.cumsum(f) / sr)  # a second harmonic
    elif kind == WORD_KIND:
        if not words:
            raise ValueError("negative audio 'words' needs recordings of non-digit words")
        y = words[int(rng.integers(len(words)))]
        y = y + rng.uniform(0.0, 0.02) * rng.normal(0, 1, len(y)) * np.abs(y).max()
    elif kind in ("reversed", "babble"):
        if not speech:
            raise ValueError(f"negative audio {kind!r} needs speech clips to be made from")
        if kind == "reversed":
            y = speech[int(rng.integers(len(speech)))][::-1].copy()
        else:
            parts = [speech[int(i)] for i in rng.integers(len(speech), size=int(rng.integers(3, 6)))]
            m = max(len(p) for p in parts)
            y = np.zeros(m)
            for p in parts:
                o = int(rng.integers(0, m - len(p) + 1))
                y[o : o + len(p)] += p * rng.uniform(0.5, 1.0)
    else:
        raise ValueError(f"unknown negative audio kind {kind!r}; expected one of {AUDIO_KINDS}")
    y = np.asarray(y, dtype=np.float32)
    return (y * (rng.uniform(0.1, 0.9) / (np.abs(y).max() + 1e-9))).astype(np.float32)
