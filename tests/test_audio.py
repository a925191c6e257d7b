import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from core import audio as A
from core import data
from core.errors import InputError
from tests import samples
from tests.conftest import need


def tone(seconds: float, sr: int = 8000, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * 440 * t) * np.hanning(len(t))).astype(np.float32)


def test_features_have_fixed_shape_whatever_the_input():
    for sr, secs in ((8000, 0.4), (16000, 1.0), (44100, 2.5), (48000, 0.3)):
        f = A.audio_features(tone(secs, sr), sr)
        assert f.shape == (A.N_MELS, A.N_FRAMES) and f.dtype == np.float32 and np.isfinite(f).all()


def test_stereo_int16_and_resampled_copies_agree():
    import librosa

    clip = samples.fsdd()[0]
    y = A.load_audio(clip.path)
    ref = A.audio_features(y, A.SAMPLE_RATE)
    y44 = librosa.resample(y, orig_sr=8000, target_sr=44100)
    stereo = np.stack([y44, y44])  # (channels, samples)
    pcm = (np.clip(y, -1, 1) * 32767).astype(np.int16)
    for other in (A.audio_features(stereo, 44100), A.audio_features(stereo.T.copy(), 44100), A.audio_features(pcm, 8000)):
        assert np.corrcoef(other.ravel(), ref.ravel())[0, 1] > 0.9


def test_fsdd_test_sample_is_recognized(recognizer):
    clips = samples.fsdd()
    preds = recognizer.predict_batch(audios=[c.path for c in clips])
    wrong = [(c.path.name, p.label) for p, c in zip(preds, clips) if p.label != c.digit]
    assert len(wrong) <= 1, f"committed FSDD test clips misheard (measured: none): {wrong}"


def test_fsdd_test_recordings_are_recognized(recognizer):
    clips = data.fsdd_split(data.list_fsdd(need("fsdd")), "test")
    preds = recognizer.predict_batch(audios=[c.path for c in clips])
    acc = np.mean([p.label == c.digit for p, c in zip(preds, clips)])
    assert acc >= 0.97, acc  # the model card says 0.983 (295/300)


def test_other_formats_decode(tmp_path):
    if not shutil.which("sox"):
        pytest.skip("sox not installed")
    clip = samples.fsdd()[7]
    ref = A.audio_features(clip.path)
    for ext in ("flac", "ogg"):
        out = tmp_path / f"c.{ext}"
        subprocess.run(["sox", str(clip.path), "-r", "22050", "-c", "2", str(out)], check=True)
        assert np.corrcoef(A.audio_features(out).ravel(), ref.ravel())[0, 1] > 0.9


def espeak(tmp_path, word: str, voice: str = "en") -> Path:
    out = tmp_path / f"{word}_{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), word], check=True, capture_output=True)
    return out


WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_espeak_speech_is_recognized(recognizer, tmp_path):
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng not installed")
    right = 0
    for voice in ("en", "en-us"):
        for d, w in enumerate(WORDS):
            right += recognizer.predict(audio=espeak(tmp_path, w, voice)).label == d
    # a synthetic voice is a new speaker the model never heard
    assert right >= 14, f"{right}/20 espeak-ng words recognized"


def write_wav(path, y, sr):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(y, -1, 1) * 32767).astype(np.int16).tobytes())


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: (np.zeros(8000, np.float32), 8000), "silent"),
        (lambda p: (tone(0.05), 8000), "at least 0.1 s"),
        (lambda p: (np.zeros(31 * 8000, np.float32), 8000), "at most 30 s"),
        (lambda p: (tone(1.0), None), "sample_rate"),
        (lambda p: (tone(1.0), 12.5), "sample_rate"),
        (lambda p: (np.full(8000, np.nan, np.float32), 8000), "NaN"),
        (lambda p: (np.zeros((2, 3, 4), np.float32), 8000), "shape"),
        (lambda p: (tone(1.0).astype(np.complex64), 8000), "dtype"),
        (lambda p: ([0.1, 0.2], 8000), "numpy array or a path"),
        # hostile review: each of these had a misleading message ("silent", "NaN", "0.00 s long")
        (lambda p: (np.stack([tone(1.0), -tone(1.0)]), 8000), "cancel out"),
        (lambda p: (np.zeros((1, 0), np.float32), 8000), "no samples"),
        (lambda p: (np.stack([tone(1.0), -tone(1.0)]).astype(np.complex64), 8000), "dtype"),
    ],
)
def test_bad_audio_gets_clear_messages(make, words, tmp_path):
    y, sr = make(tmp_path)
    with pytest.raises(InputError, match=words):
        A.audio_features(y, sr)


def test_loud_float_audio_reads_as_the_same_words(recognizer):
    """Float samples far beyond full scale (1e38) overflowed when squared for trimming: "0.00 s long"."""
    clip = samples.fsdd()[0]
    y = A.load_audio(clip.path)
    for scale in (1e3, 1e20, 1e37):
        np.testing.assert_allclose(A.trim(y * np.float32(scale)), A.trim(y), atol=1e-5)
    assert recognizer.predict(audio=y * np.float32(1e37), sample_rate=A.SAMPLE_RATE).label == clip.digit


def test_bad_audio_files(tmp_path):
    corrupt = tmp_path / "c.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(InputError, match="cannot decode"):
        A.audio_features(corrupt)
    with pytest.raises(InputError, match="does not exist"):
        A.audio_features(tmp_path / "missing.wav")
    long = tmp_path / "long.wav"
    write_wav(long, np.zeros(8000 * 600, np.float32), 8000)  # a 10-minute recording
    with pytest.raises(InputError, match="at most 30 s"):
        A.audio_features(long)


def test_the_benchmarks_new_words_are_words_no_training_voice_says():
    from core import tts
    from scripts import benchmark_audio as B

    assert not set(B.NEW_WORDS) & (set(tts.NON_DIGITS) | set(tts.WORDS) | {"oh"})
    assert set(B.NON_DIGIT_WORDS) <= set(tts.NON_DIGITS)  # the first row's words: known words, new voices
