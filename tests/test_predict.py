"""The command line, as a user runs it."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.strokes import pendigits_to_strokes
from tests import samples
from tests.conftest import REPO


def run(*args):
    return subprocess.run([sys.executable, "-m", "core.predict", *map(str, args)], cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    xi, yi = samples.mnist()
    i = int(np.flatnonzero(yi == 7)[0])
    Image.fromarray(255 - xi[i]).resize((112, 112)).save(d / "seven.png")
    pp, py = samples.pendigits()
    j = int(np.flatnonzero(py == 7)[0])
    (d / "seven.json").write_text(json.dumps({"strokes": pendigits_to_strokes(pp[j].ravel())}))
    clip = [c for c in samples.fsdd() if c.digit == 7][0]
    return d / "seven.png", d / "seven.json", clip.path


def test_one_line_per_file(files):
    r = run(*files)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    assert [ln.split("\t")[1] for ln in lines] == ["image", "strokes", "audio"]
    assert all(ln.split("\t")[2] == "7" for ln in lines), r.stdout


def test_fuse(files):
    r = run("--fuse", *files)
    assert r.returncode == 0 and r.stdout.startswith("fused\t7\t"), r.stdout + r.stderr
    assert "image=7" in r.stdout and "audio=7" in r.stdout


@pytest.mark.parametrize("content, suffix", [(b"not an image", ".png"), (b"RIFFjunk", ".wav"), (b"{bad json", ".json")])
def test_bad_files_one_line_no_traceback(tmp_path, content, suffix):
    f = tmp_path / f"bad{suffix}"
    f.write_bytes(content)
    r = run(f)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_missing_file(tmp_path):
    r = run(tmp_path / "nope.png")
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_empty_canvas_json(tmp_path):
    f = tmp_path / "empty.json"
    f.write_text('{"strokes": []}')
    r = run(f)
    assert r.returncode == 2 and "empty" in r.stderr
