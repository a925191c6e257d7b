"""Tiny data sets in the publishers' exact layouts, for machines without ../shared/data (the letter sets,
FEMNIST and UNIPEN 1b/1c, only for loading and splitting so far: their characters are not templates).

They are learnable (digits drawn with a font, stroke templates, tones per digit), so the
training smoke test means something on them too; checksums differ from the real files, so
loaders run with verify=False on them. Training carves its validation split from the end of
the training files (data.MNIST_VAL images, data.PENDIGITS_VAL rows), so the training files here
hold that many plus `n_images` / `n_strokes` items to train on.
"""

from __future__ import annotations

import gzip
import wave
from pathlib import Path

import cv2
import numpy as np

from core import data

FSDD_PER_SPEAKER_DIGIT = 12  # indices 0-4 are the test split, the rest train

# A rough pen path for each digit on a 0..1 square, y up.
TEMPLATES = {
    0: [(0.5, 1), (0.1, 0.7), (0.1, 0.3), (0.5, 0), (0.9, 0.3), (0.9, 0.7), (0.5, 1)],
    1: [(0.3, 0.8), (0.6, 1), (0.6, 0.5), (0.6, 0)],
    2: [(0.1, 0.8), (0.5, 1), (0.9, 0.7), (0.1, 0), (0.9, 0)],
    3: [(0.1, 0.9), (0.8, 0.9), (0.4, 0.5), (0.9, 0.25), (0.5, 0), (0.1, 0.1)],
    4: [(0.7, 0), (0.7, 1), (0.1, 0.3), (0.9, 0.3)],
    5: [(0.9, 1), (0.2, 1), (0.1, 0.55), (0.8, 0.5), (0.8, 0.1), (0.1, 0)],
    6: [(0.8, 1), (0.2, 0.5), (0.2, 0.1), (0.7, 0), (0.8, 0.4), (0.2, 0.4)],
    7: [(0.1, 1), (0.9, 1), (0.4, 0)],
    8: [(0.5, 0.5), (0.1, 0.8), (0.5, 1), (0.9, 0.8), (0.1, 0.2), (0.5, 0), (0.9, 0.2), (0.5, 0.5)],
    9: [(0.8, 0.6), (0.2, 0.6), (0.2, 1), (0.8, 1), (0.8, 0.5), (0.7, 0)],
}


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def font_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 10, size=n)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, d in enumerate(labels):
        img = np.zeros((28, 28), np.uint8)
        cv2.putText(img, str(d), (7 + rng.integers(-2, 3), 22 + rng.integers(-2, 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
        images[i] = img
    return images, labels


def template_path(d: int, rng: np.random.Generator, n: int = 24) -> np.ndarray:
    t = np.array(TEMPLATES[d], dtype=np.float64)
    seg = np.linalg.norm(np.diff(t, axis=0), axis=1)
    s = np.concatenate([[0], np.cumsum(seg)])
    u = np.linspace(0, s[-1], n)
    p = np.stack([np.interp(u, s, t[:, 0]), np.interp(u, s, t[:, 1])], 1)
    return p + rng.normal(0, 0.02, p.shape)


def make_fixture_data(root: Path, n_images: int = 2400, n_strokes: int = 1200, seed: int = 0) -> Path:
    """Write mnist/, pendigits/, unipen/, fsdd/ and femnist/ fixtures under `root`; returns root.
    Training files: validation split + n_images (n_strokes) items; test files: a third of that."""
    from core.strokes import strokes_to_pendigits

    rng = np.random.default_rng(seed)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", data.MNIST_VAL + n_images), ("test", n_images // 3)):
        x, y = font_digits(n, rng)
        write_idx(root / "mnist" / f"{data.MNIST_FILES[(split, 'images')][0]}.gz", x)
        write_idx(root / "mnist" / f"{data.MNIST_FILES[(split, 'labels')][0]}.gz", y)
    (root / "pendigits").mkdir(exist_ok=True)
    for split, n in (("train", data.PENDIGITS_VAL + n_strokes), ("test", n_strokes // 3)):
        rows = []
        for _ in range(n):
            d = int(rng.integers(0, 10))
            p = np.round(strokes_to_pendigits([template_path(d, rng)], y_down=False)).astype(int)
            rows.append(",".join(str(v) for v in p.ravel()) + f",{d}")
        (root / "pendigits" / data.PENDIGITS_FILES[split][0]).write_text("\n".join(rows) + "\n")
    sources = list(data.UNIPEN_TEST_SOURCES + data.UNIPEN_VAL_SOURCES) + ["syn", "apb"]
    pts, offsets, labels, source = [], [0], [], []
    for i in range(400):
        d = int(rng.integers(0, 10))
        p = template_path(d, rng) * 500 + 1000
        pts.append(np.concatenate([p, np.zeros((len(p), 1))], axis=1))
        offsets.append(offsets[-1] + len(p))
        labels.append(d)
        source.append(sources[i % len(sources)])
    (root / "unipen").mkdir(exist_ok=True)
    np.savez(
        root / "unipen" / data.UNIPEN_FILE[0],
        points=np.concatenate(pts).astype(np.float32),
        offsets=np.array(offsets, np.int64),
        labels=np.array(labels, np.int64),
        source=np.array(source),
        segfile=np.array([f"{s}/w{i % 7}.dat" for i, s in enumerate(source)]),
        n_strokes=np.ones(len(labels), np.int64),
    )
    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True, exist_ok=True)
    for d in range(10):
        for spk_i, spk in enumerate(data.FSDD_SPEAKERS):
            for idx in range(FSDD_PER_SPEAKER_DIGIT):
                write_tone(rec / f"{d}_{spk}_{idx}.wav", d, spk_i, rng)
    make_letter_fixtures(root, np.random.default_rng(seed + 1))  # its own stream: the digit fixtures stay as they were
    return root


def write_tone(path: Path, digit: int, speaker: int, rng: np.random.Generator, sr: int = 8000) -> None:
    """A 0.45 s 'word' of two 'syllables': a tone at f1 then a tone at f2, both set by the digit.
    (A steady sound would not do: the audio features remove each band's mean over time.)"""
    t = np.arange(int(0.45 * sr)) / sr
    half = t < t[-1] / 2
    f1 = 300 + 110 * digit + 8 * speaker
    f2 = 2500 - 160 * digit + 8 * speaker
    f = np.where(half, f1, f2) * (1 + rng.normal(0, 0.01))
    phase = 2 * np.pi * np.cumsum(f) / sr
    env = np.sin(np.pi * t / t[-1]) ** 2
    y = env * (0.5 * np.sin(phase) + 0.15 * np.sin(2 * phase)) + rng.normal(0, 0.003, len(t))
    pcm = (np.clip(y, -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


FEMNIST_WRITERS = 40  # enough that the hash split (10% val, 10% test) gives every split writers
UNIPEN_LETTER_WRITERS = 3  # per donor


def make_letter_fixtures(root: Path, rng: np.random.Generator, n_femnist: int = 400, n_letters: int = 300) -> None:
    """femnist/ and unipen/'s letters file: FEMNIST-like small thin characters somewhere in a 28x28 box
    (the whole NIST box shrunk), and random-walk pen paths with letter labels from every donor."""
    from core.classes import CHARACTERS

    labels = rng.integers(0, len(CHARACTERS), size=n_femnist)
    images = np.zeros((n_femnist, 28, 28), np.uint8)
    for i, c in enumerate(labels):
        x, y = rng.integers(3, 16), rng.integers(10, 24)
        cv2.putText(images[i], CHARACTERS[c], (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 255, 1)
    writers = np.array([f"f{i % FEMNIST_WRITERS:04d}_{i % 7:02d}" for i in range(n_femnist)])
    (root / "femnist").mkdir(parents=True, exist_ok=True)
    np.savez(root / "femnist" / data.FEMNIST_FILE[0], images=images, labels=labels.astype(np.int64), writers=writers)
    sources = list(data.UNIPEN_TEST_SOURCES + data.UNIPEN_VAL_SOURCES) + ["app", "kai"]
    pts, offsets, chars, source, writer = [], [0], [], [], []
    for i in range(n_letters):
        p = np.cumsum(rng.normal(0, 20, (int(rng.integers(5, 30)), 2)), axis=0) + 1000
        pts.append(np.concatenate([p, np.zeros((len(p), 1))], axis=1))
        offsets.append(offsets[-1] + len(p))
        chars.append(CHARACTERS[int(rng.integers(10, 62))])
        source.append(sources[i % len(sources)])
        writer.append(f"{source[-1]}/{i % UNIPEN_LETTER_WRITERS}")
    (root / "unipen").mkdir(exist_ok=True)
    np.savez(
        root / "unipen" / data.UNIPEN_LETTERS_FILE[0],
        points=np.concatenate(pts).astype(np.float32),
        offsets=np.array(offsets, np.int64),
        labels=np.array(chars),
        source=np.array(source),
        writer=np.array(writer),
        n_strokes=np.ones(len(chars), np.int64),
    )
