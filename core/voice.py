"""One user's voice, kept as templates: Teach mode's speaker-dependent matcher for spoken digits.

The audio CNN learned from six speakers; a person it never heard says "three" in ways no linear
correction of its embedding reaches (Teach mode alone: 88.6% with one example per digit on held-out
FSDD speakers). Matching a new clip against the user's own recordings of each digit by dynamic time
warping, the oldest trick of isolated-word recognition, needs no training and is strongest exactly
where the CNN is weakest: one voice, a few repetitions. Each taught clip is kept as its cepstra
(MFCC 1-12, mean removed, float16: about 1.5 KB a clip); a new clip's distance to a digit is its
smallest length-normalized DTW distance to that digit's templates, and the recognizer adds
`-SCALE * distance` to the audio branch's calibrated logits (`evidence`).

    x = cepstra(trimmed_wave)                   # (N_CEPS, t) float32
    d = evidence(x, templates)                  # (10,) distances, untaught digits filled
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from core import audio as A

N_CEPS = 12  # MFCC 1-12 (c0, the loudness, left out); their deltas are computed when matching. 1-19 and
# 1-29, with or without deltas and delta-deltas, matched held-out FSDD speakers no better (scratch, validation theo)
N_MFCC = N_CEPS + 1
FLOOR_DB = 40.0  # the log-mel is floored this far below its peak: noise and silence between sounds stop counting
# (librosa's default 80 dB; 40 chosen on the validation users, theo and the flite voices: 30 lost theo a point at k=1)
DELTA_WIDTH = 5  # frames in the delta regression window (librosa's smallest useful odd width)
MAX_FRAMES = 100  # a template or clip longer than this (1 s of speech) is resampled down to it: bounds DTW's cost
MIN_FRAMES = 3  # shorter clips cannot be trimmed speech (MIN_SECONDS is 10 frames); refused as templates
SCALE = 0.77  # calibrated-logit units per unit of distance: core.fit_sphinx fits it on held-out FSDD speakers (0.7741)
MAX_PER_DIGIT = 10  # templates kept per digit (the newest): a profile stays under MAX_PROFILE_BYTES
DTYPE = np.float16  # as stored in a profile: cepstra are tens, float16 keeps 3 digits
FAST = {"reassoc", "contract", "arcp", "nsz", "afn"}  # numba's fastmath less "nnan" and "ninf": the recursion starts from inf


@dataclass(frozen=True)
class Templates:
    """A user's recorded digits as cepstra: `ceps[k]` is (N_CEPS, t_k) float16, `labels[k]` its digit."""

    ceps: tuple[np.ndarray, ...]
    labels: np.ndarray  # (n,) int64

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=10)

    @cached_property
    def frames(self) -> tuple[np.ndarray, ...]:
        """Each template as DTW reads it, (t_k, 2 N_CEPS) float32 with its deltas: made once, not per clip."""
        return tuple(_frames(c) for c in self.ceps)

    def plus(self, ceps: list[np.ndarray], labels: list[int]) -> Templates:
        """These templates and new ones, the newest MAX_PER_DIGIT of each digit kept."""
        all_ceps, all_labels = list(self.ceps) + list(ceps), np.concatenate([self.labels, np.asarray(labels, np.int64)])
        return keep_newest(all_ceps, all_labels)


def keep_newest(ceps: list[np.ndarray], labels: np.ndarray) -> Templates:
    keep = [k for k in range(len(labels)) if (labels[k + 1 :] == labels[k]).sum() < MAX_PER_DIGIT]
    return Templates(tuple(ceps[k].astype(DTYPE) for k in keep), labels[keep].astype(np.int64))


def cepstra(wave: np.ndarray) -> np.ndarray:
    """Trimmed mono 8 kHz speech (core.audio.trim) -> (N_CEPS, t) float32 cepstra of its log-mel (floored
    FLOOR_DB below the peak), mean removed (the channel), at most MAX_FRAMES frames."""
    import librosa

    mel = librosa.feature.melspectrogram(y=wave, sr=A.SAMPLE_RATE, n_fft=A.N_FFT, hop_length=A.HOP_LENGTH, n_mels=A.N_MELS)
    c = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=FLOOR_DB), n_mfcc=N_MFCC)[1:]
    if c.shape[1] > MAX_FRAMES:
        c = A.stretch(c, MAX_FRAMES)
    return (c - c.mean(axis=1, keepdims=True)).astype(np.float32)


def with_deltas(c: np.ndarray) -> np.ndarray:
    """(N_CEPS, t) -> (2 N_CEPS, t): cepstra and their slopes over DELTA_WIDTH frames (what DTW compares)."""
    import librosa

    c = c.astype(np.float32)
    if c.shape[1] < DELTA_WIDTH:
        return np.vstack([c, np.zeros_like(c)])
    return np.vstack([c, librosa.feature.delta(c, width=DELTA_WIDTH, mode="nearest")]).astype(np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """DTW distance of two (features, t) sequences (Euclidean frame cost, steps (1,1), (1,0), (0,1)),
    divided by the sum of their lengths so that long and short words compare."""
    return _distance(_frames(a, deltas=False), _frames(b, deltas=False))


def distances(x: np.ndarray, templates: Templates) -> np.ndarray:
    """(N_CEPS, t) cepstra of a clip -> (n,) its distance to each template."""
    xf = _frames(x)
    return np.array([_distance(xf, t) for t in templates.frames], np.float32)


def _frames(c: np.ndarray, deltas: bool = True) -> np.ndarray:
    """(features, t) -> (t, features) contiguous float32, with the deltas added first where asked."""
    return np.ascontiguousarray((with_deltas(c) if deltas else c).T, np.float32)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape[1] != b.shape[1]:  # the kernel trusts its inputs: another width would read past a row
        raise ValueError(f"frames of {a.shape[1]} and {b.shape[1]} features cannot be compared")
    return float(_kernel()(a, b)) / (a.shape[0] + b.shape[0])


def evidence(x: np.ndarray, templates: Templates) -> np.ndarray:
    """(N_CEPS, t) cepstra -> (10,) the distance to each digit's nearest template; an untaught digit gets
    the nearest taught one's (teaching some digits reorders those and never pulls an answer from the rest,
    as core.profile.fill does for the correction)."""
    if len(templates.labels) == 0:
        return np.zeros(10, np.float32)  # nothing taught: every digit alike
    return nearest(distances(x, templates)[None], templates.labels)[0]


def nearest(d: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(items, templates) distances, (templates,) their digits -> (items, 10) each digit's nearest template;
    an untaught digit gets the item's nearest taught one."""
    out = np.full((len(d), 10), np.inf, np.float32)
    for digit in np.unique(labels):
        out[:, digit] = d[:, labels == digit].min(axis=1)
    taught = np.isin(np.arange(10), labels)
    out[:, ~taught] = out[:, taught].min(axis=1, keepdims=True)
    return out


def add_evidence(lg, rows, voices: dict[int, np.ndarray], templates: Templates, temp):
    """Audio logits (k, 10) of items `rows` -> with `-SCALE * evidence` added to their calibrated logits
    (/ temp), for the items whose cepstra are in `voices` (as core.sphinx.add_evidence does for its expert)."""
    import torch

    out = lg.clone()
    for j, k in enumerate(rows.tolist()):
        if k in voices:
            out[j] = out[j] - float(temp) * SCALE * torch.from_numpy(evidence(voices[k], templates))
    return out


def _dtw(a: np.ndarray, b: np.ndarray) -> float:
    """(n, f), (m, f) frames -> the accumulated Euclidean cost of the best warping path (plain Python;
    run compiled by numba, see `_kernel`)."""
    n, m, f = a.shape[0], b.shape[0], a.shape[1]
    prev = np.full(m + 1, np.inf)
    cur = np.full(m + 1, np.inf)
    prev[0] = 0.0
    for i in range(n):
        cur[0] = np.inf
        for j in range(m):
            s = 0.0
            for k in range(f):
                d = a[i, k] - b[j, k]
                s += d * d
            cur[j + 1] = np.sqrt(s) + min(prev[j], prev[j + 1], cur[j])
        prev, cur = cur, prev
    return prev[m]


@lru_cache(maxsize=1)
def _kernel():
    """`_dtw` compiled by numba (librosa's own dependency), once per process and cached on disk where
    __pycache__ is writable (0.6 s the first time): 30 templates in about 1.5 ms, where numpy over
    anti-diagonals took 8 ms and librosa.sequence.dtw, whose checks dominate at these sizes, 8 ms too."""
    import numba

    return numba.njit(cache=True, fastmath=FAST)(_dtw)
