"""The seam between a trial and its router: what every router kind provides.

A trial knows a router only through this protocol; each kind is one module (builtin.py,
fluent_bit.py, fluentd.py) and the registry in __init__.py maps `router.kind` to it.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from pipeline_tests._routers.metrics import Poll
from pipeline_tests._scenario.model import Router


@dataclass(frozen=True)
class RouterPorts:
    router: int  # Forward input on 127.0.0.1
    sink: int  # where the router sends
    metrics: int  # the router's own HTTP metrics / monitor endpoint on 127.0.0.1, if it has one

    @classmethod
    def free(cls, sink: int) -> RouterPorts:
        """Free loopback ports for a router's input and metrics; it sends to `sink`."""
        return cls(router=free_port(), sink=sink, metrics=free_port())


def free_port() -> int:
    """A free port on this machine's loopback (on another engine's, most likely free too)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class RouterCounters:
    """What the router itself says it did (None where it does not count)."""

    received: int | None  # records accepted by its inputs
    sent: int | None  # records its output sent to the sink (Fluent Bit: flushed OK)
    received_unknown: str = ""  # why received is None
    sent_unknown: str = ""  # why sent is None
    # Counted where the router delivers, by the next tier (resolve() fills them in): `sent`
    # always for a real router; `received` when the router provably delivered all it
    # accepted. A received_floor (its own last count, a lower bound) above what the next tier
    # took in disproves that.
    received_at_sink: bool = False
    sent_at_sink: bool = False
    received_floor: int | None = None

    def resolve(self, taken: int | None, by: str = "the sink",
                why: str = "not counted") -> RouterCounters:
        """The counts with those measured where the router delivers: `taken` lines reached
        `by`, the next tier (the sink's distinct lines, or the aggregator tier's input count;
        None: that count is unknown, `why`)."""
        if taken is None:
            unknown = f"it delivers to {by}, whose input count is unknown: {why or 'not counted'}"
            return replace(
                self, received=None if self.received_at_sink else self.received,
                received_unknown=unknown if self.received_at_sink else self.received_unknown,
                sent=None if self.sent_at_sink else self.sent,
                sent_unknown=unknown if self.sent_at_sink else self.sent_unknown,
                received_at_sink=False, sent_at_sink=False, received_floor=None)
        received, because = self.received, self.received_unknown
        if self.received_at_sink:
            floor = self.received_floor
            if floor is not None and floor > taken:
                received, because = None, (f"it counted {floor:,} records in but {by} received "
                                           f"{taken:,}: it did not deliver all it accepted")
            else:
                received = taken
        return replace(self, received=received, received_unknown=because,
                       sent=taken if self.sent_at_sink else self.sent,
                       received_at_sink=False, sent_at_sink=False, received_floor=None)

    def unknown(self, tier: str = "router") -> dict[str, str]:
        """hop -> why its count is None, for the hops that are None (`tier`_in, `tier`_out)."""
        reasons = {f"{tier}_in": (self.received, self.received_unknown or "not counted"),
                   f"{tier}_out": (self.sent, self.sent_unknown or "not counted")}
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

    def check(self, router: Router) -> None:
        """InputError for settings this kind cannot carry out (checked before the run)."""
        ...

    def log_errors(self, log: str) -> list[str]:
        """The lines of its log that say something went wrong (warnings and errors, not those
        every clean run logs), without time stamps, in order."""
        ...

    def prepare(self, router: Router, conf_dir: Path, ports: RouterPorts,
                topology: str) -> dict[str, str]:
        """Write the router's config files into `conf_dir` and copy the user's files next to it
        (`conf_dir`/../user); return extra Compose variables."""
        ...

    def poll(self, ports: RouterPorts) -> Poll | None:
        """The metrics endpoint the sink container polls for it (None: nothing to poll)."""
        ...

    def is_ready(self, router: Router, state_dir: Path, ports: RouterPorts) -> bool:
        """Whether the router accepts lines now (called until True or the router exits)."""
        ...

    def counters(self, router: Router, state_dir: Path, ports: RouterPorts,
                 log: str | None) -> RouterCounters:
        """The router's own counts: at the end of the trial when `log` is its log (what it
        wrote over the trial), its counts so far while it still runs (`log` None)."""
        ...
