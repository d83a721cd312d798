"""Values that cross the layers: made at the Docker edge, kept in results. Standard library
only, so `_docker` (the edge) and `_results` may both import them (tests/unit/test_layout.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

_Value = TypeVar("_Value", bound="_JsonValue")


class _JsonValue:
    """as_json() and its inverse for the frozen dataclasses below: a key results.json does not
    hold takes the field's default, a key it holds that the class does not know is ignored."""

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: type[_Value], data: Mapping[str, Any] | None) -> _Value | None:
        """None for a trial that recorded none (`{}`)."""
        if not data:
            return None
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class EngineFacts(_JsonValue):
    """What each trial records of the engine that ran it (results.json `engine`)."""

    name: str
    version: str = ""
    api_version: str = ""
    kernel: str = ""
    os: str = ""
    cpus: int = 0
    cgroup: str = ""  # "v1 cgroupfs", "v2 systemd", ...


@dataclass(frozen=True)
class DriverEvidence(_JsonValue):
    """dockerd's evidence of a drop inside the `fluentd` log driver while a trial ran
    (results.json `driver_evidence`); the lines themselves are in the trial's
    driver-evidence.txt. Counts are None where the log could not be read (`reason` says why)."""

    source: str | None = None  # dockerd's log file, or "journalctl -u docker"
    lines: int | None = None  # its lines about the driver or the app's container
    discarding: int | None = None  # its "Discarding queued events" messages
    events_discarded: int | None = None  # None: dockerd does not say how many
    reason: str = ""
