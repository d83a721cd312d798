"""The seam between a trial and its router: what every router kind provides.

A trial knows a router only through this protocol; each kind is one module (builtin.py,
fluent_bit.py, fluentd.py) and the registry in __init__.py maps `router.kind` to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline_tests._scenario.model import Router


@dataclass(frozen=True)
class RouterPorts:
    router: int  # Forward input on 127.0.0.1
    sink: int  # where the router sends
    metrics: int  # the router's own HTTP metrics / monitor endpoint on 127.0.0.1, if it has one


@dataclass(frozen=True)
class RouterCounters:
    """What the router itself says it did (None where it does not count)."""

    received: int | None  # records accepted by its inputs
    sent: int | None  # records its output sent to the sink (Fluent Bit: flushed OK)
    received_unknown: str = ""  # why received is None
    sent_unknown: str = ""  # why sent is None

    @property
    def unknown(self) -> dict[str, str]:
        """hop -> why its count is None, for the hops that are None."""
        reasons = {"router_in": (self.received, self.received_unknown or "not counted"),
                   "router_out": (self.sent, self.sent_unknown or "not counted")}
        return {hop: why for hop, (count, why) in reasons.items() if count is None}


class RouterKind(Protocol):
    @property
    def name(self) -> str:
        """The scenario's `router.kind`."""
        ...

    @property
    def default_image(self) -> str: ...

    @property
    def presets(self) -> Mapping[str, str | None]:
        """Preset name -> in-container path of the file it includes (None: FireLens alone)."""
        ...

    def prepare(self, router: Router, conf_dir: Path, ports: RouterPorts,
                topology: str) -> dict[str, str]:
        """Write the router's config files into `conf_dir`; return extra Compose variables."""
        ...

    def is_ready(self, router: Router, state_dir: Path, ports: RouterPorts) -> bool:
        """Whether the router accepts lines now (called until True or the router exits)."""
        ...

    def counters(self, router: Router, state_dir: Path, ports: RouterPorts) -> RouterCounters:
        """The router's own counts at the end of the trial."""
        ...
