"""The real samples committed in tests/data/: intact, what the manifest says, and (where the full
data sets are) byte for byte the items of the test splits they claim to be."""

import hashlib

import numpy as np

from core import data
from tests import samples
from tests.conftest import need


def test_files_match_the_manifest():
    sha = samples.manifest()["sha256"]
    on_disk = {str(p.relative_to(samples.ROOT)) for p in samples.ROOT.rglob("*") if p.is_file()}
    assert set(sha) == on_disk - {"README.md", "manifest.json", "make_samples.py"}
    for rel, want in sha.items():
        assert hashlib.sha256((samples.ROOT / rel).read_bytes()).hexdigest() == want, rel
    assert sum((samples.ROOT / rel).stat().st_size for rel in sha) < 1_000_000


def test_ten_per_class_and_two_clips_per_digit():
    x, y = samples.mnist()
    assert x.shape == (100, 28, 28) and x.dtype == np.uint8 and np.bincount(y).tolist() == [10] * 10
    assert x[:, 0].max() == 0 and x.max() == 255  # white on black, as MNIST
    p, py = samples.pendigits()
    assert p.shape == (100, 8, 2) and np.bincount(py).tolist() == [10] * 10
    clips = samples.fsdd()
    assert len(clips) == 20 and [sum(c.digit == d for c in clips) for d in range(10)] == [2] * 10
    assert {c.speaker for c in clips} == set(data.FSDD_SPEAKERS) and all(c.index in data.FSDD_TEST_INDICES for c in clips)


def test_samples_are_the_test_split_items_they_claim_to_be():
    root = need("mnist", "pendigits", "fsdd")
    m = samples.manifest()
    xt, yt = data.load_mnist(root, "test")
    x, y = samples.mnist()
    assert np.array_equal(xt[m["mnist"]["indices"]], x) and np.array_equal(yt[m["mnist"]["indices"]], y)
    pt, pyt = data.load_pendigits(root, "test")
    p, py = samples.pendigits()
    assert np.array_equal(pt[m["pendigits"]["rows"]], p) and np.array_equal(pyt[m["pendigits"]["rows"]], py)
    for c in samples.fsdd():
        assert c.path.read_bytes() == (root / "fsdd" / "recordings" / c.path.name).read_bytes()
