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
    """scripts/train_core.sh with DRY_RUN=1: the commands it would run, one a line after "data: ...". The audio
    branch's text-to-speech digits are left out (--no-tts) unless a test asks for them."""
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable}  # the tests' own Python, with or without a .venv
    args = args if "--tts" in args or "--tts-dir" in args else ("--no-tts", *args)
    return subprocess.run(["scripts/train_core.sh", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_train_core_launches_torchrun_only_when_asked():
    assert dry_train("--limit", "10").stdout.splitlines()[1].endswith("python -m core.train --no-tts --limit 10")
    one = dry_train("--nproc", "2", "--limit", "10").stdout.splitlines()[1]
    assert "torchrun --standalone --nproc-per-node 2 -m core.train --no-tts --limit 10" in one
    several = dry_train("--nproc=4", "--nnodes", "2", "--rdzv-endpoint", "host:29400", "--device", "cuda").stdout
    torchrun = "--nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint host:29400"
    assert f"{torchrun} -m core.train --no-tts --device cuda" in several
    r = dry_train("--nnodes", "2")
    assert r.returncode == 2 and "need --nproc" in r.stderr


def test_train_core_runs_one_part_alone():
    reader = dry_train("--only", "reader", "--data-dir", "/d", "--limit", "10").stdout.splitlines()[1:]
    assert len(reader) == 1 and reader[0].endswith("-m core.train_reader --data-dir /d")  # no digit training, no benchmark
    audio = dry_train("--only=audio", "--data-dir", "/d", "--limit", "10").stdout.splitlines()[1:]
    assert len(audio) == 2
    assert audio[0].endswith("-m core.train --stages audio,fusion,calibrate --no-tts --data-dir /d --limit 10")
    assert audio[1].endswith("-m core.fit_sphinx --data-dir /d")  # the expert's weights are tied to the new digits.pt
    sphinx = dry_train("--only", "sphinx").stdout.splitlines()[1:]
    assert len(sphinx) == 1 and sphinx[0].endswith("-m core.fit_sphinx")
    everything = dry_train("--limit", "10").stdout.splitlines()
    steps = ("-m core.train --no-tts --limit 10", "-m core.fit_sphinx", "-m core.train_reader",
             "-m core.train --model characters", "benchmark_reader.py", "benchmark_characters.py",
             "-m core.evaluate")  # fmt: skip
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
    assert len(digits) == 2 and digits[0].endswith("-m core.train --no-tts --limit 10")
    assert digits[1].endswith("-m core.fit_sphinx")


def test_train_core_makes_the_text_to_speech_digits_once(tmp_path):
    # the audio branch trains on them: made in the git-ignored ./data (the data folder is only read) unless the data
    # folder has them (digits and words: an interrupted run is made again); the folder's name goes to core.train;
    # nothing is made for parts or stages without audio, nor when the caller names a folder or says --no-tts
    stage = "-m core.train --stages audio,fusion,calibrate"
    here = ROOT / "data" / "tts_digits"
    made = (here / "manifest.json").is_file() and (here / "words" / "manifest.json").is_file()
    for flag in (("--data-dir", str(tmp_path)), (f"--data-dir={tmp_path}",), ("--data-dir", "/d", "--data-dir", str(tmp_path))):
        audio = dry_train("--only", "audio", "--tts", *flag).stdout.splitlines()[1:]
        assert audio[-2].endswith(f"{stage} --tts {' '.join(flag)} --tts-dir data/tts_digits")
        assert (audio[0].endswith("-m core.tts --out data/tts_digits") and len(audio) == 3) or (made and len(audio) == 2)
    (tmp_path / "tts_digits" / "words").mkdir(parents=True)
    (tmp_path / "tts_digits" / "manifest.json").write_text("{}")
    half = dry_train("--only", "audio", "--tts", "--data-dir", str(tmp_path)).stdout.splitlines()[1:]
    assert half[-2].endswith("--tts-dir data/tts_digits")  # no words yet: not this folder
    (tmp_path / "tts_digits" / "words" / "manifest.json").write_text("{}")
    own = dry_train("--tts", "--data-dir", str(tmp_path)).stdout.splitlines()[1:]
    assert own[0].endswith(f"-m core.train --tts --data-dir {tmp_path}")  # its own folder, found by core.train
    assert "core.tts" not in dry_train("--only", "reader", "--tts").stdout
    assert "tts" not in dry_train("--only", "digits", "--tts", "--stages", "image,strokes").stdout.replace("--tts ", "")
    bare = dry_train("--only", "audio", "--tts", "--data-dir")  # a flag without its value: refused before any work
    assert bare.returncode == 2 and "--data-dir needs a value" in bare.stderr and "core." not in bare.stdout
    named = dry_train("--only", "audio", "--tts-dir", "/x").stdout.splitlines()[1:]
    assert named[0].endswith("--stages audio,fusion,calibrate --tts-dir /x")  # the caller's folder, made by the caller
