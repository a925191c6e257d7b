"""Shared fixtures: where the data is, and the committed recognizer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"


def real_data_root() -> Path | None:
    """$DIGITS_DATA or ../shared/data when it holds the real data sets, else None."""
    for cand in (os.environ.get("DIGITS_DATA"), SHARED):
        if cand and (Path(cand) / "mnist").is_dir() and (Path(cand) / "fsdd" / "recordings").is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = real_data_root()
    if root is None:
        pytest.skip("real data sets not found (set DIGITS_DATA or provide ../shared/data)")
    return root


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
