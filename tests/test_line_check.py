"""The line reader's second opinion (core/line_check.py) and the paper the line finder adds at a crop's ends."""

from __future__ import annotations

import numpy as np
import pytest

from core import line_check, line_finder, line_model, photo
from core.line_model import Emission
from tests.test_reader import READER, written_line


def emission(label: int, p: float, centre: float, second: int | None = None) -> Emission:
    """A CTC digit read as `label` with probability p; the rest spread evenly, or to `second` (all but 1%)."""
    probs = np.full(10, (1 - p) / 9)
    if second is not None:
        probs[:] = 0.01 / 8
        probs[second] = 1 - p - 0.01
    probs[label] = p
    f = int(centre // line_model.STRIDE)
    return Emission(label=label, confidence=p, frames=(f, f), probs=probs)


def blobs_line() -> tuple[np.ndarray, list[float]]:
    """A (32, 120) normalized line: a bar at columns 10-19 alone, two bars touching at 50-59 and 60-69,
    a dot at 95-97 (no digit), and one more bar at 100-109 alone; centres of the five 'digits'."""
    img = np.zeros((line_finder.LINE_HEIGHT, 120), np.float32)
    img[6:26, 10:20] = 1.0
    img[6:26, 50:60] = 1.0
    img[14:16, 59:62] = 1.0  # the bridge that makes them touch
    img[6:26, 62:70] = 1.0
    img[24:26, 95:98] = 1.0
    img[6:26, 100:110] = 1.0
    return img, [15.0, 55.0, 66.0, 96.0, 105.0]


def test_only_digits_whose_ink_stands_alone_are_cut_out():
    img, centres = blobs_line()
    crops = line_check.clean_crops(img, centres)
    assert [c is not None for c in crops] == [True, False, False, False, True]
    assert all(c.shape == (28, 28) and c.dtype == np.uint8 and c.max() > 200 for c in crops if c is not None)


def test_a_clean_crop_is_its_own_blobs_and_keeps_its_resolution_on_a_long_line():
    bar = np.zeros((line_finder.LINE_HEIGHT, 60), np.float32)
    bar[6:26, 10:14] = 1.0  # a "1" ...
    bar[6:26, 14] = 0.2  # ... with its soft edge
    alone = line_check.clean_crops(bar, [12.0])[0]
    # a speck beside it (a blob that holds no centre) and a neighbour 3 px away are not part of its crop
    busy = bar.copy()
    busy[24:26, 16:18] = 1.0
    busy[6:26, 18:28] = 1.0
    assert np.array_equal(line_check.clean_crops(busy, [12.0, 23.0])[0], alone)
    # nor does a long line shrink it (to_mnist shrinks a picture over 512 px before it crops the ink)
    long = np.zeros((line_finder.LINE_HEIGHT, 2000), np.float32)
    long[:, 1000:1060] = bar
    assert np.array_equal(line_check.clean_crops(long, [1012.0])[0], alone)


def test_mixing_keeps_a_sure_line_reader_and_flips_an_unsure_one():
    sure, unsure = emission(3, 0.99, 8.0, second=8), emission(3, 0.55, 8.0, second=8)
    other = np.full(10, 0.01)
    other[8] = 0.91
    assert line_check.mix(sure, other).label == 3
    flipped = line_check.mix(unsure, other)
    assert flipped.label == 8 and flipped.probs.sum() == pytest.approx(1.0) and flipped.frames == unsure.frames
    # where the two disagreed the answer is unsure: the line reader gave 8 only 0.44
    assert flipped.confidence < 0.6 and flipped.confidence <= unsure.confidence
    # agreement never makes a digit surer than the line reader was
    agree = np.full(10, 0.001)
    agree[3] = 0.99
    assert line_check.mix(unsure, agree).confidence <= unsure.confidence
    assert line_check.mix(unsure, other, weight=0.0).label == 3


def test_a_sure_line_reader_is_not_outvoted_and_a_non_digit_crop_hardly_counts():
    # the line reader 97% sure of 3; the digit model saturated on 8: the floor keeps the line reader's 3
    ctc = emission(3, 0.97, 8.0, second=8)
    saturated = np.zeros(10)
    saturated[8] = 1.0
    assert line_check.mix(ctc, saturated).label == 3
    # the digit model's image check calls the crop 2% digit-like: its opinion is scaled down with it
    unsure = emission(3, 0.55, 8.0, second=8)
    other = np.full(10, 0.01)
    other[8] = 0.91
    assert line_check.mix(unsure, other).label == 8
    assert line_check.mix(unsure, other * 0.02).label == 3


def test_check_lines_asks_the_digit_model_about_clean_digits_only_once_per_picture():
    img, centres = blobs_line()
    ems = [emission(1, 0.6, c) for c in centres]
    asked = []

    def classify(crops):
        asked.append(len(crops))
        out = np.full((len(crops), 10), 0.001)
        out[:, 7] = 0.99
        return out

    (mixed, again), (crops, _) = line_check.check_lines([img, img], [ems, ems], classify)
    assert asked == [4]
    assert [e.label for e in mixed] == [e.label for e in again] == [7, 1, 1, 1, 7]
    assert mixed[1] is ems[1] and crops[1] is None
    assert line_check.check_lines([np.zeros_like(img)], [ems], classify)[0] == [ems] and asked == [4]


def test_a_crop_ending_at_its_last_digit_gets_paper_at_both_ends():
    # a tight crop: the band reaches the picture's left and right edges; the reader learned lines with paper
    gray = np.full((30, 100), 230, np.uint8)
    gray[3:27, 0:6] = 30
    gray[3:27, 94:100] = 30
    gray[14:16, 6:94] = 30
    band = (0, 3, 100, 24)
    crop = line_finder.cut(gray, band)
    margin = line_finder.MARGIN_X * band[3]
    assert crop.box[0] == -round(margin) and crop.box[2] == 100 + 2 * round(margin)
    cols = np.flatnonzero((crop.image > 0.5).any(axis=0))
    pad = round(margin) * crop.image.shape[1] / crop.box[2]
    assert cols[0] >= pad - 1 and crop.image.shape[1] - 1 - cols[-1] >= pad - 1
    assert crop.to_gray_x(cols[0]) == pytest.approx(0, abs=2) and crop.to_gray_x(cols[-1] + 1) == pytest.approx(100, abs=2)
    # above and below nothing is added: the line keeps the height the reader learned
    assert crop.box[1] == 0 and crop.box[3] == 30
    # a picture rendered with its own margin (the Draw tab's number) is cut as before, clipped to the picture
    plain = line_finder.cut(gray, band, pad=False)
    assert plain.box == (0, 0, 100, 30) and plain.image.shape[1] < crop.image.shape[1]


@pytest.mark.skipif(not READER.is_file(), reason="no committed line reader (checkpoints/reader.pt) yet")
def test_a_photo_is_read_with_the_digit_models_opinion_where_digits_stand_apart(recognizer):
    rng = np.random.default_rng(11)
    rgb = np.repeat(written_line("40718", rng, height=60)[..., None], 3, axis=2)
    seen = []

    def classify(crops):
        seen.extend(crops)
        return recognizer.classify_mnist(crops)

    r = photo.read_photo(rgb, recognizer.reader, classify, recognizer.threshold)
    assert r.text == "40718" and len(seen) == 5
    assert [d.crop is c for d, c in zip(r.digits, seen)] == [True] * 5
    touching = np.repeat(written_line("40718", rng, overlap=0.35, height=60)[..., None], 3, axis=2)
    seen.clear()
    photo.read_photo(touching, recognizer.reader, classify, recognizer.threshold)
    assert len(seen) < 5
    assert recognizer.read(rgb).text == "40718"
