"""Hostile input to the Python API and the CLI: every case gets the exact kind of answer, fast, cheaply.

Table-driven: each row is (name, call, expected). `expected` is an InputError whose message matches,
or a check on the answer. Every row runs under a time bound (MAX_SECONDS) and a memory bound
(MAX_EXTRA_MB of resident memory above what the process held before, sampled every millisecond
from /proc while the call runs). The server side of the same cases is in tests/test_hostile_app.py.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from core import DataError, InputError, checkpoint, negatives, paper, skew
from core import strokes as S

MAX_SECONDS = 2.0
MAX_EXTRA_MB = 200
SEVEN = [[[60, 50], [220, 50], [120, 250]]]  # a 7 on the 280 px canvas: bar, then the diagonal
PAGE = 4096  # bytes per page, for /proc/self/statm


class PeakRSS:
    """Context manager: the largest resident-set growth (MB) seen while its block runs."""

    def __enter__(self):
        self.base = self.peak = self._rss()
        self.stop = False
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _watch(self):
        while not self.stop:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()
        self.peak = max(self.peak, self._rss())
        self.extra_mb = (self.peak - self.base) / 2**20
        return False


def bounded(fn):
    """Run fn() under the time and memory bounds; returns (result or exception, seconds, MB)."""
    t0 = time.perf_counter()
    with PeakRSS() as m:
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 - the table decides what is right
            out = e
    return out, time.perf_counter() - t0, m.extra_mb


# ---------------------------------------------------------------- inputs made on the fly


def png_bytes(img: np.ndarray | Image.Image) -> bytes:
    buf = io.BytesIO()
    (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(buf, format="PNG")
    return buf.getvalue()


def seven_image(size: int = 200) -> np.ndarray:
    """Dark 7 on light paper, uint8 gray."""
    img = np.full((size, size), 245, np.uint8)
    f = size / 280
    pts = (np.array(SEVEN[0]) * f).astype(np.int32)
    cv2.polylines(img, [pts], False, 20, max(2, int(16 * f)), cv2.LINE_AA)
    return img


def write_wav(path: Path, y: np.ndarray, sr: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """A file with secret content that no request may reveal, and a JSON one a parser would love."""
    d = tmp_path_factory.mktemp("planted")
    (d / "secret.json").write_text(json.dumps({"strokes": SEVEN, "SECRET_KEY_42": "hunter2"}))
    (d / "list.json").write_text(json.dumps(["SECRET_STRING_43"]))
    return d


# ---------------------------------------------------------------- strokes


def stroke_cases(planted: Path):
    big_number = "[[[" + "9" * 400 + ", 1], [2, 3]]]"
    return [
        ("a path is text, not a file", str(planted / "secret.json"), "not valid JSON"),
        ("a missing path gives the same answer", str(planted / "missing.json"), "not valid JSON"),
        ("a JSON list file is not read", str(planted / "list.json"), "not valid JSON"),
        ("/etc/passwd", "/etc/passwd", "not valid JSON"),
        ("/dev/zero is not read", "/dev/zero", "not valid JSON"),
        ("file URL", "file:///etc/passwd", "not valid JSON"),
        ("50 MB of empty strokes", "[" + "[]," * (50 * 2**20 // 3) + "[]]", "bytes; at most"),
        ("16 million empty strokes as a list", [[]] * 16_000_000, "strokes given; at most"),
        ("600 empty strokes", json.dumps({"strokes": [[]] * 600}), "at most 500"),
        ("deeply nested", "[" * 100_000 + "]" * 100_000, "nested deeper"),
        ("deeply nested list", json.loads("[" * 50 + "]" * 50), "empty|not a list of points|shape"),
        ("400-digit integer", big_number, "characters; at most"),
        ("5000-digit integer", "[[[" + "1" * 5000 + ", 1], [2, 3]]]", "characters; at most"),
        ("a float that overflows", "[[[1e400, 1], [2, 3]]]", "NaN or infinite"),
        ("NaN constant", "[[[NaN, 1], [2, 3]]]", "finite numbers"),
        ("Infinity constant", '{"strokes": [[[Infinity, 1], [2, 3]]]}', "finite numbers"),
        ("huge coordinates", [[[1e300, 1], [2, 3]]], "beyond"),
        ("a Python int too large for a float", [[[10**400, 1], [2, 3]]], "numeric points"),
        ("strings for points", '{"strokes": [["a", "b"]]}', "not a list of points"),
        ("a point of 5 numbers", [[[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]], "shape"),
        ("ragged points", [[[1, 2], [1, 2, 3, 4]]], "numeric points"),
        ("a dict without strokes", {"SECRET": 1}, "no 'strokes' key"),
        ("the keys do not come back", json.dumps({"SECRET_KEY_42": 1}), "no 'strokes' key"),
        ("a number", "42", "list of strokes"),
        ("empty", "[]", "empty"),
        ("only taps", [[[1, 2]], [[5, 6]]], "one-point"),
        ("no length", [[[1, 2], [1, 2]]], "no length"),
        ("bytes that are not UTF-8", b"\xff\xfe[[[1,2]]]", "not valid JSON"),
        ("100k points in one stroke", [[[i % 300, i % 200] for i in range(100_000)]], "points"),
    ]


def test_stroke_requests_are_data(planted):
    for name, value, words in stroke_cases(planted):
        out, sec, mb = bounded(lambda v=value: S.strokes_to_input(v))
        assert isinstance(out, InputError), f"{name}: expected InputError, got {out!r}"[:300]
        assert __import__("re").search(words, str(out)), f"{name}: message {out}"
        assert "SECRET" not in str(out) and "hunter2" not in str(out), f"{name} leaked: {out}"
        assert sec <= MAX_SECONDS, f"{name}: {sec:.2f} s"
        assert mb <= MAX_EXTRA_MB, f"{name}: +{mb:.0f} MB"


def test_existing_and_missing_paths_answer_alike(planted):
    msgs = []
    for p in (planted / "secret.json", planted / "nothing.json", "/etc/passwd", "/etc/nothing"):
        with pytest.raises(InputError) as e:
            S.parse_strokes(str(p))
        msgs.append(str(e.value).replace(str(p), "X"))
    assert len(set(msgs)) == 1, msgs


def test_an_explicit_path_still_opens_a_stroke_file(planted):
    parts = S.parse_strokes(planted / "secret.json")
    assert len(parts) == 1 and parts[0].shape == (3, 2)


def test_a_drawn_number_costs_what_its_strokes_allow(recognizer):
    # Recognizer.read_strokes (the Draw tab's numbers): grouping, the line reader's render and one digit model
    # call per group must stay bounded however the strokes sit, within the stroke limits
    short = [[0, 0], [10, 5]]
    cases = [
        ("two dashes 1e6 px apart", [short, [[1e6, 0], [1e6 + 10, 5]]]),  # rendered 48 px tall: 4.6 GB wide
        ("two dashes across the whole coordinate range", [[[-9e6, 0], [-9e6 + 10, 5]], [[9e6, 0], [9e6 + 10, 5]]]),
        ("220 strokes apart, 280 on one spot", [[[30 * k, 0], [30 * k + 10, 100]] for k in range(220)]
         + [[[-500, 0], [-440, 100]]] * 280),  # grouping rescanned every pair after each merge: 10 s
    ]  # fmt: skip
    recognizer.read_strokes(SEVEN + [[[x + 300, y] for x, y in SEVEN[0]]])  # warm: a number, so the line reader runs too
    for name, strokes in cases:
        out, sec, mb = bounded(lambda v=strokes: recognizer.read_strokes(json.dumps({"strokes": v})))
        assert not isinstance(out, Exception) or isinstance(out, InputError), f"{name}: {out!r}"
        assert sec <= MAX_SECONDS and mb <= MAX_EXTRA_MB, f"{name}: {sec:.2f} s, +{mb:.0f} MB"


# ---------------------------------------------------------------- images


def image_cases(tmp: Path):
    bomb = tmp / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb)  # ~0.6 MB on disk, 144 MP decoded
    lazy = tmp / "lazy.png"
    Image.new("1", (9000, 9000)).save(lazy)  # under PIL's own guard: only ours stops it
    zero = tmp / "zero.png"
    zero.write_bytes(b"")
    text = tmp / "text.png"
    text.write_text("not an image")
    trunc = tmp / "trunc.png"
    trunc.write_bytes(png_bytes(seven_image())[:300])
    huge_file = tmp / "huge.png"
    huge_file.write_bytes(b"\x89PNG" + b"\0" * (25 * 2**20))
    return [
        ("decompression bomb PNG (path)", bomb, "pixels"),
        ("81 MP PNG opened lazily by the caller", lambda: Image.open(lazy), "pixels"),
        ("a str is not a path", str(bomb), "pathlib.Path"),
        ("zero-byte file", zero, "empty"),
        ("text named .png", text, "cannot read image"),
        ("truncated PNG", trunc, "cannot read image"),
        ("25 MB file", huge_file, "MB; at most"),
        ("/dev/zero", Path("/dev/zero"), "not a regular file"),
        ("missing file", tmp / "missing.png", "does not exist"),
        ("1x1", np.zeros((1, 1), np.uint8), "shape"),
        ("2x100000 array", np.zeros((2, 100_000), np.uint8), "blank"),
        ("5 channels", np.zeros((10, 10, 5), np.uint8), "shape"),
        ("NaN", np.full((10, 10), np.nan, np.float32), "NaN"),
        ("complex", np.zeros((10, 10), np.complex64), "dtype"),
        ("object", np.array([[None, 1], [2, 3]], dtype=object), "dtype"),
        ("a 30000x30000 array header", np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (30000, 30000), (0, 0)), "pixels"),
        ("blank", np.full((50, 50), 255, np.uint8), "blank"),
        ("a 0x0 PIL image", Image.new("L", (0, 0)), "nothing to read"),
        ("uint64 at full scale", np.full((28, 28), 2**64 - 1, np.uint64), "blank"),
    ]


def test_image_requests_are_bounded(tmp_path):
    from core.image import to_mnist

    for name, value, words in image_cases(tmp_path):
        out, sec, mb = bounded(lambda v=value: to_mnist(v() if callable(v) else v))
        assert isinstance(out, InputError), f"{name}: expected InputError, got {out!r}"[:300]
        assert __import__("re").search(words, str(out)), f"{name}: message {out}"
        assert str(tmp_path) not in str(out), f"{name}: the folder leaked: {out}"
        assert sec <= MAX_SECONDS and mb <= MAX_EXTRA_MB, f"{name}: {sec:.2f} s, +{mb:.0f} MB"


def test_a_24_megapixel_photo_file_costs_what_the_limits_say(recognizer, tmp_path):
    # a PNG (or TIFF) decodes whole, as 4 bytes a pixel in PIL: it is shrunk to about DECODE_SIDE like a JPEG's
    # draft before it becomes an array (read whole, 6000x4000 cost +230 MB, a float TIFF +370 MB)
    page = np.full((4000, 6000), 255, np.uint8)
    page[1000:3000, 2900:3100] = 0  # a "1" 2000 px tall
    for name, im in (("RGB PNG", Image.fromarray(np.stack([page] * 3, -1))), ("float TIFF", Image.fromarray(page / 255.0))):
        path = tmp_path / ("page.png" if name.endswith("PNG") else "page.tif")
        im.convert("F" if name.startswith("float") else "RGB").save(
            path, **({"compression": "tiff_adobe_deflate"} if path.suffix == ".tif" else {})
        )
        out, sec, mb = bounded(lambda p=path: recognizer.read(p))
        assert not isinstance(out, Exception) and out.text == "1", f"{name}: {out!r}"
        assert mb <= MAX_EXTRA_MB, f"{name}: +{mb:.0f} MB"


def test_palette_one_bit_and_transparent_pictures_cost_what_the_limits_say(recognizer, tmp_path):
    # hostile review: a 46 KB palette PNG of 6000x4000 cost +1.1 GB in `read` (reduce() refuses palettes, so it
    # was kept whole), a 4095x4095 RGBA PNG +765 MB and a 24 MP RGBA array +1 GB (float copies of every channel)
    page = np.full((4000, 6000), 255, np.uint8)
    page[1000:3000, 2900:3100] = 0
    square = np.full((4095, 4095), 255, np.uint8)
    square[1000:3000, 1900:2100] = 0
    files = {
        "palette PNG 6000x4000": Image.fromarray(page).convert("P"),
        "1-bit PNG 6000x4000": Image.fromarray(page).convert("1"),
        "palette PNG 4095x4095": Image.fromarray(square).convert("P"),
        "RGBA PNG 4095x4095": Image.fromarray(np.dstack([square] * 3 + [np.full_like(square, 255)])),
    }
    items: list[tuple[str, object]] = []
    for k, (name, im) in enumerate(files.items()):
        im.save(tmp_path / f"{k}.png")
        items.append((name, tmp_path / f"{k}.png"))
    del files
    rgba = np.full((4000, 6000, 4), 255, np.uint8)
    rgba[1000:3000, 2900:3100, :3] = 0
    items.append(("RGBA array 6000x4000", rgba))
    deep = tmp_path / "16bit.png"  # 16-bit grey is another mode reduce() refuses: it was refused outright (review)
    deep_page = np.full((2053, 4106), 65535, np.uint16)
    deep_page[500:1500, 2000:2100] = 0
    Image.fromarray(deep_page).save(deep)
    items.append(("16-bit PNG 4106x2053", deep))
    for name, x in items:
        for call in ("read", "predict"):
            fn = (lambda x=x: recognizer.read(x)) if call == "read" else (lambda x=x: recognizer.predict(image=x))
            out, sec, mb = bounded(fn)
            assert not isinstance(out, Exception), f"{name}, {call}: {out!r}"
            assert (out.text if call == "read" else str(out.label)) == "1", f"{name}, {call}: {out!r}"
            assert mb <= MAX_EXTRA_MB, f"{name}, {call}: +{mb:.0f} MB"


def test_a_24_mp_photo_of_a_turned_sheet_on_a_desk_costs_a_1600_px_one(recognizer):
    """Finding the sheet, painting the desk and turning the page back work on the photo shrunk to what is read
    (1600 px), not on the array handed over: boxes come back in its own pixels."""
    from core import synth
    from tests import samples

    x, y = samples.mnist()
    rng = np.random.default_rng(2)
    page = synth.compose(x, y, ["4711", "2024"], rng, size=(960, 720), perspective=0.0)
    turned, _ = synth.turned(page.image, 9, (640, 480))
    desk, _ = synth.on_desk(turned, rng, fill=0.6, desk=70)
    big = cv2.resize(desk, (6000, 4000), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(desk, (1600, 1067), interpolation=cv2.INTER_AREA)
    sheet = paper.cut_sheet(small)
    assert sheet is not None and skew.text_angle(sheet.image[..., 0]) != 0.0  # both at work
    out, sec, mb = bounded(lambda: recognizer.read(big))
    assert not isinstance(out, Exception), repr(out)
    assert out.text == "4711\n2024" and mb <= MAX_EXTRA_MB, (out.text, f"+{mb:.0f} MB")
    for d in out.digits:
        bx, by, bw, bh = d.box
        assert 0 <= bx and bx + bw <= 6000 and 0 <= by and by + bh <= 4000
        assert big[by : by + bh, bx : bx + bw].min() < 100  # on the ink, in the array's own pixels


def colour_variants(tmp: Path) -> list[tuple[str, object]]:
    """The same 7 in every colour model and bit depth a user may hand over."""
    gray = seven_image()
    rgb = Image.fromarray(np.stack([gray] * 3, -1))
    out = []
    cmyk = tmp / "seven_cmyk.jpg"
    rgb.convert("CMYK").save(cmyk, quality=95)
    out.append(("CMYK JPEG", cmyk))
    out.append(("LAB", rgb.convert("LAB")))
    out.append(("HSV", rgb.convert("HSV")))
    out.append(("palette", rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)))
    out.append(("12-bit in uint16", (gray.astype(np.uint16) * 16)))
    out.append(("10-bit in uint16", (gray.astype(np.uint16) * 4)))
    out.append(("16-bit PNG", Image.fromarray(gray.astype(np.uint16) * 257)))
    out.append(("float 0..1", gray.astype(np.float32) / 255))
    out.append(("float 0..255", gray.astype(np.float64)))
    ink = (255 - gray).astype(np.uint8)
    out.append(("black ink only in alpha", np.dstack([np.zeros_like(gray)] * 3 + [ink])))
    out.append(("white ink only in alpha", np.dstack([np.full_like(gray, 255)] * 3 + [ink])))
    out.append(("white on black", 255 - gray))
    out.append(("LA mode", Image.fromarray(np.dstack([np.zeros_like(gray), ink]), "LA")))
    return out


def test_colour_models_and_bit_depths_read_the_same_digit(recognizer, tmp_path):
    ref = recognizer.predict(image=seven_image())
    assert ref.label == 7, ref.top()
    for name, value in colour_variants(tmp_path):
        p = recognizer.predict(image=value)
        assert p.label == 7, f"{name}: read {p.top()}"
        assert abs(p.confidence - ref.confidence) < 0.1, f"{name}: {p.confidence:.3f} vs {ref.confidence:.3f}"


def test_read_never_raises_on_a_picture_that_decodes(recognizer):
    rng = np.random.default_rng(0)
    shapes = [(8, 8), (9, 300), (300, 9), (2, 100_000), (100_000, 2), (4000, 4000), (20, 600)]
    for h, w in shapes:
        for fill in ("blank", "noise", "ink"):
            img = {"blank": np.full((h, w), 255, np.uint8), "noise": rng.integers(0, 256, (h, w), dtype=np.uint8)}.get(
                fill, np.where(rng.random((h, w)) < 0.3, 0, 255).astype(np.uint8)
            )
            out, sec, mb = bounded(lambda i=img: recognizer.read(i))
            assert not isinstance(out, Exception), f"{h}x{w} {fill}: {out!r}"
            assert sec <= MAX_SECONDS, f"{h}x{w} {fill}: {sec:.2f} s"


# ---------------------------------------------------------------- audio


def audio_cases(tmp: Path):
    long = write_wav(tmp / "long.wav", np.zeros(8000 * 600, np.float32))
    liar = tmp / "liar.wav"
    head = write_wav(tmp / "short.wav", np.sin(np.arange(8000) / 5.0).astype(np.float32)).read_bytes()
    liar.write_bytes(head[:40] + (2**31 - 1).to_bytes(4, "little") + head[44:])  # data chunk claims 2 GB
    zero = tmp / "zero.wav"
    zero.write_bytes(b"")
    junk = tmp / "junk.webm"
    junk.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 40)
    flac = tmp / "wide.flac"
    __import__("soundfile").write(flac, np.zeros((384_000 * 29, 8), np.int16), 384_000, format="FLAC")
    return [
        ("10 minutes of wav", long, "at most 30 s"),
        ("a str is not a path", str(long), "pathlib.Path"),
        ("zero-byte file", zero, "empty"),
        ("junk webm", junk, "cannot decode"),
        ("/dev/zero", Path("/dev/zero"), "not a regular file"),
        ("an hour as an array", (np.zeros(3600 * 8000, np.float32), 8000), "at most 30 s"),
        ("sample rate 0", (np.zeros(8000, np.float32), 0), "sample_rate"),
        ("sample rate True", (np.zeros(8000, np.float32), True), "sample_rate"),
        ("sample rate 1e9", (np.zeros(8000, np.float32), 10**9), "sample_rate"),
        ("1000 channels", (np.zeros((1000, 8000), np.float32), 8000), "channels"),
        ("NaN samples", (np.full(8000, np.nan, np.float32), 8000), "NaN"),
        ("silence", (np.zeros(8000, np.float32), 8000), "silent"),
        ("bool samples", (np.zeros(8000, bool), 8000), "dtype"),
        ("a lying WAV header", liar, "."),  # any clear answer: a result or an InputError, bounded
        ("8 channels at 384 kHz, 29 s of FLAC", flac, "too much to decode"),  # 100 KB, 370 MB decoded
        ("a constant offset", (np.full(8000, 0.5, np.float32), 8000), "silent"),
    ]


def test_audio_requests_are_bounded(tmp_path):
    from core.audio import audio_features

    audio_features(np.sin(np.arange(8000) / 3.0), 8000)  # a server has librosa imported and warm before requests

    for name, value, words in audio_cases(tmp_path):
        call = (lambda v=value: audio_features(*v)) if isinstance(value, tuple) else (lambda v=value: audio_features(v))
        out, sec, mb = bounded(call)
        if name.startswith("a lying"):
            assert not isinstance(out, Exception) or isinstance(out, InputError), f"{name}: {out!r}"
        else:
            assert isinstance(out, InputError), f"{name}: expected InputError, got {out!r}"[:300]
            assert __import__("re").search(words, str(out)), f"{name}: message {out}"
        assert sec <= MAX_SECONDS and mb <= MAX_EXTRA_MB, f"{name}: {sec:.2f} s, +{mb:.0f} MB"


def test_an_uploaded_playlist_never_makes_ffmpeg_open_other_files(tmp_path):
    """ffmpeg picks its demuxer by content: an HLS playlist named clip.webm made it decode a server file the
    playlist listed (its answer told whether the file exists), and a "live" one made it wait forever, holding a
    worker (hostile review). Only audio containers reach ffmpeg, recognised by their first bytes."""
    from core.audio import audio_features, container

    secret = tmp_path / "secret.mp3"
    made = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=1", str(secret)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("ffmpeg cannot write mp3 here")
    for name, end, before in (
        ("clip.webm", "#EXT-X-ENDLIST\n", b""),
        ("live.webm", "", b""),
        ("list.m3u8", "#EXT-X-ENDLIST\n", b""),
        ("tagged.webm", "#EXT-X-ENDLIST\n", b"ID3\x04\x00\x00\x00\x00\x00\x00"),  # ffmpeg skips ID3 tags, then reads HLS
        ("tagged twice.mp3", "", b"ID3\x03\x00\x00\x00\x00\x00\x02ab" + b"ID3\x04\x00\x00\x00\x00\x00\x00"),
    ):
        playlist = tmp_path / name
        text = f"#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:{secret}\n{end}"
        playlist.write_bytes(before + text.encode())
        out, sec, mb = bounded(lambda p=playlist: audio_features(p))
        assert isinstance(out, InputError) and "not an audio container" in str(out), f"{name}: {out!r}"
        assert sec <= MAX_SECONDS and mb <= MAX_EXTRA_MB, f"{name}: {sec:.2f} s, +{mb:.0f} MB"
    for head in (b"\x1a\x45\xdf\xa3\x01", b"\0\0\0\x20ftypM4A ", b"\xff\xfb\x90\x00", b"wvpk", b"caff", b"#!AMR\n",
                 bytes.fromhex("3026b2758e66cf11a6d9"), b"\x0b\x77\x01", b"RIFF\0\0\0\0WAVE", b"FORM\0\0\0\0AIFF"):  # fmt: skip
        assert container(head), head  # what ffmpeg decoded before the check keeps being decoded (review)
    assert container(b"#EXTM3U\n") is None and container(b"ffconcat version 1.0") is None and container(b"") is None
    mp3 = tmp_path / "tagged.mp3"  # a real mp3 behind its ID3 tag passes
    encoded = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-metadata", "title=x", str(mp3)])
    if encoded.returncode == 0:
        from core.audio import check_container

        assert mp3.read_bytes()[:3] == b"ID3"
        check_container(mp3)


def test_a_stream_without_duration_stops_decoding_at_the_limit(tmp_path):
    out = tmp_path / "stream.webm"
    made = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=240", "-c:a", "libopus", "-f", "webm", "-"],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip("ffmpeg with libopus is needed to make a webm stream")
    out.write_bytes(made.stdout)  # written to a pipe: no duration, no cues
    from core.audio import audio_features

    res, sec, mb = bounded(lambda: audio_features(out))
    assert isinstance(res, InputError) and "30 s" in str(res), res
    assert sec <= MAX_SECONDS and mb <= MAX_EXTRA_MB, (sec, mb)


def test_a_stream_is_refused_on_its_header_before_decoding(tmp_path):
    # a format libsndfile does not read goes through ffmpeg: its rate is checked before any sample is decoded
    # (WavPack in Matroska: only audio containers reach ffmpeg, test_an_uploaded_playlist_never_...)
    out = tmp_path / "fast.mka"
    made = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=2000000:cl=7.1", "-t", "7", "-c:a", "wavpack", str(out)],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip("ffmpeg with wavpack is needed to make a 2 MHz stream")
    from core.audio import audio_features

    res, sec, mb = bounded(lambda: audio_features(out))  # decoded first, it cost 6 s and 1.1 GB
    assert isinstance(res, InputError) and "2000000 Hz" in str(res), res
    assert sec <= MAX_SECONDS and mb <= MAX_EXTRA_MB, (sec, mb)


# ---------------------------------------------------------------- the recognizer's contract


def test_the_api_raises_only_the_two_error_types(recognizer):
    weird = [
        {"image": object()},
        {"image": "not a path"},
        {"strokes": object()},
        {"strokes": {"strokes": [[object(), object()]]}},
        {"audio": object()},
        {"audio": np.zeros(8000), "sample_rate": "8000"},
        {"image": np.zeros((10, 10, 3), np.uint8), "strokes": "x"},
        {},
    ]
    for kw in weird:
        with pytest.raises(InputError):
            recognizer.predict(**kw)
    for bad in (2.0, float("nan"), np.bool_(True), "0.5"):
        with pytest.raises(InputError, match="threshold"):
            type(recognizer)(recognizer.model, recognizer.card, threshold=bad)
    for fine in (np.float32(0.5), np.int64(1), 0):  # numpy numbers are numbers (np.float32(0.5) was refused)
        assert type(recognizer)(recognizer.model, recognizer.card, threshold=fine).threshold == float(fine)
    for picture in (Image.new("L", (0, 0)), Image.new("RGB", (5, 0))):  # read: "raises nothing else" too
        with pytest.raises(InputError, match="nothing to read"):
            recognizer.read(picture)


def test_cli_errors_are_one_line_exit_2(tmp_path, planted):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb)
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    bigint = tmp_path / "bigint.json"
    bigint.write_text("[[[" + "9" * 5000 + ", 1], [2, 3]]]")
    for f in (bomb, nested, bigint, tmp_path / "missing.png"):
        r = subprocess.run([sys.executable, "-m", "core.predict", str(f)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (f.name, r.returncode, r.stderr[-500:])
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), (f.name, r.stderr[-500:])


# ---------------------------------------------------------------- honest confidence


def test_one_input_reports_its_branch_calibrated_probability(recognizer):
    """Fusion must not sharpen a single input: the answer is exactly the branch's calibrated answer."""
    rng = np.random.default_rng(1)
    for kw in (
        {"image": negatives.noise_image(rng)},
        {"strokes": SEVEN},
        {"audio": rng.normal(0, 0.3, 8000), "sample_rate": 8000},
    ):
        p = recognizer.predict(**kw)
        (m,) = p.by_modality
        np.testing.assert_allclose(p.probs, p.by_modality[m], atol=1e-6)
        assert p.confidence == pytest.approx(p.probs[p.label] * p.is_digit)
        assert p.sure == (p.confidence >= recognizer.threshold)


# Issue #9's target is >= 95% for every kind. Measured with the committed checkpoint on these draws:
# image 177/200 (shapes 39/40), strokes 162/200 (shapes 27/40), audio 237/240 (tones 39/40, chirps 39/40);
# scripts/benchmark_confidence.py has the full table. Image blobs and scribbles and stroke shapes miss the
# target; these floors guard what is reached, a few points below it.
@pytest.mark.parametrize("modality, kinds, floor", [
    ("image", negatives.IMAGE_KINDS, 0.84),
    ("strokes", negatives.STROKE_KINDS, 0.76),
    ("audio", ("white", "pink", "hum", "music", "tone", "chirp"), 0.95),
    ("image", ("shape",), 0.85),  # a drawn triangle, square, star, heart or arrow
    ("strokes", ("shape",), 0.55),  # the same shapes drawn on the canvas (before the wider checks: about 20%)
    ("audio", ("tone", "chirp"), 0.9),  # whistles, beeps and sweeps (before: 37% and 44%)
])  # fmt: skip
def test_non_digits_are_not_sure(recognizer, modality, kinds, floor):
    """Fresh draws (seed 2026, never used in training or calibration) answered "not sure" at the default threshold."""
    assert recognizer.threshold >= 0.3, "the checkpoint has no fitted threshold"
    rng = np.random.default_rng(2026)
    unsure, total = 0, 0
    for k in kinds:
        for _ in range(40):
            if modality == "image":
                kw = {"image": negatives.negative_image(k, rng)}
            elif modality == "strokes":
                kw = {"strokes": negatives.negative_strokes(k, rng)}
            else:
                kw = {"audio": negatives.negative_audio(k, rng), "sample_rate": 8000}
            try:
                unsure += not recognizer.predict(**kw).sure
            except InputError:  # refused before the model (blank, silent): also not an answer
                unsure += 1
            total += 1
    assert unsure / total >= floor, f"{modality}: only {unsure}/{total} not sure"


def test_fused_confidence_is_not_inflated_by_a_non_digit(recognizer):
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.3, 8000).astype(np.float32)
    alone = recognizer.predict(audio=noise, sample_rate=8000)
    both = recognizer.predict(strokes=negatives.negative_strokes("scribble", rng), audio=noise, sample_rate=8000)
    assert not alone.sure and not both.sure, (alone.confidence, both.confidence)


# ---------------------------------------------------------------- the model card


def copy_checkpoint(tmp: Path) -> Path:
    d = tmp / "ck"
    d.mkdir(parents=True)
    for name in (checkpoint.WEIGHTS_NAME, checkpoint.CARD_NAME):
        (d / name).write_bytes((checkpoint.DEFAULT_DIR / name).read_bytes())
    return d


def card_cases():
    def edit(card: dict) -> bytes:
        card["metrics"]["mnist_test"] = 0.9999
        return json.dumps(card).encode()

    def commit(card: dict) -> bytes:
        card["git_commit"] = "0" * 40
        return json.dumps(card).encode()

    def wrong_type(card: dict) -> bytes:
        card["parameters"] = "many"
        return json.dumps(card).encode()

    return [
        ("an edited metric", edit, "does not match"),
        ("an edited commit", commit, "does not match"),
        ("a wrong-typed field", wrong_type, "does not match|parameters"),
        ("not UTF-8", lambda c: b"\xff\xfe" + json.dumps(c).encode(), "not UTF-8"),
        ("deeply nested", lambda c: b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        ("not an object", lambda c: b"[1, 2]", "JSON object"),
        (
            "NaN in a metric",
            lambda c: json.dumps(c).replace('"mnist_test": ', '"mnist_test": NaN, "x": ').encode(),
            "valid JSON|NaN",
        ),
        ("huge", lambda c: b" " * (5 * 2**20) + json.dumps(c).encode(), "bytes"),
    ]


def test_the_model_card_is_covered_by_the_integrity_check(tmp_path):
    for name, change, words in card_cases():
        d = copy_checkpoint(tmp_path / name.replace(" ", "_"))
        card = json.loads((d / checkpoint.CARD_NAME).read_text())
        (d / checkpoint.CARD_NAME).write_bytes(change(card))
        out, sec, mb = bounded(lambda d=d: checkpoint.load(d))
        assert isinstance(out, DataError), f"{name}: expected DataError, got {out!r}"[:300]
        assert __import__("re").search(words, str(out)), f"{name}: {out}"
        assert sec <= MAX_SECONDS


def test_non_finite_weights_are_refused(tmp_path):
    model, card = checkpoint.load()
    with torch.no_grad():
        model.heads["image"].weight[0, 0] = float("nan")
    with pytest.raises(DataError, match="non-finite"):
        checkpoint.save(model, tmp_path / "nan", {k: v for k, v in card.items() if k != "checkpoint"})
    # and a file written by other means is refused at load
    d = copy_checkpoint(tmp_path)
    blob = torch.load(d / checkpoint.WEIGHTS_NAME, weights_only=True)
    blob["state_dict"]["heads.image.weight"][0, 0] = float("inf")
    buf = io.BytesIO()
    torch.save(blob, buf)
    (d / checkpoint.WEIGHTS_NAME).write_bytes(buf.getvalue())
    card = json.loads((d / checkpoint.CARD_NAME).read_text())
    card["checkpoint"]["sha256"] = __import__("hashlib").sha256(buf.getvalue()).hexdigest()
    (d / checkpoint.CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(DataError, match="non-finite"):
        checkpoint.load(d)
