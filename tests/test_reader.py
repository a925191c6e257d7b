"""The line reader (issue #8): synthesis, line finding, the CRNN, greedy CTC decoding, boxes, and
`Recognizer.read` on top of them. Fast: a tiny or stub model, generated lines, the committed samples."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from core import DataError, Recognizer, checkpoint, data, line_finder, line_model, line_synth, reading, sets, synth
from core import strokes as S
from core.recognizer import read_lines
from core.text_metrics import character_error_rate, edit_distance
from core.train_reader import Config, collate, evaluate, lr_at
from tests import samples
from tests.conftest import need
from tests.fixtures import font_digits, template_path

TINY = line_model.LineDims(channels=(4, 8, 8, 8), hidden=8, dilations=(1,))


@pytest.fixture(scope="module")
def pool() -> line_synth.GlyphPool:
    """Real MNIST test digits (committed samples) as bitmaps, template pen paths as UNIPEN-like strokes."""
    x, y = samples.mnist()
    rng = np.random.default_rng(0)
    paths = [[template_path(d % 10, rng)] for d in range(60)]
    return line_synth.GlyphPool(bitmaps={"mnist": line_synth.bitmap_source(x, y)}, paths={"unipen": (paths, np.arange(60) % 10)})


def ink_boxes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A light page with `n` dark digits (font) on one line; their boxes."""
    x, _ = font_digits(n, rng)
    page = np.full((200, 80 + 60 * n), 235, np.uint8)
    boxes = []
    for k in range(n):
        g = cv2.resize(x[k], (56, 56), interpolation=cv2.INTER_LINEAR)
        y0, x0 = 70, 40 + 60 * k
        page[y0 : y0 + 56, x0 : x0 + 56] = np.minimum(page[y0 : y0 + 56, x0 : x0 + 56], 255 - g)
        ys, xs = np.nonzero(g > 60)
        boxes.append((x0 + xs.min(), y0 + ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
    return page, boxes


def iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


# ---------------------------------------------------------------- synthesis


def test_synthesis_is_deterministic_and_spans_fit(pool):
    a = line_synth.make_lines(pool, 12, seed=3)
    b = line_synth.make_lines(pool, 12, seed=3)
    c = line_synth.make_lines(pool, 12, seed=4)
    for p, q in zip(a, b):
        assert p.text == q.text and p.spans == q.spans and np.array_equal(p.image, q.image)
    assert [p.text for p in a] != [p.text for p in c]
    for ln in a:
        assert ln.image.dtype == np.uint8 and ln.image.ndim == 2
        assert line_synth.MIN_HEIGHT_OUT <= ln.image.shape[0] <= line_synth.MAX_HEIGHT_OUT
        assert set(ln.text) <= set("0123456789") and len(ln.text) <= line_synth.MAX_DIGITS
        assert len(ln.spans) == len(ln.text)
        for x0, x1 in ln.spans:
            assert 0 <= x0 < x1 <= ln.image.shape[1] + 1
        # dark ink on light paper, as a photo is
        assert np.median(ln.image) > ln.image.min() + 20


def test_writer_splits_are_disjoint():
    writers = np.array([f"f{k:04d}_{k % 97:02d}" for k in range(3000)])
    held = {s: set(writers[sets.writer_split(writers, s)]) for s in line_synth.SPLITS}
    assert all(held.values()), {s: len(v) for s, v in held.items()}
    assert not (held["train"] & held["val"]) and not (held["train"] & held["test"]) and not (held["val"] & held["test"])
    assert 0.05 < len(held["val"]) / 3000 < 0.15 and 0.05 < len(held["test"]) / 3000 < 0.15  # about a tenth each
    _, tr = line_synth.mnist_rows(60_000, "train")
    _, va = line_synth.mnist_rows(60_000, "val")
    assert tr[-1] < va[0] and len(va) == data.MNIST_VAL and len(tr) + len(va) == 60_000
    assert line_synth.mnist_rows(60_000, "test")[0] == "test"
    assert not set(data.UNIPEN_VAL_SOURCES) & set(data.UNIPEN_TEST_SOURCES)


def test_real_pools_hold_only_their_writers():
    root = need("mnist", "unipen")
    if not (root / "femnist" / data.FEMNIST_FILE[0]).is_file():
        pytest.skip("needs femnist/femnist_train.npz")
    f = data.load_femnist(root)
    train = set(f.writers[sets.writer_split(f.writers, "train")])
    held = set(f.writers[sets.writer_split(f.writers, "val")]) | set(f.writers[sets.writer_split(f.writers, "test")])
    assert held and not held & train
    u = data.load_unipen(root)
    assert not set(u.source[u.split_indices("train")]) & set(u.source[u.split_indices("val")])
    train, val = line_synth.load_pool(root, "train"), line_synth.load_pool(root, "val")
    # every glyph comes from its split's rows (a few blank images are skipped)
    expected = {"mnist": 60_000 - data.MNIST_VAL, "femnist": int((f.labels[sets.writer_split(f.writers, "train")] < 10).sum())}
    for name, n in expected.items():
        assert 0.99 * n <= len(train.bitmaps[name][1]) <= n, name
    assert 0.99 * data.MNIST_VAL <= len(val.bitmaps["mnist"][1]) <= data.MNIST_VAL
    assert len(val.bitmaps["femnist"][1]) <= int((f.labels[sets.writer_split(f.writers, "val")] < 10).sum())
    assert len(train.paths["unipen"][1]) <= len(u.split_indices("train"))


# ---------------------------------------------------------------- the model and the decoder


def frames(*classes: int, p: float = 0.9) -> np.ndarray:
    """Per-frame probabilities whose best class is `classes[t]` (with probability p)."""
    out = np.full((len(classes), 11), (1 - p) / 10)
    out[np.arange(len(classes)), classes] = p
    return out


def test_greedy_ctc_collapses_repeats_and_drops_blanks():
    b = line_model.BLANK
    assert line_model.text_of(line_model.greedy_decode(frames(b, 2, 2, b, 2, b))) == "11"  # a blank separates repeats
    assert line_model.text_of(line_model.greedy_decode(frames(8, 8, 8, 1, 1, b, 10))) == "709"
    assert line_model.greedy_decode(frames(b, b, b)) == []
    assert line_model.greedy_decode(np.zeros((0, 11))) == []
    e = line_model.greedy_decode(frames(b, 5, 5, 5, b, 3, b))
    assert [x.frames for x in e] == [(1, 3), (5, 5)]
    assert e[0].columns() == (4, 16) and e[1].columns() == (20, 24)
    p = frames(b, 5, 5, b)
    p[2, 5] = 0.99
    e = line_model.greedy_decode(p)[0]
    assert e.label == 4 and e.confidence == pytest.approx(0.99) and e.probs.shape == (10,) and e.probs.argmax() == 4


def test_model_shapes_size_and_ctc_step(pool):
    full = line_model.LineNet()
    assert line_model.parameter_count(full) * 4 <= 2_000_000  # float32 weights within 2 MB
    torch.manual_seed(0)
    net = line_model.LineNet(TINY)
    x, targets, in_len, tgt_len = collate(line_synth.make_lines(pool, 6, seed=1))
    assert x.shape[:3] == (6, 1, line_finder.LINE_HEIGHT) and x.shape[3] % line_model.STRIDE == 0
    assert int(tgt_len.sum()) == len(targets) and targets.min() >= 1 and targets.max() <= 10
    logp = net(x)
    assert logp.shape == (x.shape[3] // line_model.STRIDE, 6, 11)
    assert (in_len <= logp.shape[0]).all()
    loss = nn.CTCLoss(blank=line_model.BLANK, zero_infinity=True)(logp, targets, in_len, tgt_len)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_training_helpers():
    assert edit_distance("4528", "48528") == 1 and edit_distance("", "12") == 2 and edit_distance("12", "12") == 0
    assert character_error_rate(["4528", ""], ["48528", "12"]) == pytest.approx(3 / 7)
    cfg = Config(lr=1.0, warmup=0.1)
    assert lr_at(cfg, 0.0) == 0 and lr_at(cfg, 0.1) == pytest.approx(1.0) and lr_at(cfg, 1.0) == pytest.approx(0.0)


def test_checkpoint_round_trip_and_tampering(tmp_path, pool):
    torch.manual_seed(0)
    net = line_model.LineNet(TINY).eval()
    card = {"name": "t", "date": "d", "git_commit": "c", "parameters": 1, "config": {}, "metrics": {}, "history": {}}
    line_model.save(net, tmp_path / "reader.pt", {**card, "train_seconds": 1.0})
    loaded, got = line_model.load(tmp_path)
    assert got["checkpoint"]["sha256"] and loaded.dims == TINY
    lines = line_synth.make_lines(pool, 3, seed=0)
    assert evaluate(net, lines) == evaluate(loaded, lines)
    w = tmp_path / "reader.pt"
    b = bytearray(w.read_bytes())
    b[len(b) // 2] ^= 0xFF
    w.write_bytes(bytes(b))
    with pytest.raises(DataError, match="sha256"):
        line_model.load(tmp_path)


# ---------------------------------------------------------------- line finding and boxes


@pytest.mark.parametrize("n_lines", [1, 2, 3])
def test_line_finder_counts_lines_on_composed_pages(n_lines):
    x, y = samples.mnist()
    rng = np.random.default_rng(n_lines)
    for _ in range(6):
        nums = synth.random_numbers(rng, lines=n_lines, min_len=1, max_len=6)
        page = synth.compose(x, y, nums, rng)
        gray, _ = reading.to_gray_u8(page.image)
        assert len(line_finder.find_bands(gray)) == n_lines, nums


@pytest.mark.parametrize("height", [20, 40, 60])
def test_a_tight_crop_is_one_line(height):
    page, boxes = ink_boxes(4, np.random.default_rng(height))
    x0, y0 = min(b[0] for b in boxes) - 4, min(b[1] for b in boxes) - 4
    x1, y1 = max(b[0] + b[2] for b in boxes) + 4, max(b[1] + b[3] for b in boxes) + 4
    crop = page[y0:y1, x0:x1]
    crop = cv2.resize(crop, (round(crop.shape[1] * height / crop.shape[0]), height), interpolation=cv2.INTER_AREA)
    lines = line_finder.find_lines(crop)
    assert len(lines) == 1
    assert lines[0].image.shape[0] == line_finder.LINE_HEIGHT and lines[0].image.dtype == np.float32
    assert 0 <= lines[0].image.min() and lines[0].image.max() <= 1


def tight_digit(g: np.ndarray, height: int, pen: int = 1, gap: int = 0) -> np.ndarray:
    """One 28x28 MNIST digit as a tight photo crop `height` px tall: dark ink on paper, the pen thickened
    by `pen` px, optionally cut across a third of the way down by `gap` rows of paper."""
    g = cv2.dilate(g, np.ones((pen, pen), np.uint8)) if pen > 1 else g.copy()
    rows, cols = np.flatnonzero(g.max(1) > 60), np.flatnonzero(g.max(0) > 60)
    g = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    if gap:
        cut = len(g) // 3
        g[cut : cut + gap] = 0
    page = cv2.copyMakeBorder((235 - 200 * (g / 255)).astype(np.uint8), 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=235)
    f = height / page.shape[0]
    return cv2.resize(page, (max(8, round(page.shape[1] * f)), height), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("height", [30, 45, 60])
def test_a_tight_crop_of_one_bold_digit_is_one_whole_line(height):
    # a 5's, 7's or 2's bar spans a tight crop's width: it is not a rule to take out (RULE_CHARS), and a
    # digit the threshold broke in two is one line (STACK_GAP). Before both, 7 of these 24 crops at 30 px
    # were found whole (6 at 45 px, 9 at 60); now 24, 24 and 23 (a thin 5 whose bowl breaks in three stays broken)
    x, y = samples.mnist()
    whole, seen = 0, []
    for d in (2, 5, 7):
        for k in np.flatnonzero(y == d)[:4]:
            for pen, gap in ((3, 0), (1, 1)):
                bands = line_finder.find_bands(tight_digit(x[k], height, pen, gap))
                ok = len(bands) == 1 and bands[0][3] >= 0.8 * (height - 4)
                whole += ok
                seen.append((d, int(k), pen, gap, ok))
    assert whole >= 22, seen


def stacked_numbers(rows: list[tuple[int, int]], turn: float = 0.0) -> np.ndarray:
    """Rows of six committed MNIST digits (digit, rows of paper below it), dark on paper, at 2x, turned `turn` degrees."""
    x, y = samples.mnist()
    parts = []
    for d, paper in rows:
        parts += [np.concatenate([x[k] for k in np.flatnonzero(y == d)[:6]], 1), np.zeros((paper, 168), np.uint8)]
    ink = np.concatenate(parts)
    page = cv2.copyMakeBorder((235 - 200 * (ink / 255)).astype(np.uint8), 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=235)
    page = cv2.resize(page, None, fx=2, fy=2)
    turned = cv2.getRotationMatrix2D((page.shape[1] / 2, page.shape[0] / 2), turn, 1)
    return cv2.warpAffine(page, turned, page.shape[::-1], borderValue=235)


@pytest.mark.parametrize("turn", [0.0, 1.0, 2.0, 3.0])
def test_numbers_written_close_one_above_the_other_stay_lines(turn):
    # STACK_GAP joins a broken digit's pieces, never whole lines: a glyph's ink is about 20 of its 28 rows,
    # so 4 rows of paper leave lines about 0.4 of a digit apart (and a turned page makes the bands taller);
    # without STACK_HEIGHT and DIGIT_WIDE every turn of this test failed (6 rows at 1 degree: one band)
    for paper in (4, 6, 8, 10):
        bands = line_finder.find_bands(stacked_numbers([(4, paper), (6, paper), (3, paper), (2, 0)], turn))
        assert len(bands) == 4, (paper, bands)
    # two close lines and two far ones: one wrong join would make a band so tall that the others read as dust
    assert len(line_finder.find_bands(stacked_numbers([(4, 0), (6, 28), (3, 28), (2, 0)]))) == 4


def test_nothing_to_find_on_blank_and_tiny_pictures():
    for shape in [(8, 8), (20, 600), (600, 20), (300, 400)]:
        assert line_finder.find_lines(np.full(shape, 230, np.uint8)) == []
    assert line_finder.normalize_line(np.full((40, 100), 200, np.uint8)).max() < 0.05  # a blank line stays blank


class InkNet(nn.Module):
    """A stand-in for the CRNN: emits `label` at the centre frame of every run of inked frames."""

    def __init__(self, label: int = 7):
        super().__init__()
        self.label = label

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[3] // line_model.STRIDE
        ink = x[0, 0, :, : t * line_model.STRIDE].reshape(line_finder.LINE_HEIGHT, t, line_model.STRIDE).amax(dim=(0, 2))
        on = (ink > 0.5).numpy()
        p = np.full((t, 11), 1e-4)
        p[:, line_model.BLANK] = 1.0
        k = 0
        while k < t:
            if on[k]:
                end = k
                while end + 1 < t and on[end + 1]:
                    end += 1
                c = (k + end) // 2
                p[c, self.label + 1], p[c, line_model.BLANK] = 1.0, 1e-4
                k = end + 1
            else:
                k += 1
        p /= p.sum(axis=1, keepdims=True)
        return torch.from_numpy(np.log(p)).float()[:, None, :]


@pytest.mark.parametrize("scale", [1, 3])
def test_boxes_map_back_to_input_pixels(scale):
    page, boxes = ink_boxes(3, np.random.default_rng(5))
    big = cv2.resize(page, (page.shape[1] * scale, page.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    r = read_lines(InkNet(), np.repeat(big[..., None], 3, axis=2), threshold=0.5)
    assert r.text == "777" and len(r.lines) == 1 and r.lines[0].text == "777"
    assert [d.line for d in r.digits] == [0, 0, 0] and all(d.sure for d in r.digits)
    for d, b in zip(r.digits, boxes):
        want = tuple(v * scale for v in b)
        assert iou(d.box, want) > 0.6, (d.box, want)
        assert d.crop is None or d.crop.shape == (28, 28)


def test_light_ink_on_a_dark_ground_is_read(recognizer):
    """A white-on-black "1947" read "97", both digits "sure" (hostile review): a picture whose light end reaches
    further than its dark end is read inverted too, and the surer reading is kept. Dark ink, dim or with a glare,
    is read as before."""
    page = np.full((300, 900), 255, np.uint8)
    for i, d in enumerate("1947"):
        cv2.putText(page, d, (40 + 200 * i, 220), cv2.FONT_HERSHEY_SIMPLEX, 6, 0, 18)
    rgb = np.repeat(page[..., None], 3, axis=2)
    assert recognizer.read(rgb).text == "1947" and not reading.light_ink(rgb)
    assert reading.light_ink(255 - rgb) and recognizer.read(255 - rgb).text == "1947"
    dim = (rgb * 0.3).astype(np.uint8)
    glare = dim.copy()
    glare[:40, 700:] = 255  # a lamp's reflection on a dim page
    for name, picture in (("dim", dim), ("dim with a glare", glare)):
        assert recognizer.read(picture).text == "1947", name
    desk = np.full((720, 960), 60, np.uint8)  # the sheet on a darker desk is a broad light area, not light ink
    desk[60:660, 30:930] = 255
    desk[210:510, 30:930] = page
    assert not reading.light_ink(np.repeat(desk[..., None], 3, axis=2))
    xi, yi = samples.mnist()  # white digits on black, MNIST's own convention, written side by side
    strip = np.pad(np.hstack([np.pad(im, ((0, 0), (0, 4))) for im in xi[:4]]), 20)
    strip = cv2.resize(strip, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    assert reading.light_ink(np.repeat(strip[..., None], 3, axis=2))
    assert recognizer.read(strip).text == recognizer.read(255 - strip).text == "".join(str(v) for v in yi[:4])


def test_a_big_photo_file_gives_boxes_in_its_own_pixels(recognizer, tmp_path):
    """A 6000x4000 file decodes at about 2048 px (PNG reduced, JPEG drafted), and the boxes came back in the
    decoded picture's pixels, half what the file shows (hostile review). `read(Path)` scales them back."""
    from PIL import Image

    page = np.full((4000, 6000), 255, np.uint8)
    page[1500:2500, 2950:3050] = 0  # a "1" 1000 px tall
    for name in ("big.png", "big.jpg"):
        Image.fromarray(page).save(tmp_path / name)
        r = recognizer.read(tmp_path / name)
        assert r.text == "1", name
        assert iou(r.digits[0].box, (2950, 1500, 100, 1000)) > 0.6, (name, r.digits[0].box)  # was (1467, 745, 73, 520)
        assert iou(r.lines[0].box, (2950, 1500, 100, 1000)) > 0.6, (name, r.lines[0].box)
    small = cv2.resize(page, (1500, 1000), interpolation=cv2.INTER_AREA)  # under the decode side: as before
    Image.fromarray(small).save(tmp_path / "small.png")
    assert iou(recognizer.read(tmp_path / "small.png").digits[0].box, (737, 375, 25, 250)) > 0.6
    assert reading.scale_box((10, 20, 5, 7), 2.0) == (20, 40, 10, 14)


# ---------------------------------------------------------------- Recognizer.read


@pytest.fixture(scope="module")
def tiny_reader(recognizer) -> Recognizer:
    torch.manual_seed(0)
    return Recognizer(recognizer.model, recognizer.card, reader=line_model.LineNet(TINY))


def test_read_never_raises_and_blank_is_empty(tiny_reader):
    rng = np.random.default_rng(0)
    for h, w in [(8, 8), (9, 300), (20, 600), (4000, 4000), (2, 5000)]:
        blank = np.full((h, w), 255, np.uint8)
        assert tiny_reader.read(blank).digits == [] and tiny_reader.read(blank).text == ""
        r = tiny_reader.read(rng.integers(0, 256, (h, w), dtype=np.uint8))
        assert len(r.lines) == len(r.text.split("\n")) if r.text else r.lines == []
        assert all(0 <= c <= 1 for c in r.line_confidences)


def test_reading_keeps_its_old_constructor():
    r = reading.Reading(digits=[], text="")
    assert r.lines == [] and r.line_confidences == []


def test_reader_checkpoint_is_found_beside_digits(tmp_path, recognizer):
    shutil.copytree(
        checkpoint.DEFAULT_DIR, tmp_path / "ck", ignore=shutil.ignore_patterns(line_model.READER_WEIGHTS, "reader.json")
    )
    assert Recognizer.load(tmp_path / "ck").reader is None  # no reader.pt: the component reader answers
    card = {"name": "t", "date": "d", "git_commit": "c", "parameters": 1, "config": {}, "metrics": {}, "history": {}}
    line_model.save(line_model.LineNet(TINY), tmp_path / "ck" / line_model.READER_WEIGHTS, {**card, "train_seconds": 0.0})
    r = Recognizer.load(tmp_path / "ck")
    assert r.reader is not None and r.with_profile(None).reader is r.reader


def test_component_reader_gives_line_confidences(recognizer):
    components = Recognizer(recognizer.model, recognizer.card, recognizer.threshold)  # no reader.pt: the fallback
    x, y = samples.mnist()
    page = synth.compose(x, y, ["47", "305"], np.random.default_rng(0))
    r = components.read(page.image)
    assert r.text == "47\n305"
    assert len(r.lines) == len(r.text.split("\n"))
    for ln in r.lines:
        assert ln.confidence == pytest.approx(min(d.confidence for d in r.digits if d.line == r.lines.index(ln)))


def test_unipen_paths_render_with_a_pen(pool):
    a = line_synth.render_path([template_path(4, np.random.default_rng(0))], 40, 1.0, np.random.default_rng(1))
    assert a.dtype == np.float32 and 30 <= a.shape[0] <= 50 and a.max() > 0.9
    assert S.unipen_strokes(np.array([[0, 0, 0], [1, 1, 0], [2, 2, 1], [3, 3, 1]], np.float32))[1].shape == (2, 2)


@pytest.mark.slow
def test_train_reader_writes_a_checkpoint_that_loads(fixture_data, tmp_path):
    from core import train_reader

    out = tmp_path / "reader.pt"
    card = train_reader.main(
        train_reader.Config(data_dir=str(fixture_data), verify=False, minutes=0.3, val_lines=16, val_every=5, out=str(out))
    )
    net, loaded = line_model.load(out)
    assert loaded["checkpoint"]["sha256"] == card["checkpoint"]["sha256"]
    assert 0 <= loaded["metrics"]["val_exact"] <= 1 and loaded["history"]["validation"]
    assert card["checkpoint"]["bytes"] <= 5_000_000


READER = checkpoint.DEFAULT_DIR / line_model.READER_WEIGHTS


@pytest.mark.skipif(not READER.is_file(), reason="no committed line reader (checkpoints/reader.pt) yet")
def test_committed_reader_reads_pages_of_test_digits(recognizer):
    # issue #8's target is >= 97% exact pages; the committed reader reads 20 of these 20 (94% on the benchmark's 100)
    x, y = samples.mnist()
    rng = np.random.default_rng(8)
    right = 0
    for _ in range(20):
        nums = synth.random_numbers(rng, lines=int(rng.integers(1, 4)), min_len=1, max_len=6)
        right += recognizer.read(synth.compose(x, y, nums, rng).image).text == "\n".join(nums)
    assert right >= 17, f"{right}/20 pages read exactly"
    printed = np.full((80, 400, 3), 235, np.uint8)
    cv2.putText(printed, "Total amount", (10, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 2, cv2.LINE_AA)
    r = recognizer.read(printed)
    assert all(c < 0.5 for c in r.line_confidences), r


def written_line(digits: str, rng: np.random.Generator, overlap: float = 0.0, height: int = 60, marks: bool = False):
    """Committed MNIST test digits side by side (overlapping by `overlap` of a glyph's width), dark ink on
    paper, optionally followed by ".-", scaled to `height` px."""
    x, y = samples.mnist()
    step = int(28 * (1 - overlap))
    ink = np.zeros((28, step * (len(digits) - 1) + 28 + (30 if marks else 0)), np.float32)
    for i, d in enumerate(digits):
        k = int(rng.choice(np.flatnonzero(y == int(d))))
        ink[:, i * step : i * step + 28] = np.maximum(ink[:, i * step : i * step + 28], x[k] / 255)
    page = cv2.copyMakeBorder((235 - 200 * ink).astype(np.uint8), 6, 6, 6, 6, cv2.BORDER_CONSTANT, value=235)
    if marks:
        end = 6 + step * (len(digits) - 1) + 28 + 4
        cv2.circle(page, (end, 30), 2, 35, -1)
        cv2.line(page, (end + 6, 22), (end + 18, 22), 35, 2)
    f = height / page.shape[0]
    return cv2.resize(page, (round(page.shape[1] * f), height), interpolation=cv2.INTER_AREA)


@pytest.mark.skipif(not READER.is_file(), reason="no committed line reader (checkpoints/reader.pt) yet")
@pytest.mark.parametrize(
    "case, kw, floor",  # the committed reader reads all 20 of each; the floors allow two or three misses
    [
        ("touching neighbours", {"overlap": 0.3}, 18),
        ("a number followed by .-", {"marks": True}, 18),
        ("20 px tall", {"height": 20}, 17),
    ],
)
def test_committed_reader_reads_hard_lines(recognizer, case, kw, floor):
    rng = np.random.default_rng(3)
    right = 0
    for _ in range(20):
        digits = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(2, 6))))
        right += recognizer.read(written_line(digits, rng, **kw)).text == digits
    assert right >= floor, f"{case}: {right}/20 read exactly"


@pytest.mark.skipif(not READER.is_file(), reason="no committed line reader (checkpoints/reader.pt) yet")
def test_committed_reader_reads_a_broken_5(recognizer):
    # the line finder joins the flag and the bowl (STACK_GAP); before, half of them were two lines, read "3", "0" or ""
    x, y = samples.mnist()
    right = 0
    for k in np.flatnonzero(y == 5):
        g = x[k].copy()
        rows = np.flatnonzero(g.max(1) > 100)
        cut = rows[0] + (rows[-1] - rows[0]) // 3
        g[cut : cut + 2] = 0
        page = cv2.copyMakeBorder((235 - 200 * (g / 255)).astype(np.uint8), 6, 6, 6, 6, cv2.BORDER_CONSTANT, value=235)
        right += recognizer.read(cv2.resize(page, (80, 80))).text == "5"
    assert right >= 0.8 * (y == 5).sum(), f"{right}/{(y == 5).sum()} broken 5s read"
