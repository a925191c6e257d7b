"""The generated non-digits the out-of-distribution check learns from (core/negatives.py).

Each kind must reach the model through the same preprocessing as a user's input, be reproducible
from its seed, and be what its name says (a tone is one steady pitch, a chirp sweeps)."""

import numpy as np
import pytest

from core import audio as A
from core import negatives as N
from core import strokes as S
from core.image import to_mnist


@pytest.mark.parametrize("kind", N.IMAGE_KINDS)
def test_every_image_kind_is_a_gray_picture_the_image_path_reads(kind):
    rng = np.random.default_rng(0)
    for _ in range(5):
        img = N.negative_image(kind, rng)
        assert img.dtype == np.uint8 and img.ndim == 2 and min(img.shape) >= 28
        x = to_mnist(img)
        assert x.shape == (28, 28) and x.max() > 0  # ink survives the MNIST normalization


@pytest.mark.parametrize("kind", N.STROKE_KINDS)
def test_every_stroke_kind_is_canvas_strokes_the_stroke_path_reads(kind):
    rng = np.random.default_rng(0)
    for _ in range(5):
        strokes = N.negative_strokes(kind, rng)
        pts = np.concatenate([np.asarray(s) for s in strokes])
        assert pts.min() >= 0 and pts.max() <= N.CANVAS
        x = S.strokes_to_input(strokes)
        assert x.shape == (S.INPUT_SIZE,) and np.isfinite(x).all()


@pytest.mark.parametrize("kind", [k for k in N.AUDIO_KINDS if k not in ("reversed", "babble")])
def test_every_audio_kind_is_a_bounded_clip_of_half_a_second_to_two(kind):
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = N.negative_audio(kind, rng)
        assert y.dtype == np.float32 and np.isfinite(y).all()
        assert 0.5 * A.SAMPLE_RATE <= len(y) <= 2.0 * A.SAMPLE_RATE
        assert 0.1 - 1e-6 <= np.abs(y).max() <= 0.9 + 1e-6


def test_a_seed_reproduces_every_kind():
    def draw(seed):
        rng = np.random.default_rng(seed)
        out = [N.negative_image(k, rng) for k in N.IMAGE_KINDS]
        out += [np.concatenate([np.asarray(s) for s in N.negative_strokes(k, rng)]) for k in N.STROKE_KINDS]
        return out + [N.negative_audio(k, rng) for k in ("tone", "chirp", "white")]

    a, b, c = draw(1), draw(1), draw(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("shape", N.SHAPES)
def test_every_shape_fills_the_unit_box_along_its_longer_side(shape):
    rng = np.random.default_rng(3)
    paths = N.shape_paths(rng, shape)
    pts = np.concatenate(paths)
    assert pts.min() >= -1e-9 and pts.max() <= 1 + 1e-9
    assert np.ptp(pts, axis=0).max() == pytest.approx(1.0)
    closed = {"triangle", "square", "diamond", "star", "heart"}
    ends = np.linalg.norm(paths[0][0] - paths[0][-1])
    assert (ends < 0.1) == (shape in closed), (shape, ends)  # closed outlines end where they began


def test_an_unknown_shape_is_refused():
    with pytest.raises(ValueError, match="unknown shape"):
        N.shape_paths(np.random.default_rng(0), "circle")


def _peak_hz(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / A.SAMPLE_RATE)[spec.argmax()])


def test_a_whistled_tone_holds_one_pitch_and_a_chirp_sweeps():
    rng = np.random.default_rng(4)
    held, swept = 0, 0
    for _ in range(20):
        tone, chirp = N.negative_audio("tone", rng), N.negative_audio("chirp", rng)
        q = len(tone) // 4
        held += abs(_peak_hz(tone[q : 2 * q]) - _peak_hz(tone[2 * q : 3 * q])) < 100  # beeps may change pitch
        q = len(chirp) // 8
        pitches = [_peak_hz(chirp[i * q : (i + 1) * q]) for i in range(8)]
        swept += np.ptp(pitches) > 150
    assert held >= 12 and swept >= 16, (held, swept)
