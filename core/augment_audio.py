"""Training-time augmentation of speech. Never used at inference.

Each transform imitates a way a new speaker differs from the training speakers: speaking rate,
vocal-tract length, room noise and dropouts. Drawings have their own: core/augment.py.

Speech has two recipes. `augmented_audio_features` is the original light one (speed 0.85-1.15,
a mel shift, white noise at 12-40 dB). The *voices* recipe (`voice_wave`, `voice_features`,
`voice_bank`) is a chain of small transforms in signal order, each applied with a probability
(in the style of audiomentations' `Compose`, built on librosa and scipy, which the project already
has): speed, pitch, room reverb, leading and trailing silence, white / pink / babble noise at
0-30 dB SNR, gain, a telephone or narrowband channel, clipping; then the same trimming as inference
and a log-mel whose filterbank is warped (vocal-tract-length perturbation). Six adult men (FSDD)
must stand for every voice, women's and children's included: pitch and formants are moved further
than the light recipe dared.
Each transform is a pure function of its arguments, so it can be tested alone.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from core import audio as A
from core.errors import InputError

# the light recipe
SPEED_RANGE = (0.85, 1.15)  # resampling factor: tempo and pitch together (Kaldi-style)
MEL_SHIFT = 2.0  # mel bins up or down: vocal-tract length
SNR_DB = (12.0, 40.0)
SPEC_TIME_MASK = 8  # frames
SPEC_FREQ_MASK = 6  # mel bands
# the voices recipe: (probability, range) per transform, in signal order
VOICE_SPEED = (0.8, 0.8, 1.25)  # probability, low, high: resampling factor, tempo and pitch together (log-uniform)
VOICE_PITCH = (0.5, 5.0)  # probability, semitones up or down; duration kept (phase vocoder + resampling)
VOICE_GAIN = (0.5, -24.0, 6.0)  # probability, dB: level into the channel (matters for clipping and mu-law)
VOICE_REVERB = (0.3, 0.1, 0.8)  # probability, RT60 range in s of a synthetic room
VOICE_SILENCE = (0.4, 0.4)  # probability, at most this many s of silence before and after (the noise fills it)
VOICE_NOISE = (0.7, 0.0, 30.0)  # probability, SNR range in dB for white and pink noise
BABBLE_SNR = (10.0, 30.0)  # dB: babble is other digits spoken at once; below 10 dB it is a different clip
BABBLE_TALKERS = (3, 6)  # clips summed into one babble
NOISE_KINDS = ("white", "pink", "babble")
VOICE_CHANNEL = (0.3, 4000.0, 6000.0)  # probability, range of the narrowband sample rate in Hz
TELEPHONE_BAND = (300.0, 3400.0)  # Hz, the classic telephone channel (then 8-bit mu-law, G.711)
VOICE_CLIP = (0.1, 0.2, 0.7)  # probability, clip level range as a share of the peak
VTLP = (0.7, 0.85, 1.2)  # probability, frequency warp range (>1: shorter vocal tract, as women's and children's)
VTLP_FHI = 3400.0  # Hz, the piecewise-linear warp's knee (Jaitly & Hinton 2013)
AUDIO_COPIES = 8  # augmented copies of each clip's features per training (cached; epochs cycle through them)
SPEC_MASKS = 2  # SpecAugment: this many time masks and this many frequency masks per example and epoch


# ---------------------------------------------------------------- speech: the light recipe


def augment_wave(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trimmed 8 kHz speech -> resampled (speed), edge-cropped (time shift) and noisy copy."""
    f = rng.uniform(*SPEED_RANGE)
    n = max(int(len(y) / f), 8)
    y = np.interp(np.linspace(0, len(y) - 1, n), np.arange(len(y)), y).astype(np.float32)
    cut = int(0.06 * len(y))
    a, b = rng.integers(0, cut + 1, size=2)
    y = y[a : len(y) - b]
    snr = rng.uniform(*SNR_DB)
    noise = rng.normal(0.0, np.sqrt(np.mean(y**2) / 10 ** (snr / 10)), size=len(y)).astype(np.float32)
    return y + noise


def augment_features(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(mels, frames) features -> mel-shifted (pitch / vocal tract) and SpecAugment-masked copy."""
    bands = m.shape[0]
    shift = rng.uniform(-MEL_SHIFT, MEL_SHIFT)
    src = np.clip(np.arange(bands) - shift, 0, bands - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, bands - 1)
    w = (src - i0)[:, None]
    m = m[i0] * (1 - w) + m[i1] * w
    m = m.copy()
    t = rng.integers(0, SPEC_TIME_MASK + 1)
    t0 = rng.integers(0, m.shape[1] - t + 1)
    m[:, t0 : t0 + t] = 0.0
    f = rng.integers(0, SPEC_FREQ_MASK + 1)
    f0 = rng.integers(0, bands - f + 1)
    m[f0 : f0 + f] = 0.0
    return m.astype(np.float32)


def augmented_audio_features(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trimmed speech -> features of a random variant, through the same log-mel as inference."""
    return augment_features(A.log_mel(augment_wave(y, rng)), rng)


# ---------------------------------------------------------------- speech: the voices recipe


def speed(y: np.ndarray, factor: float, sr: int = A.SAMPLE_RATE) -> np.ndarray:
    """Play faster (factor > 1) or slower: duration / factor, every frequency x factor (Kaldi's speed perturbation)."""
    import librosa

    return librosa.resample(y, orig_sr=sr * factor, target_sr=sr, res_type="soxr_hq").astype(np.float32)


def pitch_shift(y: np.ndarray, semitones: float, sr: int = A.SAMPLE_RATE) -> np.ndarray:
    """Every frequency (pitch and formants) x 2^(semitones/12), duration kept (librosa: phase vocoder + resampling)."""
    import librosa

    n_fft = 512 if len(y) >= 512 else 256  # 64 ms: short enough for 8 kHz speech, long enough for low voices
    return librosa.effects.pitch_shift(
        y, sr=sr, n_steps=semitones, n_fft=n_fft, hop_length=n_fft // 4, res_type="soxr_hq"
    ).astype(np.float32)


def gain(y: np.ndarray, db: float) -> np.ndarray:
    return (y * 10 ** (db / 20)).astype(np.float32)


def room_impulse(rt60: float, rng: np.random.Generator, sr: int = A.SAMPLE_RATE) -> np.ndarray:
    """A synthetic room: the direct sound, then exponentially decaying noise (energy -60 dB after `rt60` s)
    starting 1-10 ms later, at a random direct-to-reverberant ratio of -3..+12 dB. Unit energy."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.normal(0, 1, n) * np.exp(-6.9 * t / rt60)
    tail *= 10 ** (-rng.uniform(-3, 12) / 20) / np.sqrt(np.sum(tail**2) + 1e-12)
    h = np.zeros(n + int(rng.uniform(0.001, 0.01) * sr))
    h[0] = 1.0
    h[-n:] += tail
    return (h / np.sqrt(np.sum(h**2))).astype(np.float32)


def reverb(y: np.ndarray, rt60: float, rng: np.random.Generator, sr: int = A.SAMPLE_RATE) -> np.ndarray:
    """Convolve with `room_impulse`; the reverberant tail after the speech is kept."""
    from scipy.signal import fftconvolve

    return fftconvolve(y, room_impulse(rt60, rng, sr)).astype(np.float32)


def pad_silence(y: np.ndarray, lead_s: float, trail_s: float, sr: int = A.SAMPLE_RATE) -> np.ndarray:
    return np.concatenate([np.zeros(int(lead_s * sr), np.float32), y, np.zeros(int(trail_s * sr), np.float32)])


def noise(kind: str, n: int, rng: np.random.Generator, pool: list[np.ndarray] | None = None) -> np.ndarray:
    """n samples of "white", "pink" (power 1/f) or "babble" (3-6 clips of `pool` summed at random
    offsets, each looped to length n), unit RMS."""
    if kind == "white":
        z = rng.normal(0, 1, n)
    elif kind == "pink":
        spec = np.fft.rfft(rng.normal(0, 1, n))
        f = np.maximum(np.arange(len(spec)), 1.0)
        z = np.fft.irfft(spec / np.sqrt(f), n)
    elif kind == "babble":
        if not pool:
            raise ValueError("babble noise needs a pool of speech clips to be made from")
        z = np.zeros(n)
        for i in rng.integers(len(pool), size=int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1))):
            c = pool[int(i)]
            c = c / (np.sqrt(np.mean(c**2)) + 1e-9)
            z += np.roll(np.resize(c, n), int(rng.integers(n)))
    else:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {NOISE_KINDS}")
    return (z / (np.sqrt(np.mean(z**2)) + 1e-12)).astype(np.float32)


def add_noise(
    y: np.ndarray,
    snr_db: float,
    kind: str,
    rng: np.random.Generator,
    pool: list[np.ndarray] | None = None,
    signal_power: float | None = None,
) -> np.ndarray:
    """y + noise at `snr_db` below `signal_power` (default: the mean power of y; pass the speech's own
    power when y has been padded with silence, so the SNR is the speech's)."""
    p = float(np.mean(y**2)) if signal_power is None else signal_power
    return (y + noise(kind, len(y), rng, pool) * np.sqrt(p / 10 ** (snr_db / 10))).astype(np.float32)


@cache
def _telephone_sos() -> np.ndarray:
    from scipy.signal import butter

    return butter(8, TELEPHONE_BAND, btype="bandpass", fs=A.SAMPLE_RATE, output="sos")


def telephone(y: np.ndarray) -> np.ndarray:
    """The telephone channel: 300-3400 Hz band-pass (8th-order Butterworth), then 8-bit mu-law (G.711)."""
    import librosa
    from scipy.signal import sosfilt

    b = np.clip(sosfilt(_telephone_sos(), y), -1.0, 1.0)
    return librosa.mu_expand(librosa.mu_compress(b, mu=255, quantize=True), mu=255, quantize=True).astype(np.float32)


def narrowband(y: np.ndarray, rate: float, sr: int = A.SAMPLE_RATE) -> np.ndarray:
    """Down to `rate` Hz and back (soxr): nothing above rate/2 survives, as from a cheap codec or resampler."""
    import librosa

    low = librosa.resample(y, orig_sr=sr, target_sr=rate, res_type="soxr_hq")
    return librosa.resample(low, orig_sr=rate, target_sr=sr, res_type="soxr_hq")[: len(y)].astype(np.float32)


def clip(y: np.ndarray, level: float) -> np.ndarray:
    """Hard clipping at `level` x the peak (an overdriven microphone)."""
    c = level * float(np.abs(y).max(initial=0.0))
    return np.clip(y, -c, c).astype(np.float32)


def voice_wave(y: np.ndarray, rng: np.random.Generator, pool: list[np.ndarray] | None = None) -> tuple[np.ndarray, float]:
    """Trimmed 8 kHz speech -> (a random variant as a microphone might have recorded it, VTLP warp factor
    for its features). Without `pool` (other training clips) babble is not drawn."""
    p = rng.random(9)  # which transforms apply
    if p[0] < VOICE_SPEED[0]:
        y = speed(y, float(np.exp(rng.uniform(np.log(VOICE_SPEED[1]), np.log(VOICE_SPEED[2])))))
    if p[1] < VOICE_PITCH[0]:
        y = pitch_shift(y, float(rng.uniform(-VOICE_PITCH[1], VOICE_PITCH[1])))
    power = float(np.mean(y**2))  # the dry speech's: the room's unit-energy response spreads it, the SNR is the speech's
    if p[2] < VOICE_REVERB[0]:
        y = reverb(y, float(rng.uniform(*VOICE_REVERB[1:])), rng)
    if p[3] < VOICE_SILENCE[0]:
        y = pad_silence(y, *rng.uniform(0, VOICE_SILENCE[1], size=2))
    if p[4] < VOICE_NOISE[0]:
        kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS) if pool else 2))]
        snr = rng.uniform(*(BABBLE_SNR if kind == "babble" else VOICE_NOISE[1:]))
        y = add_noise(y, float(snr), kind, rng, pool, power)
    if p[5] < VOICE_GAIN[0]:
        y = gain(y, float(rng.uniform(*VOICE_GAIN[1:])))
    if p[6] < VOICE_CHANNEL[0]:
        y = telephone(y) if rng.random() < 0.5 else narrowband(y, float(rng.uniform(*VOICE_CHANNEL[1:])))
    if p[7] < VOICE_CLIP[0]:
        y = clip(y, float(rng.uniform(*VOICE_CLIP[1:])))
    y = np.clip(y, -1.0, 1.0)  # what any PCM recording does with a signal that is too loud
    alpha = float(rng.uniform(*VTLP[1:])) if p[8] < VTLP[0] else 1.0
    return y.astype(np.float32), alpha


@cache
def _mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=A.SAMPLE_RATE, n_fft=A.N_FFT, n_mels=A.N_MELS, fmin=A.FMIN, fmax=A.FMAX)


def warped_mel_basis(alpha: float) -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) mel filterbank read through a vocal-tract-length warp: the energy at f
    counts as if it were at alpha * f below the knee (piecewise linear above it, Nyquist fixed), so
    alpha > 1 moves formants up, as a shorter vocal tract does. alpha = 1 is librosa's filterbank."""
    fb = _mel_basis()
    if alpha == 1.0:
        return fb
    nyq = A.SAMPLE_RATE / 2
    f = np.linspace(0, nyq, fb.shape[1])
    knee = VTLP_FHI * min(alpha, 1.0) / alpha
    w = np.where(f <= knee, alpha * f, alpha * knee + (nyq - alpha * knee) * (f - knee) / (nyq - knee))
    return np.stack([np.interp(w, f, row) for row in fb]).astype(np.float32)


def log_mel_warped(y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """`audio.log_mel` with a VTLP-warped filterbank: trimmed 8 kHz speech -> (N_MELS, N_FRAMES) float32.
    alpha = 1 gives audio.log_mel's features."""
    import librosa

    s = np.abs(librosa.stft(y, n_fft=A.N_FFT, hop_length=A.HOP_LENGTH, center=True)) ** 2
    m = np.log(warped_mel_basis(alpha) @ s + 1e-6)
    return A.normalize_features(A.stretch(m, A.N_FRAMES))


def voice_features(y: np.ndarray, rng: np.random.Generator, pool: list[np.ndarray] | None = None) -> np.ndarray:
    """Trimmed speech -> features of a random voices-recipe variant, trimmed and normalized as inference
    does (audio.trim). A variant that trimming refuses (too short) falls back to the clip's own features."""
    w, alpha = voice_wave(y, rng, pool)
    try:
        w = A.trim(w)
    except InputError:
        w = y
    return log_mel_warped(w, alpha)


def voice_bank(
    waves: list[np.ndarray], copies: int, seed: int, pool: list[np.ndarray] | None = None, workers: int = 1, desc: str = "voices"
) -> np.ndarray:
    """`copies` voices-recipe variants of each clip's features, made once per training:
    (copies, len(waves), N_MELS, N_FRAMES) float32. `pool`: the clips babble is made from.

    Variant k of clip i is drawn from its own generator (seed, k, i), so the bank is the same
    whatever `workers` (processes, started fresh with spawn) computes it."""
    from tqdm import tqdm

    out = np.empty((copies, len(waves), A.N_MELS, A.N_FRAMES), np.float32)
    jobs = [(seed, copies, i, w) for i, w in enumerate(waves)]
    bar = tqdm(total=len(waves), desc=desc, leave=False, mininterval=1.0)
    if workers <= 1:
        _bank_init(pool)
        for job in jobs:
            out[:, job[2]] = _bank_item(job)
            bar.update()
    else:
        from core.workers import spawn_pool  # spawned (the parent holds torch's thread pools), ending with this process

        with spawn_pool(workers, initializer=_bank_init, initargs=(pool,)) as ex:
            for job, feats in zip(jobs, ex.map(_bank_item, jobs, chunksize=32)):
                out[:, job[2]] = feats
                bar.update()
    bar.close()
    return out


_POOL: list[np.ndarray] | None = None  # babble clips, set once per bank process


def _bank_init(pool: list[np.ndarray] | None) -> None:
    global _POOL
    _POOL = pool


def _bank_item(job: tuple) -> np.ndarray:
    seed, copies, i, w = job
    return np.stack([voice_features(w, np.random.default_rng([seed, k, i]), _POOL) for k in range(copies)])


def spec_augment(x: torch.Tensor, gen: torch.Generator, masks: int = SPEC_MASKS) -> torch.Tensor:
    """(B, mels, frames) features -> a copy with `masks` time masks (up to SPEC_TIME_MASK frames) and
    `masks` frequency masks (up to SPEC_FREQ_MASK bands) per example set to 0, the features' mean."""
    b, bands, frames = x.shape
    keep = torch.ones(b, bands, frames, dtype=torch.bool)
    for _ in range(masks):
        for axis, size, width in ((2, frames, SPEC_TIME_MASK), (1, bands, SPEC_FREQ_MASK)):
            w = torch.randint(0, width + 1, (b, 1), generator=gen)
            start = (torch.rand(b, 1, generator=gen) * (size - w + 1)).long()
            pos = torch.arange(size).view(1, -1)
            hit = (pos >= start) & (pos < start + w)  # (b, size)
            keep &= ~(hit.unsqueeze(1) if axis == 2 else hit.unsqueeze(2))
    return x * keep
