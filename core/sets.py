"""Each modality's data split and turned into the tensors its encoder takes; and drawings made
the way the web canvas makes them.

Training reads `image_sets`, `stroke_sets`, `audio_sets` (training files only: validation is carved
from them, see core/data.py) and, for letters, `femnist_sets` (whole writers held out, `writer_split`).
The test files are read by `image_test`, `stroke_test`, `audio_test`, `femnist_test` and
`drawings(..., "test")`, which only evaluation (core/evaluate.py, scripts/benchmark_core.py) calls.

A *drawing* is one pen trajectory seen twice, as on the Draw tab: the 280 px canvas picture
(black ink, `CANVAS_PEN` px, through `image.to_mnist`) and its strokes (through
`strokes.strokes_to_input`) — exactly what `Recognizer.predict(image=..., strokes=...)` gets.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from core import audio as A
from core import data
from core import strokes as S
from core.errors import InputError
from core.image import to_mnist

CANVAS = 280  # px, the web canvas's side (demo/canvas.py)
CANVAS_PEN = 18  # px, its pen width (demo/canvas.PEN_WIDTH)
CANVAS_MARGIN = 0.15  # share of the side left free around a drawing

Pair = tuple[torch.Tensor, torch.Tensor]  # (inputs, labels)


def progress(it, desc: str):
    return tqdm(it, desc=desc, leave=False, mininterval=1.0)


def pair(x, y) -> Pair:
    """Arrays -> (float32 inputs, int64 labels) tensors (uint8 inputs stay uint8)."""
    x = np.asarray(x)
    x = x if x.dtype == np.uint8 else x.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.asarray(y, np.int64))


def subsample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most `limit` of n items (all of them when limit is 0)."""
    return np.sort(rng.choice(n, size=min(n, limit), replace=False)) if limit else np.arange(n)


def val_size(n: int, n_val: int) -> int:
    """Rows the validation split takes from the end of a training file of n rows: `n_val`, or a
    fifth of the file when it is too small to give that many and keep most for training (fixtures)."""
    return n_val if n >= 2 * n_val else max(1, n // 5)


def train_val(n: int, n_val: int, limit: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) row indices of a training file: validation is its last rows; `limit` caps
    training at `limit` rows and validation at limit // 4."""
    v = val_size(n, n_val)
    return subsample(n - v, limit, rng), n - v + subsample(v, limit // 4, rng)


# ---------------------------------------------------------------- images (MNIST)


def image_sets(root: Path, limit: int, verify: bool, rng: np.random.Generator) -> dict[str, Pair]:
    """MNIST training file -> {"train": (n, 28, 28) uint8 (augmented per batch), "val": float 0..1}."""
    x, y = data.load_mnist(root, "train", verify)
    tr, va = train_val(len(x), data.MNIST_VAL, limit, rng)
    return {"train": pair(x[tr], y[tr]), "val": pair(x[va].astype(np.float32) / 255.0, y[va])}


def image_test(root: Path, limit: int, verify: bool, rng: np.random.Generator) -> Pair:
    """MNIST t10k -> (n, 28, 28) float 0..1, labels."""
    x, y = data.load_mnist(root, "test", verify)
    te = subsample(len(x), limit, rng)
    return pair(x[te].astype(np.float32) / 255.0, y[te])


# ---------------------------------------------------------------- images (FEMNIST: NIST writers, 62 classes)


def writer_bucket(writer: str) -> int:
    """A writer id -> its bucket, fixed by the id alone (crc32), so a writer's split never depends on which
    other writers a file holds or in what order."""
    return zlib.crc32(str(writer).encode()) % data.WRITER_BUCKETS


def writer_split(writers: np.ndarray, split: str) -> np.ndarray:
    """Row indices of `split` (train | val | test), whole writers held out: the buckets of
    data.FEMNIST_HELD_OUT are validation and test (about 10% of writers each), the rest training.
    Every FEMNIST user shares it: the letters sets here and the line reader's glyphs (core/line_synth.py)."""
    ids, inverse = np.unique(np.asarray(writers), return_inverse=True)
    b = np.array([writer_bucket(w) for w in ids], np.int64)[inverse]
    held = [k for ks in data.FEMNIST_HELD_OUT.values() for k in ks]
    masks = {s: np.isin(b, ks) for s, ks in data.FEMNIST_HELD_OUT.items()}
    masks["train"] = ~np.isin(b, held)
    if split not in masks:
        raise ValueError(f"split {split!r}; expected train, val or test")
    return np.flatnonzero(masks[split])


def femnist_images(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28) FEMNIST images (the whole NIST box: small, thin, off-centre) -> (images in the MNIST
    convention through image.to_mnist, the rows kept). Blank images (no ink above image.MIN_CONTRAST) are dropped."""
    out, kept = [], []
    for i, im in enumerate(progress(images, "femnist")):
        try:
            out.append(to_mnist(im))
        except InputError:
            continue
        kept.append(i)
    return np.stack(out) if out else np.zeros((0, 28, 28), np.uint8), np.array(kept, np.int64)


def femnist_split(f: data.Femnist, split: str, limit: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One FEMNIST writer split -> ((n, 28, 28) uint8 MNIST-convention images, labels 0-61, writers)."""
    idx = writer_split(f.writers, split)
    idx = idx[subsample(len(idx), limit, rng)]
    x, kept = femnist_images(f.images[idx])
    return x, f.labels[idx][kept], f.writers[idx][kept]


def femnist_sets(root: Path, limit: int, verify: bool, rng: np.random.Generator) -> dict[str, Pair]:
    """FEMNIST -> {"train": (n, 28, 28) uint8 (augmented per batch), "val": float 0..1}, held-out writers."""
    f = data.load_femnist(root, verify)
    xt, yt, _ = femnist_split(f, "train", limit, rng)
    xv, yv, _ = femnist_split(f, "val", limit // 4, rng)
    return {"train": pair(xt, yt), "val": pair(xv.astype(np.float32) / 255.0, yv)}


def femnist_test(root: Path, limit: int, verify: bool, rng: np.random.Generator) -> Pair:
    """FEMNIST's test writers (never trained on nor used for choices) -> (n, 28, 28) float 0..1, labels."""
    x, y, _ = femnist_split(data.load_femnist(root, verify), "test", limit, rng)
    return pair(x.astype(np.float32) / 255.0, y)


# ---------------------------------------------------------------- strokes (pendigits, UNIPEN)


def unipen_split(
    u: data.Unipen, split: str, limit: int, rng: np.random.Generator, by_writer: bool = False
) -> tuple[list, np.ndarray, np.ndarray]:
    """One UNIPEN split -> (strokes per character (y up, tablet units), stroke inputs, labels). The digit model
    splits by donor institution (data.UNIPEN_*_SOURCES); `by_writer` splits by writer id (`segfile`) with
    `writer_split`'s buckets, as the characters model does (17 donors are too few buckets for a fair test).
    A few samples are one repeated point or only taps: nothing to learn from, they are skipped."""
    idx = writer_split(u.segfile, split) if by_writer else u.split_indices(split)
    parts, feats, labels, _ = unipen_samples(u, idx[subsample(len(idx), limit, rng)], f"unipen {split}")
    return parts, feats, labels


def unipen_samples(u: data.Unipen, idx: np.ndarray, desc: str) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """UNIPEN samples `idx` -> (strokes (y up), stroke inputs, labels, the indices kept): samples that are one
    repeated point or only taps have nothing to read and are left out."""
    parts, feats, labels, kept = [], [], [], []
    for i in progress(idx, desc):
        p = S.unipen_strokes(u.sample(i))
        try:
            feats.append(S.strokes_to_input(p, y_down=False))
        except InputError:
            continue
        parts.append(p)
        labels.append(u.labels[i])
        kept.append(i)
    return parts, np.stack(feats), np.array(labels, np.int64), np.array(kept, np.int64)


def pendigits_inputs(rows: np.ndarray) -> np.ndarray:
    return np.stack([S.pendigits_input(r) for r in progress(rows, "pendigits")])


@dataclass
class StrokeSets:
    """The stroke training set kept raw (it is re-augmented every epoch) and the validation set."""

    train_raw: list[tuple]  # (pendigits row, its curve) or (UNIPEN strokes, None)
    train_y: np.ndarray
    val: Pair  # pendigits validation rows, then UNIPEN validation donors
    val_trajectories: list[list[np.ndarray]]  # the same validation digits as pen paths (y up), for drawings


def stroke_sets(root: Path, limit: int, verify: bool, rng: np.random.Generator) -> StrokeSets:
    pp, py = data.load_pendigits(root, "train", verify)
    tr, va = train_val(len(pp), data.PENDIGITS_VAL, limit, rng)
    u = data.load_unipen(root, verify)
    u_tr_parts, _, u_tr_y = unipen_split(u, "train", limit, rng)
    u_va_parts, u_va_x, u_va_y = unipen_split(u, "val", limit // 4, rng)
    curves = [S.pendigits_curve(p) for p in pp[tr]]
    return StrokeSets(
        train_raw=[(p, c) for p, c in zip(pp[tr], curves)] + [(parts, None) for parts in u_tr_parts],
        train_y=np.concatenate([py[tr], u_tr_y]),
        val=pair(np.concatenate([pendigits_inputs(pp[va]), u_va_x]), np.concatenate([py[va], u_va_y])),
        val_trajectories=[[S.pendigits_curve(p)] for p in pp[va]] + u_va_parts,
    )


def stroke_test(root: Path, limit: int, verify: bool, rng: np.random.Generator) -> dict[str, Pair]:
    """{"pendigits": .tes rows (writers never trained on), "unipen": the test donors}."""
    pp, py = data.load_pendigits(root, "test", verify)
    te = subsample(len(pp), limit, rng)
    _, ux, uy = unipen_split(data.load_unipen(root, verify), "test", limit, rng)
    return {"pendigits": pair(pendigits_inputs(pp[te]), py[te]), "unipen": pair(ux, uy)}


# ---------------------------------------------------------------- audio (FSDD)


@dataclass
class AudioSet:
    """Spoken digits: features (n, 40, 48), labels, trimmed 8 kHz waves (for augmentation), speakers
    (FSDD names; "tts:" + the person behind a text-to-speech voice), and optionally a bank of augmented
    copies of the features (copies, n, 40, 48) that training epochs draw from (train_audio.with_voice_bank)."""

    x: torch.Tensor
    y: torch.Tensor
    waves: list[np.ndarray]
    speakers: np.ndarray
    bank: torch.Tensor | None = None

    def take(self, rows: np.ndarray) -> AudioSet:
        bank = None if self.bank is None else self.bank[:, torch.from_numpy(np.asarray(rows, np.int64))]
        return AudioSet(self.x[rows], self.y[rows], [self.waves[i] for i in rows], self.speakers[rows], bank)


def _audio(clips: list, desc: str, prefix: str = "") -> AudioSet:
    waves = [A.trim(A.load_audio(c.path)) for c in progress(clips, desc)]
    x, y = pair(np.stack([A.log_mel(w) for w in waves]), [c.digit for c in clips])
    return AudioSet(x, y, waves, np.array([prefix + c.speaker for c in clips]))


def join(a: AudioSet, b: AudioSet) -> AudioSet:
    """Two sets of clips as one (banks are made after joining)."""
    if a.bank is not None or b.bank is not None:
        raise ValueError("join audio sets before making their augmentation bank")
    return AudioSet(torch.cat([a.x, b.x]), torch.cat([a.y, b.y]), a.waves + b.waves, np.concatenate([a.speakers, b.speakers]))


def audio_sets(root: Path, limit: int, rng: np.random.Generator) -> AudioSet:
    """FSDD training clips: every speaker's indices 5-49 (the epoch count is chosen by holding one speaker out)."""
    clips = data.fsdd_split(data.list_fsdd(root), "train")
    return _audio([clips[i] for i in subsample(len(clips), limit // 4, rng)], "fsdd train")


TTS_PREFIX = "tts:"  # speakers of text-to-speech clips, so that none is taken for an FSDD speaker


def tts_set(folder: Path, limit: int, verify: bool, rng: np.random.Generator) -> AudioSet:
    """Every spoken digit in a scripts/make_tts_digits.sh folder; speakers are "tts:" + the voice's speaker."""
    clips = data.list_tts(folder=folder, verify=verify)
    return _audio([clips[i] for i in subsample(len(clips), limit // 4, rng)], "tts digits", TTS_PREFIX)


def audio_test(root: Path, limit: int, rng: np.random.Generator) -> AudioSet:
    """FSDD indices 0-4 of every speaker and digit (the customary test split)."""
    clips = data.fsdd_split(data.list_fsdd(root), "test")
    return _audio([clips[i] for i in subsample(len(clips), limit, rng)], "fsdd test")


def audio_all(root: Path) -> AudioSet:
    """All 3,000 FSDD clips, for leave-one-speaker-out."""
    return _audio(data.list_fsdd(root), "fsdd all")


def held_out_speaker(audio: AudioSet, speaker: str | tuple[str, ...] = data.FSDD_VAL_SPEAKER) -> tuple[AudioSet, AudioSet]:
    """(every other speaker's clips, the clips of `speaker`, or of every speaker in a tuple)."""
    out = np.isin(audio.speakers, [speaker] if isinstance(speaker, str) else list(speaker))
    return audio.take(np.flatnonzero(~out)), audio.take(np.flatnonzero(out))


# ---------------------------------------------------------------- drawings (the Draw tab)


def to_canvas(parts: list[np.ndarray], size: int = CANVAS, margin: float = CANVAS_MARGIN) -> list[np.ndarray]:
    """Pen paths (y up, any units) -> canvas strokes (pixels, y down), centred with a margin, as a person draws them."""
    pts = np.concatenate(parts)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    f = size * (1 - 2 * margin) / max(float((hi - lo).max()), 1e-9)
    c = (lo + hi) / 2
    return [np.stack([size / 2 + (p[:, 0] - c[0]) * f, size / 2 - (p[:, 1] - c[1]) * f], axis=1) for p in parts]


def draw_canvas(strokes: list, size: int = CANVAS, width: int = CANVAS_PEN) -> np.ndarray:
    """Canvas strokes -> (size, size, 4) uint8: black ink on transparent, as the browser canvas exports it."""
    img = np.zeros((size, size, 4), np.uint8)
    for s in strokes:
        pts = np.round(np.asarray(s)[:, :2]).astype(np.int32)
        cv2.polylines(img, [pts], False, (0, 0, 0, 255), width, cv2.LINE_AA)
    return img


def drawing_inputs(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One pen path (y up) -> (28x28 uint8 image, stroke input vector) through the canvas path."""
    strokes = to_canvas(parts)
    return to_mnist(draw_canvas(strokes)), S.strokes_to_input(strokes, y_down=True)


@dataclass
class Drawings:
    """Digits drawn on the canvas: the same drawing as an image and as strokes."""

    image: torch.Tensor  # (n, 28, 28) float 0..1
    strokes: torch.Tensor  # (n, INPUT_SIZE)
    y: torch.Tensor
    source: np.ndarray  # "pendigits" or "unipen" per drawing

    def take(self, rows: np.ndarray) -> Drawings:
        return Drawings(self.image[rows], self.strokes[rows], self.y[rows], self.source[rows])


def make_drawings(trajectories: list[list[np.ndarray]], y: np.ndarray, source: np.ndarray) -> Drawings:
    imgs, strokes = zip(*(drawing_inputs(p) for p in progress(trajectories, "drawings")))
    x_img, yy = pair(np.stack(imgs).astype(np.float32) / 255.0, y)
    return Drawings(x_img, pair(np.stack(strokes), y)[0], yy, np.asarray(source))


def drawings(root: Path, split: str, limit: int, verify: bool, rng: np.random.Generator) -> Drawings:
    """pendigits rows and UNIPEN donors of `split` (val: the last pendigits .tra rows and the
    validation donors; test: pendigits .tes and the test donors) drawn on the canvas."""
    if split == "val":
        pp, py = data.load_pendigits(root, "train", verify)
        rows = len(pp) - val_size(len(pp), data.PENDIGITS_VAL) + subsample(val_size(len(pp), data.PENDIGITS_VAL), limit, rng)
    elif split == "test":
        pp, py = data.load_pendigits(root, "test", verify)
        rows = subsample(len(pp), limit, rng)
    else:
        raise ValueError(f"split {split!r}; expected 'val' or 'test'")
    u_parts, _, u_y = unipen_split(data.load_unipen(root, verify), split, limit, rng)
    traj = [[S.pendigits_curve(p)] for p in pp[rows]] + u_parts
    y = np.concatenate([py[rows], u_y])
    return make_drawings(traj, y, np.array(["pendigits"] * len(rows) + ["unipen"] * len(u_parts)))


def number_on_canvas(
    digits: list[list[np.ndarray]],
    rng: np.random.Generator,
    width: int = 3 * CANVAS,
    height: int = CANVAS,
    touching: float = 0.3,
) -> list[np.ndarray]:
    """Pen paths of several digits (each a list of strokes, y up, any units) -> the canvas strokes of the
    number they make, left to right (pixels, y down), as a person writes it on a `width` x `height` canvas:
    each digit 50-70% of the height, a little up or down, with a gap of 10-40% of the height between
    neighbours, or, with probability `touching`, none (the inks of the two touch or cross slightly)."""
    placed, x = [], 0.0
    for parts in digits:
        pts = np.concatenate(parts)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        h = height * rng.uniform(0.5, 0.7)
        f = h / max(float(hi[1] - lo[1]), 1e-9, 0.2 * float(hi[0] - lo[0]))
        if placed:
            x += CANVAS_PEN * rng.uniform(-0.3, 0.7) if rng.random() < touching else height * rng.uniform(0.1, 0.4)
        dy = height * rng.uniform(-0.06, 0.06)
        placed.append([np.stack([x + (p[:, 0] - lo[0]) * f, dy - (p[:, 1] - hi[1]) * f], axis=1) for p in parts])
        x += float(hi[0] - lo[0]) * f
    strokes = [s for d in placed for s in d]
    pts = np.concatenate(strokes)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    fit = min(1.0, (1 - 2 * CANVAS_MARGIN) * width / max(float(hi[0] - lo[0]), 1e-9))  # a long number is written smaller
    centre = np.array([width / 2, height / 2])
    return [centre + (s - (lo + hi) / 2) * fit for s in strokes]
