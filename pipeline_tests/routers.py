"""Router kinds: what each needs to run in a trial (config files, Compose variables), how to tell
it is ready, and how to read its own counters for per-hop accounting.

`builtin` is the reference relay in fixtures/router.py; it reports its counters in
<state>/router.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline_tests.scenario import Router

KINDS = ("builtin",)


@dataclass(frozen=True)
class RouterPorts:
    router: int  # Forward input on 127.0.0.1
    sink: int  # where the router sends
    metrics: int  # the router's own HTTP metrics / monitor endpoint on 127.0.0.1, if it has one


@dataclass(frozen=True)
class RouterCounters:
    """What the router itself says it did (None where it does not count)."""

    received: int | None  # records accepted by its inputs
    sent: int | None  # records its output delivered (acknowledged when it can tell)


def prepare(router: Router, conf_dir: Path, ports: RouterPorts) -> dict[str, str]:
    """Write the router's config files into `conf_dir`; return extra Compose variables."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    return {}


def is_ready(router: Router, state_dir: Path, ports: RouterPorts) -> bool:
    return bool(_read_json(state_dir / "router.json").get("ready"))


def counters(router: Router, state_dir: Path, ports: RouterPorts) -> RouterCounters:
    data = _read_json(state_dir / "router.json")
    return RouterCounters(data.get("received"), data.get("acked", data.get("forwarded")))


def _read_json(path: Path) -> Mapping[str, int]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}
