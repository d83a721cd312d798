"""A real router's own metrics endpoint, polled while it runs.

A stopped router answers nothing, so the poller keeps the last answer (and when it was read) in
<state>/router-metrics.json; each router kind decides what that answer proves (fluent_bit.py,
fluentd.py). Reading it has no side effect: the live view reads it during the trial, the trial
once more at its end. The poller ends once the router has not answered for GONE_SECONDS.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from pipeline_tests._routers.files import read_json

POLL_SECONDS = 1.0  # default: the live view's pace
GONE_SECONDS = 30.0
METRICS_FILE = "router-metrics.json"


def ready_and_polled(state_dir: Path, url: str, router_port: int,
                     every: float = POLL_SECONDS) -> bool:
    """True once the endpoint answers and the Forward input accepts; then polling starts,
    every `every` seconds."""
    if get_text(url) is None or not _accepts(router_port):
        return False
    _Poller.start(state_dir, url, every)
    return True


def last_answer(state_dir: Path) -> str | None:
    """The router's last answer so far (None: it never answered)."""
    answer = read_json(state_dir / METRICS_FILE).get("answer")
    return answer if isinstance(answer, str) else None


def last_json(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(last_answer(state_dir) or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def get_text(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as reply:  # noqa: S310 (127.0.0.1 only)
            return str(reply.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


class _Poller:
    """Keeps the router's last answer in <state>/router-metrics.json while it runs."""

    _running: set[Path] = set()
    _lock = threading.Lock()

    @classmethod
    def start(cls, state_dir: Path, url: str, every: float) -> None:
        with cls._lock:
            if state_dir in cls._running:
                return
            cls._running.add(state_dir)
        threading.Thread(target=cls._loop, daemon=True, name=f"pt-metrics-{state_dir.name}",
                         args=(state_dir, url, every)).start()

    @classmethod
    def _loop(cls, state_dir: Path, url: str, every: float) -> None:
        path, last, answered = state_dir / METRICS_FILE, None, time.monotonic()
        while time.monotonic() - answered < GONE_SECONDS:
            text = get_text(url)
            if text is not None:
                answered = time.monotonic()
                if text != last:
                    last = text
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(json.dumps({"answer": text, "read_ns": time.time_ns()}))
                    tmp.replace(path)  # a reader never sees half a file
            time.sleep(every)
        with cls._lock:
            cls._running.discard(state_dir)
