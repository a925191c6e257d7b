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


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_banded_rgb_equals_compositing_the_whole_picture(dtype, monkeypatch):
    """load_rgb converts RGBA and other dtypes a band of rows at a time (a 24 MP RGBA cost +1 GB whole);
    with bands smaller than the picture it gives what compositing all of it at once gives."""
    import core.image as I

    rng = np.random.default_rng(3)
    top = {np.uint8: 255, np.uint16: 4095, np.float32: 1.0}[dtype]
    a = (rng.random((53, 37, 4)) * top).astype(dtype)
    f = I.to_unit(a)
    rgb, alpha = f[..., :3], f[..., 3:4]
    paper = 1.0 if float((rgb * alpha).sum() / (3 * alpha.sum())) < 0.5 else 0.0
    want = np.clip((rgb * alpha + paper * (1.0 - alpha)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    monkeypatch.setattr(I, "ROW_BAND", 7)
    np.testing.assert_array_equal(I.load_rgb(a), want)


@pytest.mark.parametrize("side", [900, 6000])  # read whole, and shrunk by a whole factor first
def test_a_photo_stored_turned_is_read_as_shown(tmp_path, side):
    """Phones store a photo as shot and an EXIF tag says how to turn it; every orientation reads as people see it
    (hostile review: a page stored turned, tag 6, read "0\\n8", both digits "sure")."""
    from core.image import open_image

    page = np.full((side // 3, side), 255, np.uint8)
    page[:, : side // 2] = 0  # left half dark: any turn or flip shows
    page[: side // 12, :] = 128  # a grey band at the top
    undo = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_270}  # fmt: skip
    for tag in range(1, 9):
        stored = Image.fromarray(page) if tag == 1 else Image.fromarray(page).transpose(undo[tag])
        exif = stored.getexif()
        exif[0x0112] = tag
        stored.save(tmp_path / f"{tag}.png", exif=exif.tobytes())
        got = np.asarray(open_image(tmp_path / f"{tag}.png").convert("L"))
        assert got.shape[1] == 3 * got.shape[0], tag
        small = np.asarray(Image.fromarray(page).resize(got.shape[::-1], Image.BOX))
        assert np.abs(got.astype(int) - small).mean() < 3, tag


def test_a_float_picture_a_little_over_one_is_still_zero_to_one(recognizer):
    """Cubic resizing takes a 0..1 picture to 1.04; read as 0..255 it was called blank (hostile review)."""
    from core.image import to_unit

    seven = np.full((120, 120), 1.0, np.float32)
    seven[20:30, 20:100] = 0.0
    seven[30:100, 70:80] = 0.0
    for top in (1.0, 1.001, 1.04, 1.9):
        x = seven * top
        assert to_unit(x).max() == pytest.approx(top)
        assert recognizer.predict(image=x).label == recognizer.predict(image=seven).label
    assert to_unit(seven * 255.0).max() == pytest.approx(1.0)  # 0..255 floats as before
