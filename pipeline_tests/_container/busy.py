"""The work an app does besides logging: CPU-burning worker processes, as a batch job's are.

`workload.busy_workers` (PT_BUSY_WORKERS): a number of processes, or `all` for one per CPU the
container may run on, so every core of the machine is busy while the app logs. Each worker is
a forked process that only computes (it never writes to stdout, the log stream under test), and
ends when the app stops it or when the app is gone (its parent changes). The logging threads
stay in the app's own process: the workers compete with them for the task's CPU as a real
job's threads do, but never touch the counts.

This module runs inside the fixture containers: standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal

ALL = "all"
MAX_WORKERS = 1024
_BLOCK = b"\x5a" * 4096
_ROUNDS = 200  # digests between two checks that the app is still there (~1 ms of work)


def parse(text: str) -> int | str | None:
    """'3' -> 3, 'all' -> 'all'; None when it is neither (0 to MAX_WORKERS, or all)."""
    text = text.strip().lower() or "0"
    if text == ALL:
        return ALL
    if re.fullmatch(r"\d+", text) and int(text) <= MAX_WORKERS:
        return int(text)
    return None


def count(workers: int | str) -> int:
    """How many processes: `all` is one per CPU this process may run on."""
    if workers == ALL:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return int(workers)


def start(workers: int) -> list[int]:
    """Fork `workers` burning processes; their pids."""
    parent = os.getpid()
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            _burn(parent)
        pids.append(pid)
    return pids


def stop(pids: list[int]) -> None:
    """End the workers and reap them (no zombies left in the container)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _burn(parent: int) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        digest = hashlib.sha256()
        while os.getppid() == parent:
            for _ in range(_ROUNDS):
                digest.update(_BLOCK)
    finally:
        os._exit(0)
