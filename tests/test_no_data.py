"""DIGITS_HIDE_DATA=1 makes this machine look like a stranger's: no data sets anywhere. CI runs
the whole suite that way too (scripts/test.sh with CI=true) and expects no failures."""

import os
import re
import subprocess
import sys

from tests.conftest import REPO, SHARED

PROBE = """
import os
from pathlib import Path
from tests.conftest import real_data_root
from core import data
print(real_data_root(), data.data_root().exists(), os.environ["DIGITS_DATA"])
"""


def probe(**env) -> list[str]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_hiding_hides_data_dir_and_shared_data():
    # even with DIGITS_DATA naming real data, nothing is found, and code under test gets a missing folder
    root, exists, digits_data = probe(DIGITS_HIDE_DATA="1", DIGITS_DATA=str(SHARED))
    assert root == "None" and exists == "False" and "no-such-data-dir" in digits_data
    if SHARED.is_dir() and not os.environ.get("DIGITS_HIDE_DATA"):
        assert probe(DIGITS_DATA="")[0] == str(SHARED)  # the fallback works when not hidden


def test_only_conftest_looks_for_shared_data():
    """../shared/data is this workplace's, not a user's: only tests/conftest.py may look there,
    so hiding it there hides it everywhere."""
    pattern = re.compile(r"""["']shared["']|["'][./]*shared/data""")
    found = []
    for folder in ("core", "demo", "scripts", "tests"):
        for p in (REPO / folder).rglob("*.py"):
            if p.name in ("conftest.py", "make_samples.py", "test_no_data.py"):
                continue
            lines = p.read_text().splitlines()
            found += [f"{p.relative_to(REPO)}:{i}" for i, line in enumerate(lines, 1) if pattern.search(line)]
    assert not found, found
