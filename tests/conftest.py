"""Shared fixtures: where the data is, and the committed recognizer.

The full data sets are found through $DIGITS_DATA, else ../shared/data. DIGITS_HIDE_DATA=1
hides both (and points DIGITS_DATA, for the code under test and the subprocesses it starts,
at a folder that does not exist): the suite then runs as on a stranger's machine, on the
generated fixtures (tests/fixtures.py) and the real samples committed in tests/data/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
HIDDEN = os.environ.get("DIGITS_HIDE_DATA", "") not in ("", "0")
if HIDDEN:
    os.environ["DIGITS_DATA"] = str(REPO / "tests" / "no-such-data-dir")

NEEDS = {
    "mnist": "the full MNIST data set (mnist/)",
    "pendigits": "the full pendigits data set (pendigits/)",
    "unipen": "the UNIPEN digits file (unipen/)",
    "fsdd": "the full FSDD recordings (fsdd/recordings/)",
    "femnist": "the FEMNIST file (femnist/femnist_train.npz)",
    "unipen_letters": "the UNIPEN letters file (unipen/unipen_1bc_letters_train.npz)",
}

# sets added after the digits: a data folder may lack them, so `need` checks their files
LATER_FILES = {"femnist": "femnist/femnist_train.npz", "unipen_letters": "unipen/unipen_1bc_letters_train.npz"}


def real_data_root() -> Path | None:
    """$DIGITS_DATA or ../shared/data when it holds the real data sets, else None (always None
    with DIGITS_HIDE_DATA=1)."""
    if HIDDEN:
        return None
    for cand in (os.environ.get("DIGITS_DATA"), SHARED):
        if cand and (Path(cand) / "mnist").is_dir() and (Path(cand) / "fsdd" / "recordings").is_dir():
            return Path(cand)
    return None


def skip_reason(*sets: str) -> str:
    what = ", ".join(NEEDS[s] for s in sets) if sets else "the full data sets (MNIST, pendigits, UNIPEN, FSDD)"
    hidden = " (hidden by DIGITS_HIDE_DATA=1)" if HIDDEN else ""
    return f"needs {what} at $DIGITS_DATA or ../shared/data{hidden}"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than about a minute (training, evaluation, browser)")


def need(*sets: str) -> Path:
    """The full data sets' root, or skip the calling test naming the sets it needs
    (any of NEEDS' keys; none: the four digit sets)."""
    root = real_data_root()
    if root is None or any(not (root / LATER_FILES[s]).is_file() for s in sets if s in LATER_FILES):
        pytest.skip(skip_reason(*sets))
    return root


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The full data sets' root; skips where they are absent. Prefer `need("mnist", ...)`, which
    names what the test needs, or the committed samples (tests/samples.py), which are everywhere."""
    return need()


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory) -> Path:
    from tests.fixtures import make_fixture_data

    return make_fixture_data(tmp_path_factory.mktemp("fixture_data"))


@pytest.fixture(scope="session")
def any_data(fixture_data) -> tuple[Path, bool]:
    """(root, is_real): the real data where present, otherwise the generated fixtures."""
    root = real_data_root()
    return (root, True) if root else (fixture_data, False)


@pytest.fixture(scope="session")
def recognizer():
    from core import Recognizer

    return Recognizer.load()
