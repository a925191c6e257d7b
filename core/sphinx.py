"""A second opinion on a spoken digit: PocketSphinx's stock en-us model held to the ten digit words.

The audio CNN learned from six FSDD speakers; PocketSphinx's acoustic model learned from hundreds of
speakers of US English and errs on other clips. Held to a grammar of the digit words ("oh" is zero), it
returns an n-best list of words with path scores; `evidence` turns that into one number per digit: the
log score relative to the best word, and whether the word is missing from the list at all. The
recognizer adds `weights @ evidence` to the audio branch's calibrated log-probabilities
(`combine`); the two weights are fitted on speakers the CNN never heard (core/fit_sphinx.py).

The decoder is not thread-safe and costs ~50 MB, so there is one per process, made on first use,
behind a lock. `available()` is False where the pocketsphinx wheel is missing: the recognizer then
answers from the CNN alone, as before.
"""

from __future__ import annotations

import itertools
import json
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ALIASES = {"oh": 0}  # "oh" for zero, as in phone numbers
GRAMMAR = (
    "#JSGF V1.0;\ngrammar digits;\npublic <digit> = ( " + " | ".join((*WORDS, *ALIASES)) + " );\n"
)  # one word per clip, no free vocabulary: the expert only ranks digits
SAMPLE_RATE = 16_000  # the en-us acoustic model's rate
N_BEST = 40  # hypotheses read from the lattice; each digit word appears in the first few if at all
MISSING = -1.0  # relative log score standing in for a digit absent from the n-best list
FORMAT = "digits-sphinx-expert"  # checkpoints/sphinx.json: the weights core/fit_sphinx.py fitted
VERSION = 1
FILE = "sphinx.json"
MAX_FILE_BYTES = 64 * 1024  # the file is well under 4 KB
MAX_WEIGHT = 100.0  # fitted weights are a few units; a larger one is not from core/fit_sphinx.py
MAX_SECONDS = 3.0  # trimmed speech the decoder reads at most (a digit word is under 1 s; ~10 ms a second)
LEAD_SECONDS = 0.15  # quiet put before and after a trimmed clip: the decoder expects some
LEAD_LEVEL = 0.01  # its noise level (peak 0.9 after trimming): digital zeros upset the decoder (12% more clips unread)
LEAD_SEED = 0  # the same noise every time: one clip, one answer

_lock = threading.Lock()


def available() -> bool:
    """Whether the pocketsphinx wheel (and its bundled en-us model) can be imported."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _decoder():
    import os

    from pocketsphinx import Decoder, get_model_path

    model = get_model_path()
    dec = Decoder(
        hmm=os.path.join(model, "en-us", "en-us"),
        dict=os.path.join(model, "en-us", "cmudict-en-us.dict"),
        loglevel="FATAL",
        cmn="batch",  # each clip normalized on itself, and no noise estimate carried over:
        remove_noise=False,  # with either, one request's answer would depend on the last one's
    )
    dec.add_jsgf_string("digits", GRAMMAR)
    dec.activate_search("digits")
    return dec


def to_pcm16k(wave: np.ndarray, sample_rate: int) -> bytes:
    """Mono float audio -> 16-bit PCM at 16 kHz with a little quiet noise around it, as the decoder wants.
    The noise is added at the input's rate, so that it has the speech's bandwidth (8 kHz audio has
    nothing above 4 kHz; noise that had would stand out to the decoder)."""
    import librosa

    y = np.asarray(wave, dtype=np.float32)
    n = int(LEAD_SECONDS * sample_rate)
    pad = (np.random.default_rng(LEAD_SEED).standard_normal(2 * n) * LEAD_LEVEL).astype(np.float32)
    y = np.concatenate([pad[:n], y, pad[n:]])
    if sample_rate != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return (np.clip(y, -1.0, 1.0) * 32767).astype(np.int16).tobytes()


def word_scores(pcm: bytes) -> dict[int, float]:
    """16 kHz PCM -> {digit: best natural-log path score among the n-best hypotheses naming it}."""
    out: dict[int, float] = {}
    with _lock:
        dec = _decoder()
        dec.reinit_feat()  # a fresh front end per clip: no state from the last request
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        if dec.hyp() is None:
            return out
        for h in itertools.islice(dec.nbest(), N_BEST):
            if h is None:
                break
            word = h.hypstr.strip()
            k = ALIASES.get(word, WORDS.index(word) if word in WORDS else -1)
            if k >= 0 and h.score > 0:
                out[k] = max(out.get(k, -np.inf), float(np.log(h.score)))
    return out


def evidence_from_scores(scores: dict[int, float]) -> np.ndarray:
    """{digit: log score} -> (2, 10) float32: [score - best score (0 for the best, MISSING if absent),
    1 where the digit is absent]. No hypothesis at all gives all-absent, which favours no digit."""
    rel = np.full(10, MISSING, np.float32)
    absent = np.ones(10, np.float32)
    if scores:
        best = max(scores.values())
        for k, v in scores.items():
            rel[k], absent[k] = v - best, 0.0
    if absent.all():
        rel[:] = 0.0
        absent[:] = 0.0
    return np.stack([rel, absent])


def evidence(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """A trimmed recording -> (2, 10) evidence per digit (see `evidence_from_scores`). Speech longer than
    MAX_SECONDS is no single digit word: no opinion, and the decoder's cost stays bounded."""
    if len(wave) > MAX_SECONDS * sample_rate:
        return evidence_from_scores({})
    return evidence_from_scores(word_scores(to_pcm16k(wave, sample_rate)))


def combine(log_probs: np.ndarray, ev: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(..., 10) calibrated log-probabilities, (..., 2, 10) evidence, (2,) weights -> (..., 10) log-probabilities."""
    z = log_probs + np.einsum("f,...fk->...k", np.asarray(weights, np.float32), ev)
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


def read_weights(path: Path, digits_sha256: str | None) -> np.ndarray | None:
    """The weights in `path` if they were fitted for this digits.pt and look fitted; None otherwise
    (the caller says so in the log and answers from the CNN alone)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        doc = json.loads(path.read_text())
        w = np.asarray(doc["weights"], np.float32)
        ok = doc.get("format") == FORMAT and doc.get("version") == VERSION and w.shape == (2,)
        ok = ok and bool(np.isfinite(w).all()) and float(np.abs(w).max()) <= MAX_WEIGHT
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not ok or doc.get("digits_sha256") != digits_sha256:
        return None
    return w


def add_evidence(lg: torch.Tensor, rows: torch.Tensor, evidence: dict[int, np.ndarray], w: np.ndarray, temp) -> torch.Tensor:
    """Audio logits (k, 10) of items `rows` -> logits whose calibrated log-probabilities (/ temp) have the
    expert's evidence added (`combine`), so single answers, fusion and the profile all see it."""
    t = float(temp)
    out = lg.clone()
    for j, k in enumerate(rows.tolist()):
        if k in evidence:
            lp = torch.log_softmax(lg[j] / t, dim=0).numpy()
            out[j] = torch.from_numpy(combine(lp, evidence[k], w) * t)
    return out
