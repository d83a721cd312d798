"""dockerd's own evidence of a driver-side drop, kept next to the trial's result.

Docker 20.10's `fluentd` driver (fluent-logger-golang v1.8.0, vendored by moby) writes to
dockerd's stderr, when an async logger is closed with events still queued:
    `[2026-12-01T19:19:56Z] Discarding queued events...`
and, when a write fails, `[...] Unable to send logs to fluentd, reconnecting...`. Neither names
the container nor says how many events, so the evidence is: the lines dockerd wrote while the
trial ran, plus its logrus lines naming the app's container (`Error writing log message`,
`Failed to log msg ...`). setup.sh's dockerd writes to DOCKERD_LOG; a systemd dockerd to journald.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline_tests._values import DriverEvidence

DOCKERD_LOG = Path("/var/log/pipeline-tests-dockerd.log")  # where setup.sh's dockerd writes
EVIDENCE_FILE = "driver-evidence.txt"
DISCARDING = "Discarding queued events"
DRIVER_LINES = (DISCARDING, "Unable to send logs to fluentd")
NO_COUNT = "dockerd's message does not say how many events it discarded"
SHARED = ("dockerd's message names no container: one from another container on this daemon in "
          "the same seconds would be counted too")


@dataclass(frozen=True)
class Mark:
    """Where the daemon's log stood when the app started."""

    source: str | None  # a file path, "journalctl -u docker", or None (unreadable)
    offset: int  # the file's size then (0 for journald)
    since: float  # epoch seconds
    reason: str = ""  # why source is None


def mark(now: float, log_file: Path = DOCKERD_LOG, engine: str | None = None) -> Mark:
    """`engine`: the name of an engine other than the local one (its log is not on this disk)."""
    if engine is not None:
        return Mark(None, 0, now, f"the trial ran on engine {engine}: its daemon's log is not "
                                  "readable through the Docker API")
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return Mark(None, 0, now, f"the engine is remote ({host}): its log is not readable here")
    try:
        return Mark(str(log_file), log_file.stat().st_size, now)
    except OSError:
        pass
    if shutil.which("journalctl") and _journal(now - 3600, now):
        return Mark("journalctl -u docker", 0, now)
    return Mark(None, 0, now, f"neither {log_file} nor `journalctl -u docker` has dockerd's log")


def collect(start: Mark, until: float, container_id: str, trial_dir: Path,
            uses_driver: bool) -> DriverEvidence:
    """The matching lines into <trial>/driver-evidence.txt; counts for the result."""
    if not uses_driver:
        return _unknown("the app does not log through Docker's fluentd driver")
    if start.source is None:
        return _unknown(start.reason)
    lines = _read(start, until)
    if lines is None:
        return _unknown(f"{start.source} could not be read")
    kept = [line for line in lines if any(text in line for text in DRIVER_LINES)
            or (container_id and container_id in line)]
    (trial_dir / EVIDENCE_FILE).write_text(
        f"# dockerd's lines while the trial ran, from {start.source}\n" + "".join(kept))
    return DriverEvidence(start.source, len(kept), sum(1 for line in kept if DISCARDING in line),
                          None, f"{NO_COUNT}; {SHARED}")


def _unknown(reason: str) -> DriverEvidence:
    return DriverEvidence(None, None, None, None, reason)


def _read(start: Mark, until: float) -> list[str] | None:
    if start.source == "journalctl -u docker":
        return _journal(start.since - 1, until + 1)
    try:
        with open(start.source or "", "rb") as log:
            log.seek(start.offset)
            data = log.read()
    except OSError:
        return None
    return data.decode("utf-8", "replace").splitlines(keepends=True)


def _journal(since: float, until: float) -> list[str] | None:
    try:
        done = subprocess.run(
            ["journalctl", "-u", "docker", "--no-pager", "-o", "short-iso",
             f"--since=@{since:.0f}", f"--until=@{until:.0f}"],
            capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [line + "\n" for line in done.stdout.splitlines() if not line.startswith("-- ")]
