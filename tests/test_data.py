import gzip

import numpy as np
import pytest

from core import data
from core.errors import DataError
from tests import samples
from tests.conftest import need
from tests.fixtures import FSDD_PER_SPEAKER_DIGIT, write_idx


def test_real_mnist_pendigits_unipen_fsdd():
    real_data = need("mnist", "pendigits", "unipen", "fsdd")
    x, y = data.load_mnist(real_data, "train")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8 and set(np.unique(y)) == set(range(10))
    xt, _ = data.load_mnist(real_data, "test")
    assert xt.shape == (10000, 28, 28)
    p, py = data.load_pendigits(real_data, "train")
    assert p.shape == (7494, 8, 2) and p.max() == 100 and len(py) == 7494
    assert data.load_pendigits(real_data, "test")[0].shape == (3498, 8, 2)
    u = data.load_unipen(real_data)
    assert len(u) == 11605 and u.sample(0).shape[1] == 3
    clips = data.list_fsdd(real_data)
    assert len(clips) == 3000 and {c.speaker for c in clips} == set(data.FSDD_SPEAKERS)


def test_splits_never_mix():
    real_data = need("unipen", "fsdd")
    u = data.load_unipen(real_data)
    parts = {s: u.split_indices(s) for s in ("train", "val", "test")}
    assert sum(len(v) for v in parts.values()) == len(u)
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not set(u.source[parts[a]]) & set(u.source[parts[b]])  # whole donors held out
    clips = data.list_fsdd(real_data)
    test = data.fsdd_split(clips, "test")
    train = data.fsdd_split(clips, "train", held_out="theo")
    val = data.fsdd_split(clips, "val", held_out="theo")
    assert len(test) == 300 and all(c.index < 5 for c in test)
    assert {c.speaker for c in val} == {"theo"} and "theo" not in {c.speaker for c in train}


def test_torchvision_raw_layout_is_accepted(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for kind in ("images", "labels"):
        src, _ = data.mnist_path(samples.ROOT, "test", kind)  # the committed real samples
        (raw / src.name.removesuffix(".gz")).write_bytes(gzip.decompress(src.read_bytes()))
    x, y = data.load_mnist(tmp_path, "test", verify=False)
    x0, y0 = samples.mnist()
    assert np.array_equal(x, x0) and np.array_equal(y, y0)
    with pytest.raises(DataError, match="corrupt data file .*t10k-images-idx3-ubyte: .*expected 2646ac64"):
        data.load_mnist(tmp_path, "test")  # 100 digits are not the published file


def test_fixture_layouts_load(fixture_data):
    x, y = data.load_mnist(fixture_data, "train", verify=False)
    assert x.shape[1:] == (28, 28) and len(x) == len(y)
    assert data.load_pendigits(fixture_data, "train", verify=False)[0].shape[1:] == (8, 2)
    assert len(data.load_unipen(fixture_data, verify=False)) > 0
    assert len(data.list_fsdd(fixture_data)) == 10 * 6 * FSDD_PER_SPEAKER_DIGIT


def test_emnist_loader_transposes(tmp_path):
    img = np.zeros((2, 28, 28), np.uint8)
    img[0, 2:26, 5] = 255  # a vertical bar as stored on disk (transposed): it is horizontal upright
    img[1, 10, :] = 200
    folder = tmp_path / "emnist" / "gzip"
    folder.mkdir(parents=True)
    for subset in ("digits", "letters"):
        write_idx(folder / f"emnist-{subset}-train-images-idx3-ubyte.gz", img)
        write_idx(folder / f"emnist-{subset}-train-labels-idx1-ubyte.gz", np.array([3, 7], np.uint8))
        x, y = data.load_emnist(tmp_path, subset, "train")
        assert x.shape == (2, 28, 28) and y.tolist() == [3, 7]
        assert x[0, 5, 2:26].min() == 255 and x[0, 6:26, 5].max() == 0  # bar turned back to a row
        assert x[1, :, 10].min() == 200
    with pytest.raises(DataError, match="missing data file"):
        data.load_emnist(tmp_path, "digits", "test")
    with pytest.raises(ValueError, match="subset"):
        data.load_emnist(tmp_path, "klingon")


def test_corrupt_and_missing_files_name_file_and_checksum(tmp_path):
    with pytest.raises(DataError, match=r"missing data file .*pendigits.tra .*e2b9eb9f"):
        data.load_pendigits(tmp_path, "train")
    (tmp_path / "pendigits").mkdir()
    good = (samples.ROOT / "pendigits" / "pendigits.tes").read_bytes()  # real rows, but not the whole file
    (tmp_path / "pendigits" / "pendigits.tra").write_bytes(good[:-100])
    with pytest.raises(DataError, match=r"corrupt data file .*pendigits.tra.*expected e2b9eb9f"):
        data.load_pendigits(tmp_path, "train")
    (tmp_path / "mnist").mkdir()
    src, md5 = data.mnist_path(samples.ROOT, "test", "images")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "mnist" / name).write_bytes((samples.ROOT / "mnist" / name).read_bytes())
    with pytest.raises(DataError, match=f"corrupt data file .*t10k-images.*md5 is .*expected {md5}"):
        data.load_mnist(tmp_path, "test")  # real digits, but 100 of them: not the published file
    (tmp_path / "mnist" / src.name).write_bytes(src.read_bytes()[:500])  # a cut-off download
    with pytest.raises(DataError, match=f"corrupt data file .*t10k-images.*expected md5 {md5}"):
        data.load_mnist(tmp_path, "test")


def test_truncated_idx_is_detected(tmp_path):
    p = tmp_path / "x-idx3-ubyte.gz"
    write_idx(p, np.zeros((3, 28, 28), np.uint8))
    raw = gzip.decompress(p.read_bytes())
    p.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DataError, match="truncated IDX"):
        data.read_idx(p)
    p.write_bytes(gzip.compress(b"\x00\x00\x09\x03" + raw[4:]))
    with pytest.raises(DataError, match="magic"):
        data.read_idx(p)


def test_data_root_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITS_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    assert data.data_root("elsewhere") == data.Path("elsewhere")
    monkeypatch.delenv("DIGITS_DATA")
    assert data.data_root() == data.Path("data")


def test_letter_files_load_with_writers(fixture_data):
    f = data.load_femnist(fixture_data, verify=False)
    assert f.images.shape[1:] == (28, 28) and f.images.dtype == np.uint8
    assert len(f.labels) == len(f.writers) == len(f) and 0 <= f.labels.min() and f.labels.max() <= 61
    u = data.load_unipen_letters(fixture_data, verify=False)
    assert len(u.segfile) == len(u) and 10 <= u.labels.min() and u.labels.max() <= 61  # letters only, byclass order
    assert all(w.startswith(s + "/") for w, s in zip(u.segfile, u.source))  # writer ids kept, within their donor
    with pytest.raises(DataError, match=f"corrupt data file .*femnist_train.npz.*{data.FEMNIST_FILE[1][:8]}"):
        data.load_femnist(fixture_data)  # generated, not the published file
    with pytest.raises(DataError, match=f"missing data file .*unipen_1bc_letters_train.npz .*{data.UNIPEN_LETTERS_FILE[1][:8]}"):
        data.load_unipen_letters(fixture_data / "nowhere")


def test_real_letter_files():
    root = need("femnist", "unipen_letters")
    f = data.load_femnist(root)
    assert f.images.shape == (42010, 28, 28) and len(set(f.writers.tolist())) == 405
    assert set(np.unique(f.labels)) == set(range(62))
    u = data.load_unipen_letters(root)
    assert len(u) == 67265 and len(set(u.source.tolist())) == 17
    assert (u.labels < 36).sum() == 20956 and (u.labels >= 36).sum() == 46309  # upper, lower case
