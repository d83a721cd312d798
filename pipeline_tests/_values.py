"""Values that cross the layers: made at the Docker edge, kept in results. Standard library
only, so `_docker` (the edge) and `_results` may both import them (tests/unit/test_layout.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineFacts:
    """What each trial records of the engine that ran it (results.json `engine`)."""

    name: str
    version: str = ""
    api_version: str = ""
    kernel: str = ""
    os: str = ""
    cpus: int = 0
    cgroup: str = ""  # "v1 cgroupfs", "v2 systemd", ...

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> EngineFacts | None:
        """The inverse of as_json(); None for a trial that recorded none (`{}`)."""
        if not data:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class DriverEvidence:
    """dockerd's evidence of a drop inside the `fluentd` log driver while a trial ran
    (results.json `driver_evidence`); the lines themselves are in the trial's
    driver-evidence.txt. Counts are None where the log could not be read (`reason` says why)."""

    source: str | None  # dockerd's log file, or "journalctl -u docker"
    lines: int | None  # its lines about the driver or the app's container
    discarding: int | None  # its "Discarding queued events" messages
    events_discarded: int | None  # None: dockerd does not say how many
    reason: str

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DriverEvidence | None:
        """The inverse of as_json(); None for a trial that recorded none (`{}`)."""
        if not data:
            return None
        return cls(data.get("source"), data.get("lines"), data.get("discarding"),
                   data.get("events_discarded"), str(data.get("reason", "")))
