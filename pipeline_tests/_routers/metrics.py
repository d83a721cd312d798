"""A real router's own metrics endpoint, as the sink container polls it on the engine host.

A stopped router answers nothing, so the poller (fixtures/sink_poll.py) keeps its last answer in
<state>/router-metrics.json: {"answer", "read_ns", "accepts"}. The trial copies that file out of
the router's volume; each router kind decides what the answer proves (fluent_bit.py,
fluentd.py). Reading it has no side effect: the live view reads it during the trial, the trial
once more at its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_tests._routers.files import read_json

METRICS_FILE = "router-metrics.json"


@dataclass(frozen=True)
class Poll:
    """What the sink container polls for a router: its endpoint, and how often."""

    url: str
    every: float


def polled_ready(state_dir: Path) -> bool:
    """True once the endpoint answered and the router's Forward input took a connection."""
    data = read_json(state_dir / METRICS_FILE)
    return isinstance(data.get("answer"), str) and bool(data.get("accepts"))


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
