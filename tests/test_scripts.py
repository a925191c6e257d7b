"""Every benchmark script at least imports and parses its arguments (they are run by hand, not by CI); train_core.sh
builds its torchrun command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_starts(name):
    r = subprocess.run([sys.executable, f"scripts/{name}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower()


def dry_train(*args: str) -> subprocess.CompletedProcess:
    """scripts/train_core.sh with DRY_RUN=1: the commands it would run, one a line after "data: ..."."""
    env = {**os.environ, "DRY_RUN": "1"}
    return subprocess.run(["scripts/train_core.sh", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_train_core_launches_torchrun_only_when_asked():
    assert dry_train("--limit", "10").stdout.splitlines()[1].endswith("python -m core.train --limit 10")
    one = dry_train("--nproc", "2", "--limit", "10").stdout.splitlines()[1]
    assert "torchrun --standalone --nproc-per-node 2 -m core.train --limit 10" in one
    several = dry_train("--nproc=4", "--nnodes", "2", "--rdzv-endpoint", "host:29400", "--device", "cuda").stdout
    assert "--nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint host:29400 -m core.train --device cuda" in several
    r = dry_train("--nnodes", "2")
    assert r.returncode == 2 and "need --nproc" in r.stderr


def test_train_core_runs_one_part_alone():
    reader = dry_train("--only", "reader", "--data-dir", "/d", "--limit", "10").stdout.splitlines()[1:]
    assert len(reader) == 1 and reader[0].endswith("-m core.train_reader --data-dir /d")  # no digit training, no benchmark
    audio = dry_train("--only=audio", "--data-dir", "/d", "--limit", "10").stdout.splitlines()[1:]
    assert len(audio) == 2 and audio[0].endswith("-m core.train --stages audio,fusion,calibrate --data-dir /d --limit 10")
    assert audio[1].endswith("-m core.fit_sphinx --data-dir /d")  # the expert's weights are tied to the new digits.pt
    sphinx = dry_train("--only", "sphinx").stdout.splitlines()[1:]
    assert len(sphinx) == 1 and sphinx[0].endswith("-m core.fit_sphinx")
    everything = dry_train("--limit", "10").stdout.splitlines()
    steps = ("-m core.train --limit 10", "-m core.fit_sphinx", "-m core.train_reader", "-m core.train --model characters",
             "benchmark_reader.py", "benchmark_characters.py", "-m core.evaluate")  # fmt: skip
    at = [next(i for i, line in enumerate(everything) if step in line) for step in steps]
    assert at == sorted(at)
    r = dry_train("--only", "letters")
    assert r.returncode == 2 and "digits, audio, sphinx, reader or characters" in r.stderr


def test_train_core_trains_the_characters_model_alone():
    for flags in (("--only", "characters"), ("--model", "characters"), ("--model=characters",)):
        lines = dry_train(*flags, "--data-dir", "/d", "--limit", "10").stdout.splitlines()[1:]
        assert len(lines) == 1 and lines[0].endswith("-m core.train --model characters --data-dir /d"), lines
    two = dry_train("--only", "characters", "--nproc", "2", "--data-dir", "/d", "--device", "cuda", "--limit", "10").stdout
    assert two.splitlines()[1].endswith(
        "torchrun --standalone --nproc-per-node 2 -m core.train --model characters --data-dir /d --device cuda"
    ), two  # under torchrun, like the digit model; its data folder and device only
    several = dry_train("--model=characters", "--nproc", "4", "--nnodes", "2", "--rdzv-endpoint", "host:29400").stdout
    assert "--rdzv-backend c10d --rdzv-endpoint host:29400 -m core.train --model characters" in several
    everything = dry_train("--nproc", "2", "--limit", "10").stdout
    assert "--nproc-per-node 2 -m core.train --model characters" in everything
    digits = dry_train("--model", "digits", "--limit", "10").stdout.splitlines()[1:]
    assert len(digits) == 2 and digits[0].endswith("-m core.train --limit 10") and digits[1].endswith("-m core.fit_sphinx")
