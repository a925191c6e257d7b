"""Process pools for training's CPU-bound helpers (the voices bank, core.fit_sphinx's folds): spawned
workers (no fork: the parent holds torch's thread pools) that die with the process that started them.
Without that, a killed training (SIGTERM, a CI timeout, `pkill -f core.fit_sphinx`) left its workers
computing for minutes, holding the cores the next run needs."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

PR_SET_PDEATHSIG = 1  # linux/prctl.h: the signal a process gets when its parent exits
DEATH_SIGNAL = signal.SIGKILL  # not SIGTERM: a launcher that ignores SIGTERM passes that on to its children


def die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the thread that started it exits (elsewhere nothing: the pool's own
    shutdown is all there is). A parent gone before the request was made is caught by its pid."""
    if not sys.platform.startswith("linux"):
        return
    try:
        failed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, DEATH_SIGNAL)
    except (OSError, AttributeError):
        return
    if failed:
        print(f"workers: prctl(PR_SET_PDEATHSIG) failed (errno {ctypes.get_errno()}); this worker may outlive its parent",
              file=sys.stderr)  # fmt: skip
    if os.getppid() != parent:
        os._exit(1)


def _start(parent: int, initializer, initargs: tuple) -> None:
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def spawn_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ProcessPoolExecutor of `workers` spawned processes that end when this process ends. Linux sends the
    signal when the *thread* that started a worker exits: create and use the pool from a thread that outlives it
    (the main thread here; with spawn, Python 3.11 starts workers in `submit`, on the caller's thread)."""
    return ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_start, initargs=(os.getpid(), initializer, initargs)
    )
