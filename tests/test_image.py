from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import data
from core.errors import InputError
from core.image import to_mnist
from tests import samples
from tests.conftest import need


def test_output_follows_mnist_convention():
    canvas = np.full((300, 200), 255, np.uint8)  # black ink on white paper, off centre
    canvas[40:200, 30:50] = 0
    out = to_mnist(canvas)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    ys, xs = np.nonzero(out > 60)
    assert ys.max() - ys.min() + 1 <= 21  # fitted in 20x20
    assert out[0].max() == 0 and out[:, 0].max() == 0  # white digit on black
    m = out.astype(float)
    cy = (m.sum(1) @ np.arange(28)) / m.sum()
    cx = (m.sum(0) @ np.arange(28)) / m.sum()
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1  # centred by mass


def test_polarity_and_formats_give_the_same_digit(tmp_path):
    dark_on_light = np.full((120, 120), 250, np.uint8)
    dark_on_light[20:100, 55:65] = 10
    dark_on_light[20:30, 35:65] = 10
    ref = to_mnist(dark_on_light).astype(int)
    light_on_dark = 255 - dark_on_light
    rgb = np.stack([dark_on_light] * 3, axis=-1)
    rgba = np.zeros((120, 120, 4), np.uint8)
    rgba[..., 3] = 255 - dark_on_light  # black ink on a transparent canvas
    path = tmp_path / "d.png"
    Image.fromarray(rgb).save(path)
    for other in (light_on_dark, rgb, rgba, Image.fromarray(rgb), path, dark_on_light.astype(np.float32) / 255):
        assert np.abs(to_mnist(other).astype(int) - ref).mean() < 4


def big_rgb_black_on_white(img: np.ndarray) -> np.ndarray:
    """An MNIST digit as a user would hand it over: black on white, 4x larger, RGB."""
    return np.stack([255 - np.kron(img, np.ones((4, 4), np.uint8))] * 3, -1)


def test_mnist_test_sample_keeps_its_class(recognizer):
    images, labels = samples.mnist()
    preds = recognizer.predict_batch(images=[big_rgb_black_on_white(x) for x in images])
    right = sum(p.label == y for p, y in zip(preds, labels))
    assert right >= 97, f"{right}/100 committed MNIST test digits (measured 99)"


def test_mnist_test_images_keep_their_class(recognizer):
    images, labels = data.load_mnist(need("mnist"), "test")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(images), 300, replace=False)
    # as a user would hand them over: black on white, 4x larger, RGB
    big = [np.stack([255 - np.kron(images[i], np.ones((4, 4), np.uint8))] * 3, -1) for i in idx]
    preds = recognizer.predict_batch(images=big)
    acc = np.mean([p.label == labels[i] for p, i in zip(preds, idx)])
    assert acc >= 0.98, acc  # measured 0.997 (299/300)


def test_huge_image_is_shrunk_not_refused():
    img = np.full((4000, 3000), 255, np.uint8)
    img[1000:3000, 1400:1600] = 0
    assert to_mnist(img).max() > 200


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros((50, 50), np.uint8), "blank"),
        (np.full((50, 50), 255, np.uint8), "blank"),
        (np.zeros((5, 5, 7)), "shape"),
        (np.zeros((1, 1)), "shape"),
        (np.array([[np.nan, 0], [0, 0]]), "NaN"),
        (np.zeros((4, 4), np.complex64), "dtype"),
        ("no/such/file.png", "pathlib.Path"),
        (Path("no/such/file.png"), "does not exist"),
        (3.5, "numpy array, PIL image or path"),
    ],
)
def test_bad_images_get_clear_messages(bad, words):
    with pytest.raises(InputError, match=words):
        to_mnist(bad)


def test_corrupt_image_file(tmp_path):
    f = tmp_path / "x.png"
    f.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(InputError, match="cannot read image file"):
        to_mnist(f)


def test_gigantic_image_is_refused_with_a_message():
    im = Image.new("L", (12000, 8000), 255)
    with pytest.raises(InputError, match="pixels"):
        to_mnist(im)


@pytest.mark.parametrize(
    "make",
    [
        lambda r: r.integers(0, 256, (37, 53, 4), dtype=np.uint8),  # RGBA as the canvas sends it
        lambda r: r.integers(0, 256, (37, 53, 3), dtype=np.uint8),
        lambda r: r.integers(0, 4096, (20, 30, 4), dtype=np.uint16),  # 12-bit data
        lambda r: r.random((20, 30, 4)).astype(np.float32),
        lambda r: r.random((20, 30, 3)) * 255.0,
        lambda r: np.dstack([np.full((20, 30, 3), 230, np.uint8), r.integers(0, 256, (20, 30), dtype=np.uint8)]),  # light ink
    ],
)
def test_plane_wise_gray_equals_flattening_all_channels(make):
    """to_gray (the fast path every picture takes) gives what compositing all channels in float gives."""
    from core.image import LUMA, to_gray, to_unit

    a = make(np.random.default_rng(7))
    f = to_unit(a)
    if a.shape[2] == 4:  # the formula load_gray used before to_gray, frozen here: all channels in float
        rgb, alpha = f[..., :3], f[..., 3:4]
        paper = 1.0 if float((rgb * alpha).sum() / (3 * alpha.sum())) < 0.5 else 0.0
        f = rgb * alpha + paper * (1.0 - alpha)
    np.testing.assert_allclose(to_gray(a), f[..., :3] @ LUMA, atol=1e-5)


def test_low_percentile_is_numpys():
    from core.image import low_percentile

    r = np.random.default_rng(3)
    for n in (1, 2, 5, 19, 20, 21, 1000):
        a = r.random(n).astype(np.float32)
        assert low_percentile(a, 5) == pytest.approx(float(np.percentile(a, 5)), abs=1e-6)
