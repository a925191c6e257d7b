"""A recording of one spoken digit -> fixed-size log-mel features.

The Free Spoken Digit Dataset is mono 8 kHz, so everything is brought there first: any
sample rate, channel count or format librosa reads. Silence is trimmed, the level
normalized, and the time axis stretched to a fixed number of frames, so a slow "seven"
and a quick one look alike (speaking rate is a speaker trait, not a digit trait).
Per-band mean removal (CMN) takes out most of the microphone's colour.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from core import limits as L
from core.errors import InputError

SAMPLE_RATE = 8000  # Hz, FSDD's rate
N_FFT = 256  # 32 ms window
HOP_LENGTH = 80  # 10 ms hop
N_MELS = 40
N_FRAMES = 48  # time axis after stretching; a spoken digit is 0.3-0.9 s (30-90 hops)
TOP_DB = 30.0  # trim threshold below the peak, dB
MIN_SECONDS = 0.1  # shorter than this (after trimming) is not a word
MAX_SECONDS = L.MAX_AUDIO_SECONDS  # longer inputs are refused rather than silently cut
MAX_CHANNELS = 8  # more is a sensor array, not a microphone recording
SILENCE_PEAK = 1e-3  # peak amplitude (full scale 1.0) below which a recording is silence
CANCEL_SHARE = 0.01  # a mix of channels this much quieter than its loudest channel: channels that cancel out
LOUD_PEAK = 1e6  # float audio above this is rescaled before trimming (squares of 1e38 overflowed: "0.00 s long")
FMIN, FMAX = 60.0, 3800.0  # Hz; 8 kHz audio has nothing above 4 kHz

AudioLike = np.ndarray | str | Path


def read_audio_file(path: Path) -> tuple[np.ndarray, int]:
    """An explicit audio file -> (mono float32, rate). Size is checked before reading and decoding stops
    after MAX_SECONDS (plus a little, to tell "too long"), whatever the container claims its length is."""
    L.check_file_size(path, L.MAX_AUDIO_BYTES, "audio")
    cap = MAX_SECONDS + 0.5
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with sf.SoundFile(str(path)) as f:  # wav, flac, ogg, mp3: bounded read, no duration trust
                    sr = int(f.samplerate)
                    check_stream(path, sr, f.channels, cap)
                    y = to_mono(f.read(frames=int(cap * sr), dtype="float32", always_2d=True), axis=1)
            except sf.LibsndfileError:
                import audioread
                import librosa  # webm, m4a, ...: ffmpeg through audioread, which stops after `duration`

                check_container(path)  # ffmpeg follows what a file names (a playlist's file: entries): containers only
                reader = audioread.audio_open(str(path))  # reads the stream's header, decodes nothing yet
                try:
                    sr = int(reader.samplerate)
                    check_stream(path, sr, int(reader.channels), cap)
                except BaseException:
                    reader.close()  # no decoder process left behind
                    raise
                y, _ = librosa.load(reader, sr=None, mono=True, duration=cap)  # closes the reader
    except InputError:
        raise
    except Exception as e:  # soundfile/audioread raise many types for bad files
        raise InputError(
            f"cannot decode audio file {path.name}: {type(e).__name__}; expected wav, flac, ogg, mp3 or webm"
        ) from None
    y = np.asarray(y, dtype=np.float32)
    if len(y) / sr > MAX_SECONDS:
        raise InputError(f"recording is longer than {MAX_SECONDS:.0f} s; at most {MAX_SECONDS:.0f} s is accepted")
    if not np.isfinite(y).all():
        raise InputError("audio contains NaN or infinite samples")
    return y, sr


def container(head: bytes) -> str | None:
    """The audio container the first bytes of a file announce (after any ID3 tags: `skip_id3`), of those ffmpeg
    is given (libsndfile reads wav, flac, ogg, mp3, aiff, caf itself first), or None."""
    for name, test in CONTAINERS:
        if test(head):
            return name
    return None


CONTAINERS = (
    ("webm/matroska", lambda h: h.startswith(b"\x1a\x45\xdf\xa3")),
    ("mp4/m4a/mov", lambda h: h[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")),
    ("ogg", lambda h: h.startswith(b"OggS")),
    ("flac", lambda h: h.startswith(b"fLaC")),
    ("wav/w64/rf64/aiff", lambda h: h[:4] in (b"RIFF", b"RIFX", b"RF64", b"riff", b"FORM")),
    ("caf", lambda h: h.startswith(b"caff")),
    ("wavpack", lambda h: h.startswith(b"wvpk")),
    ("asf/wma", lambda h: h.startswith(bytes.fromhex("3026b2758e66cf11"))),
    ("amr", lambda h: h.startswith(b"#!AMR")),
    ("ac-3", lambda h: h.startswith(b"\x0b\x77")),
    ("mpeg audio (mp3, adts aac)", lambda h: len(h) > 1 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0),
)


def skip_id3(f, head: bytes) -> bytes:
    """The first bytes after the ID3v2 tags a file starts with: ffmpeg skips them before it guesses the format,
    so a playlist behind an empty ID3 tag reached its HLS reader (found in review)."""
    for _ in range(8):  # tags may repeat; more than a few is not a recording
        if not (len(head) >= 10 and head.startswith(b"ID3")):
            return head
        size = 10 + sum((b & 0x7F) << (7 * (3 - k)) for k, b in enumerate(head[6:10])) + (10 if head[5] & 0x10 else 0)
        f.seek(f.tell() - len(head) + size)
        head = f.read(16)
    return b""


def check_container(path: Path) -> None:
    """Refuse, before ffmpeg opens it, a file that is not an audio container by its first bytes. ffmpeg picks a
    demuxer by content, whatever the name: an uploaded HLS playlist (text) made it open the server's own files
    that the playlist listed, and a "live" one made it wait forever (hostile review)."""
    with open(path, "rb") as f:
        head = skip_id3(f, f.read(16))
    if container(head) is None:
        raise InputError(
            f"cannot decode audio file {path.name}: it is not an audio container (expected wav, flac, ogg, mp3, webm, "
            "m4a or another audio format)"
        )


def check_stream(path: Path, sr: int, channels: int, cap: float) -> None:
    """Refuse an audio stream from its header, before decoding: rate and channels out of bounds, or more
    samples (all channels) in `cap` seconds than limits.MAX_DECODED_SAMPLES."""
    if not L.MIN_SAMPLE_RATE <= sr <= L.MAX_SAMPLE_RATE:
        raise InputError(f"audio file {path.name} claims {sr} Hz; expected {L.MIN_SAMPLE_RATE}..{L.MAX_SAMPLE_RATE} Hz")
    if channels > MAX_CHANNELS:
        raise InputError(f"audio file {path.name} has {channels} channels; at most {MAX_CHANNELS}")
    if sr * channels * cap > L.MAX_DECODED_SAMPLES:
        raise InputError(
            f"audio file {path.name} has {channels} channels at {sr} Hz: too much to decode for a spoken digit "
            f"(at most {L.MAX_DECODED_SAMPLES // int(cap):,} samples a second, all channels); mix it down to mono "
            "or resample it to 48 kHz"
        )


def load_audio(audio: AudioLike, sample_rate: int | None = None) -> np.ndarray:
    """pathlib.Path, or 1-D/2-D array with its sample rate -> mono float32 at 8 kHz.

    A 2-D array is (channels, samples) or (samples, channels); the shorter axis is channels.
    A str is never opened as a file: request data is data.
    """
    if isinstance(audio, Path):
        y, sr = read_audio_file(audio)
        return _to_rate(y, sr)
    if isinstance(audio, (str, bytes)):
        raise InputError("audio given as a string: pass an array with sample_rate, or a pathlib.Path to open a file")
    if not isinstance(audio, np.ndarray):
        raise InputError(f"audio must be a numpy array or a path, got {type(audio).__name__}")
    if sample_rate is None:
        raise InputError("audio given as an array needs sample_rate (Hz)")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or not (L.MIN_SAMPLE_RATE <= sample_rate <= L.MAX_SAMPLE_RATE)
    ):
        raise InputError(
            f"sample_rate {sample_rate!r} is not valid; expected an integer in {L.MIN_SAMPLE_RATE}..{L.MAX_SAMPLE_RATE} Hz"
        )
    a = audio
    if a.size == 0:
        raise InputError(f"audio array has shape {audio.shape}: there are no samples")
    if a.ndim == 2:
        if min(a.shape) > MAX_CHANNELS:
            raise InputError(
                f"audio array has shape {audio.shape}; expected (samples,) or (channels, samples), "
                f"at most {MAX_CHANNELS} channels"
            )
        a = to_mono(a, axis=0 if a.shape[0] < a.shape[1] else 1)
    if a.ndim != 1:
        raise InputError(f"audio array has shape {audio.shape}; expected (samples,) or (channels, samples)")
    if len(a) / sample_rate > MAX_SECONDS:
        raise InputError(f"recording is {len(a) / sample_rate:.1f} s long; at most {MAX_SECONDS:.0f} s is accepted")
    if a.dtype == bool:
        raise InputError("audio dtype bool is not supported; expected float or integer PCM")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise InputError(f"audio dtype {a.dtype} is not supported; expected float or integer PCM")
    if not np.isfinite(a).all():
        raise InputError("audio contains NaN or infinite samples")
    return _to_rate(a, int(sample_rate))


def to_mono(a: np.ndarray, axis: int) -> np.ndarray:
    """Channels along `axis` -> their mean. Channels that cancel out (one the other inverted, as some stereo
    microphones wire it) are refused with that reason, not called a silent recording."""
    y = a.mean(axis=axis)
    if a.shape[axis] > 1 and y.size and (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        loud = max(abs(float(a.max())), abs(float(a.min())))  # no copy of the channels
        mixed = max(abs(float(y.max())), abs(float(y.min())))
        if np.isfinite(loud) and loud > 0 and mixed < CANCEL_SHARE * loud:
            raise InputError(
                "the channels cancel out when mixed to mono (one is the other turned upside down): "
                "record in mono, or send one channel"
            )
    return y


def _to_rate(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return np.ascontiguousarray(y, dtype=np.float32)


def trim(y: np.ndarray) -> np.ndarray:
    """Mono 8 kHz -> the spoken part, level-normalized to peak 0.9. Raises InputError on silence."""
    import librosa

    y = y - y.mean()  # first: a constant offset (a DC-coupled microphone) is not sound
    peak = float(np.abs(y).max(initial=0.0))
    if peak < SILENCE_PEAK:
        raise InputError("the recording is silent: no speech found (speak a digit closer to the microphone)")
    if peak > LOUD_PEAK:  # trimming is relative to the loudest frame: rescaling changes nothing but the overflow
        y = (y / np.float32(peak)).astype(np.float32)
    if len(y) >= N_FFT:
        y, _ = librosa.effects.trim(y, top_db=TOP_DB, frame_length=N_FFT, hop_length=HOP_LENGTH)
    if len(y) < MIN_SECONDS * SAMPLE_RATE:
        raise InputError(f"the speech is {len(y) / SAMPLE_RATE:.2f} s long; at least {MIN_SECONDS} s of a spoken digit is needed")
    return (y * (0.9 / np.abs(y).max())).astype(np.float32)


def log_mel(y: np.ndarray) -> np.ndarray:
    """Trimmed mono 8 kHz -> (N_MELS, N_FRAMES) float32 log-mel, per-band mean removed, unit variance."""
    import librosa

    m = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, fmin=FMIN, fmax=FMAX, center=True
    )
    m = np.log(m + 1e-6)
    return normalize_features(stretch(m, N_FRAMES))


def stretch(m: np.ndarray, n_frames: int) -> np.ndarray:
    """(bands, t) -> (bands, n_frames) by linear interpolation along time."""
    t = m.shape[1]
    src = np.linspace(0, t - 1, n_frames)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, t - 1)
    w = (src - i0).astype(np.float32)
    return m[:, i0] * (1 - w) + m[:, i1] * w


def normalize_features(m: np.ndarray) -> np.ndarray:
    """Remove each band's mean over time (the channel) and scale to unit variance overall."""
    m = m - m.mean(axis=1, keepdims=True)
    return (m / (m.std() + 1e-5)).astype(np.float32)


def audio_features(audio: AudioLike, sample_rate: int | None = None) -> np.ndarray:
    """The whole path: recording -> (N_MELS, N_FRAMES) float32 features the audio model sees."""
    return log_mel(trim(load_audio(audio, sample_rate)))
