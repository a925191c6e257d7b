"""Training's process pools (core/workers.py): a killed parent takes its workers with it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import workers

ROOT = Path(__file__).resolve().parents[1]

PARENT = """
import sys, time
from pathlib import Path
from core import workers

def job(path):
    import os, time
    Path(path + ".tmp").write_text(str(os.getpid()))
    os.replace(path + ".tmp", path)  # whole or not at all: the test reads it while this runs
    time.sleep(120)  # far longer than the test waits: only the parent's death can end it early

if __name__ == "__main__":
    with workers.spawn_pool(1) as pool:
        pool.submit(job, sys.argv[1])
        time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie has exited; its parent (init) has not reaped it yet
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:  # reaped in between
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_killed_parent_takes_its_workers_with_it(tmp_path):
    script, pid_file = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(PARENT)
    worker = None
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.time() + 60
        while not (pid_file.is_file() and pid_file.read_text()) and time.time() < deadline:
            time.sleep(0.2)
        worker = int(pid_file.read_text())
        assert alive(worker)
        parent.send_signal(signal.SIGTERM)  # as pkill or a CI timeout does: no clean shutdown of the pool
        parent.wait(30)
        deadline = time.time() + 15
        while alive(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not alive(worker), "the worker outlived its parent"
    finally:
        parent.kill()
        if worker is not None and alive(worker):  # a failed run must not leave the very orphan it tests for
            os.kill(worker, signal.SIGKILL)


def test_the_pool_runs_the_callers_initializer_in_its_workers():
    with workers.spawn_pool(2, initializer=os.putenv, initargs=("DIGITS_WORKER_TEST", "1")) as pool:
        # putenv changes the process's environment, not os.environ: the worker's shell sees it
        got = list(pool.map(subprocess.check_output, [["sh", "-c", "echo $DIGITS_WORKER_TEST $PPID"]] * 4))
    assert all(g.split()[0] == b"1" for g in got) and all(int(g.split()[1]) != os.getpid() for g in got)
