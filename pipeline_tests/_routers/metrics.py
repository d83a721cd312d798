"""A real router's own counters, read from its HTTP endpoint while it runs.

A stopped router answers nothing, so the last answer before it went away is what counts. An
answer counts only once it is *settled*: unchanged for `settle` seconds while the router still
answered. Fluent Bit refreshes /api/v1/metrics once a second, so a router stopped right after the
flow stopped leaves a stale answer; the counts are then None (unknown) rather than a number that
would invent a loss between app and router.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipeline_tests._routers.files import read_json
from pipeline_tests._routers.kind import RouterCounters

POLL_SECONDS = 0.1
GONE_SECONDS = 30.0
METRICS_FILE = "router-metrics.json"
Counts = Callable[[Mapping[str, Any]], tuple[int | None, int | None]]


def ready_and_polled(state_dir: Path, url: str, router_port: int, settle: float,
                     counts: Counts) -> bool:
    """True once the endpoint answers and the Forward input accepts; then polling starts."""
    if get_json(url) is None or not _accepts(router_port):
        return False
    _Poller.start(state_dir, url, settle, counts)
    return True


def polled_counters(state_dir: Path, counts: Counts) -> RouterCounters:
    _Poller.stop(state_dir)
    polled = read_json(state_dir / METRICS_FILE)
    if not polled.get("settled"):
        return RouterCounters(None, None)
    received, sent = counts(polled.get("metrics", {}))
    return RouterCounters(received, sent)


def get_json(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as reply:  # noqa: S310 (127.0.0.1 only)
            data = json.loads(reply.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


class _Poller:
    """Keeps the router's last metrics answer in <state>/router-metrics.json while it runs."""

    _running: dict[Path, threading.Event] = {}

    @classmethod
    def start(cls, state_dir: Path, url: str, settle: float, counts: Counts) -> None:
        if state_dir in cls._running:
            return
        done = threading.Event()
        cls._running[state_dir] = done
        threading.Thread(target=cls._loop, daemon=True, name=f"pt-metrics-{state_dir.name}",
                         args=(state_dir / METRICS_FILE, url, settle, counts, done)).start()

    @classmethod
    def stop(cls, state_dir: Path) -> None:
        done = cls._running.pop(state_dir, None)
        if done is not None:
            done.set()

    @staticmethod
    def _loop(path: Path, url: str, settle: float, counts: Counts,
              done: threading.Event) -> None:
        # Settle on the counters pipeline-tests reads, not the whole answer: Fluentd's outputs
        # keep changing theirs (flush timings, buffer gauges) until the very end.
        last: object = None
        changed = answered = time.monotonic()
        # A trial that failed never calls polled_counters(): end once the router is long gone.
        while not done.wait(POLL_SECONDS) and time.monotonic() - answered < GONE_SECONDS:
            data = get_json(url)
            if data is None:
                continue
            answered = time.monotonic()
            if counts(data) != last:
                last, changed = counts(data), answered
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"metrics": data, "settled": answered - changed >= settle}))
            tmp.replace(path)  # a reader never sees half a file
