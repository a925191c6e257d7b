"""The audio stage: FSDD (plus text-to-speech digits with --tts) through the light or the voices recipe.

The number of epochs is chosen with one FSDD speaker and cfg.tts_val_speakers held out, then the branch
is refit on every speaker (`train_audio`); `leave_one_speaker_out` measures that recipe, nested, on FSDD.
The voices recipe (core/augment_audio.py) is computed once per training into a bank of augmented
copies (`with_voice_bank`); each epoch draws from it (`audio_epoch`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core import audio as A
from core import augment_audio, data, negatives, sets
from core.config import Config
from core.errors import DataError, InputError
from core.model import DigitNet, ModelDimensions
from core.train_branch import train_branch
from core.tuples import accuracy, branch_logits

BANK_PARALLEL = 4000  # augmented clip copies from which the voices bank is made by cfg.threads processes
OUTLIER_SHARE = 0.25  # outlier exposure: generated non-digits per training clip
WORD_SHARE = 0.5  # of which spoken non-digit words, where the TTS folder has them (the hardest kind; the rest share the half)
OUTLIER_LABEL = -1  # the label of a non-digit in an AudioSet: trained towards the uniform answer (core.train_branch)
OUTLIER_PREFIX = "outlier:"  # its "speaker": the kind of non-digit it is


def audio_epoch(audio: sets.AudioSet, rng: np.random.Generator, spec_masks: int = augment_audio.SPEC_MASKS) -> tuple:
    """One epoch of augmented audio features: from the bank when there is one (a random copy of each clip,
    then fresh SpecAugment masks), otherwise the light recipe, computed now."""
    if audio.bank is None:
        x = torch.from_numpy(np.stack([augment_audio.augmented_audio_features(w, rng) for w in audio.waves]))
        return x, audio.y
    pick = torch.from_numpy(rng.integers(len(audio.bank), size=len(audio.y)))
    x = audio.bank[pick, torch.arange(len(audio.y))]
    return augment_audio.spec_augment(x, torch.Generator().manual_seed(int(rng.integers(2**31))), spec_masks), audio.y


def with_voice_bank(audio: sets.AudioSet, cfg: Config, rng: np.random.Generator, held_out: tuple[str, ...]) -> sets.AudioSet:
    """With the voices recipe: `audio` plus its bank of cfg.audio_copies augmented copies per clip (once per
    training: the recipe costs several ms a clip, an epoch of training a fraction of one). Babble is made
    from the clips of speakers not in `held_out`, so no validation voice is heard, even as noise."""
    if cfg.audio_aug == "light" or audio.bank is not None:
        return audio
    t0 = time.time()
    pool = [w for w, s, y in zip(audio.waves, audio.speakers, audio.y.tolist()) if s not in held_out and y >= 0]
    workers = cfg.threads if len(audio.waves) * cfg.audio_copies >= BANK_PARALLEL else 1  # starting processes costs seconds
    bank = augment_audio.voice_bank(audio.waves, cfg.audio_copies, int(rng.integers(2**31)), pool, workers)
    tqdm.write(f"audio: voices bank of {len(audio.waves)} clips x {cfg.audio_copies} copies in {time.time() - t0:.1f} s")
    return replace(audio, bank=torch.from_numpy(bank))


def load_words(folder: Path, keep: Callable[[str], bool]) -> list[np.ndarray]:
    """The spoken non-digit words in a TTS folder (trimmed) whose speaker `keep` accepts (its plain name)."""
    out = []
    for path, _, speaker in data.list_tts_words(folder):
        if not keep(speaker):
            continue
        try:
            out.append(A.trim(A.load_audio(path)))
        except InputError:  # too short to be taken for speech: refused before the model anyway
            pass
    return out


def training_words(cfg: Config, held_out: tuple[str, ...]) -> list[np.ndarray]:
    """The TTS voices' spoken non-digit words (trimmed), except those of speakers in `held_out` ("tts:" + name)."""
    folder = tts_dir(cfg)
    return load_words(folder, lambda s: sets.TTS_PREFIX + s not in held_out) if folder else []


def with_outliers(audio: sets.AudioSet, cfg: Config, rng: np.random.Generator, held_out: tuple[str, ...]) -> sets.AudioSet:
    """`audio` plus generated non-digits labelled OUTLIER_LABEL (outlier exposure, when cfg.audio_outliers > 0):
    noise, hum, music, reversed and babbled digits of the speakers not in `held_out`, and the non-digit words
    of the TTS voices not held out (the same voices say digits too, so a voice is never the cue). The digit
    embedding then learns that speech is not always a digit, which the calibration's check reads."""
    if not cfg.audio_outliers:
        return audio
    speech = [w for w, s in zip(audio.waves, audio.speakers) if s not in held_out]
    words = training_words(cfg, held_out)
    n = int(round(OUTLIER_SHARE * len(audio.y)))
    n_words = int(round(WORD_SHARE * n)) if words else 0
    kinds = [negatives.WORD_KIND] * n_words + [negatives.AUDIO_KINDS[i % len(negatives.AUDIO_KINDS)] for i in range(n - n_words)]
    waves, names = [], []
    for k in tqdm(kinds, desc="audio outliers", leave=False, mininterval=1.0):
        try:
            waves.append(A.trim(negatives.negative_audio(k, rng, speech, words)))
            names.append(OUTLIER_PREFIX + k)
        except InputError:  # silence after trimming: refused before the model, nothing to learn
            pass
    if not waves:
        return audio
    x = torch.from_numpy(np.stack([A.log_mel(w) for w in waves]))
    y = torch.full((len(waves),), OUTLIER_LABEL, dtype=audio.y.dtype)
    tqdm.write(f"audio: {len(waves)} generated non-digits for outlier exposure ({len(words)} TTS words to draw from)")
    return sets.join(audio, sets.AudioSet(x, y, waves, np.array(names)))


def without_outliers(audio: sets.AudioSet) -> sets.AudioSet:
    """`audio` without its outlier-exposure non-digits (what fusion and scoring read)."""
    keep = np.flatnonzero(audio.y.numpy() >= 0)
    return audio if len(keep) == len(audio.y) else audio.take(keep)


def audio_dims(cfg: Config, dims: ModelDimensions | None = None) -> ModelDimensions:
    """`dims` (default: ModelDimensions()) with the audio encoder that `cfg` asks for."""
    return replace(dims or ModelDimensions(), audio_channels=tuple(cfg.audio_channels), audio_norm=cfg.audio_norm)


def tts_dir(cfg: Config) -> Path | None:
    """The spoken-digits folder training uses: None with --no-tts, or when it has not been made."""
    if not cfg.tts:
        return None
    folder = data.tts_folder(cfg.data_dir, cfg.tts_dir)
    if not (folder / "manifest.json").is_file():
        if cfg.tts_dir:  # asked for by name: a missing folder is an error, not a quiet skip
            raise DataError(f"--tts-dir {folder} has no manifest.json; make it with scripts/make_tts_digits.sh {folder.parent}")
        return None
    return folder


def load_audio(root: Path, cfg: Config, rng: np.random.Generator, fsdd: sets.AudioSet | None = None) -> sets.AudioSet:
    """FSDD training clips (or `fsdd`), plus the text-to-speech digits where cfg and the data have them."""
    folder = tts_dir(cfg)  # first: a wrong --tts-dir fails before any loading
    audio = fsdd if fsdd is not None else sets.audio_sets(root, cfg.limit, rng)
    if folder is None:
        if cfg.tts:
            tqdm.write(f"audio: no text-to-speech digits in {data.tts_folder(root)} (scripts/make_tts_digits.sh); FSDD only")
        return audio
    return sets.join(audio, sets.tts_set(folder, cfg.limit, cfg.verify, rng))


def held_out_speakers(cfg: Config, fsdd_speaker: str) -> tuple[str, ...]:
    """The speakers the audio epochs are chosen on: one FSDD speaker and cfg.tts_val_speakers."""
    return (fsdd_speaker, *(sets.TTS_PREFIX + s for s in cfg.tts_val_speakers))


def train_audio(model: DigitNet, audio: sets.AudioSet, cfg: Config, rng, gen, val_speaker: str) -> dict:
    """Choose the number of epochs with FSDD's `val_speaker` and the TTS speakers cfg.tts_val_speakers held
    out (voice-disjoint), then refit `model` on every clip of `audio`."""
    held = held_out_speakers(cfg, val_speaker)
    rest, val = sets.held_out_speaker(audio, held)
    probe = DigitNet(model.dims)
    h, best = train_branch(
        probe,
        "audio",
        lambda e: audio_epoch(rest, rng, cfg.spec_masks),
        cfg.audio_epochs,
        cfg.audio_lr,
        replace(cfg, patience=cfg.audio_patience),
        (val.x, val.y),
        gen,
    )
    probe.eval()
    right = (branch_logits(probe, "audio", val.x).argmax(1) == val.y).numpy()
    by_speaker = {str(s): round(float(right[val.speakers == s].mean()), 5) for s in np.unique(val.speakers)}
    tqdm.write(f"audio: best epoch on held-out {', '.join(held)} is {best} ({json.dumps(by_speaker)}); refitting on all")
    h2, _ = train_branch(model, "audio", lambda e: audio_epoch(audio, rng, cfg.spec_masks), best, cfg.audio_lr, cfg, None, gen)
    return {
        "selection": h,
        "best_epoch": best,
        "refit": h2,
        "held_out_speaker": val_speaker,
        "held_out_speakers": list(held),
        "val_acc_by_speaker": by_speaker,
        "clips": {
            "train": int((audio.y >= 0).sum()),
            "tts": int(np.char.startswith(audio.speakers.astype(str), sets.TTS_PREFIX).sum()),
            "outliers": int((audio.y < 0).sum()),
        },
    }


def all_speakers(cfg: Config) -> sets.AudioSet:
    """Every FSDD clip (plus the TTS clips cfg asks for, which only ever train), for leave-one-speaker-out."""
    root = data.data_root(cfg.data_dir)
    return load_audio(root, cfg, np.random.default_rng(cfg.seed), sets.audio_all(root))


def speaker_fold(cfg: Config, everything: sets.AudioSet, k: int) -> tuple:
    """Fold k of leave-one-speaker-out, seeded as every fold is -> (the speaker that chooses its epochs, a new
    model, the other five speakers' clips (with their outlier-exposure non-digits, if cfg asks, and their voices
    bank), the left-out speaker's clips, rng, gen)."""
    s = data.FSDD_SPEAKERS[k]
    val_speaker = data.FSDD_SPEAKERS[(k + 1) % len(data.FSDD_SPEAKERS)]
    five, test = sets.held_out_speaker(everything, s)
    torch.manual_seed(cfg.seed)
    model = DigitNet(audio_dims(cfg))
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    held = held_out_speakers(cfg, val_speaker)
    five = with_voice_bank(with_outliers(five, cfg, rng, held), cfg, rng, held)  # per fold: no test voice in the babble
    return val_speaker, model, five, test, rng, gen


def leave_one_speaker_out(cfg: Config) -> dict:
    """FSDD leave-one-speaker-out with nested epoch choice: for each test speaker, the number of
    epochs is chosen with another speaker held out (the next one in FSDD_SPEAKERS, never the test
    speaker), the branch is refit on the other five, and scored on all 500 clips of the test speaker."""
    everything = all_speakers(cfg)
    out, epochs = {}, {}
    for k, s in enumerate(data.FSDD_SPEAKERS):
        t0 = time.time()
        val_speaker, model, five, test, rng, gen = speaker_fold(cfg, everything, k)
        h = train_audio(model, five, cfg, rng, gen, val_speaker)
        out[s] = round(accuracy(branch_logits(model, "audio", test.x), test.y), 5)
        epochs[s] = {"epochs_chosen_on": val_speaker, "epochs": h["best_epoch"], "seconds": round(time.time() - t0, 1)}
        tqdm.write(f"leave-one-speaker-out {s}: {out[s]} ({json.dumps(epochs[s])})")
    out["mean"] = round(float(np.mean([out[s] for s in data.FSDD_SPEAKERS])), 5)
    out["folds"] = epochs
    return out


def new_audio_encoder(model: DigitNet, dims: ModelDimensions, stages: set[str]) -> DigitNet:
    """A model with `dims`' audio encoder (trained from scratch by the audio stage) and every other weight of
    `model`. The fusion head and the calibration were fitted to the old audio encoder: retrain them too."""
    new = DigitNet(dims)
    keep = {k: v for k, v in model.state_dict().items() if not k.startswith(("audio.", "heads.audio."))}
    new.load_state_dict(keep, strict=False)
    old = model.dims
    tqdm.write(f"audio: a new encoder {dims.audio_channels} {dims.audio_norm} (was {old.audio_channels} {old.audio_norm})")
    if not {"fusion", "calibrate"} <= stages:
        tqdm.write("audio: warning: the fusion head and calibration fit the old audio encoder; add --stages fusion,calibrate")
    return new
