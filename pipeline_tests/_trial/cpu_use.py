"""Evidence of starvation: each task container's CPU use and CFS throttling from its cgroup
(`cpu.stat`: usage, periods, nr_throttled, throttled time; cgroup v1 reads usage from
`cpuacct.usage`), and the task cgroup's where there is one.

Runc removes a container's cgroup when the container exits, so the trial samples on every tick
and keeps each container's last reading. "flood" is what each used from the app's start to the
stop (the window in which the app and the router competed; the router's own start-up before
is not in it), "total" its last reading before it went away (its whole life). Only the local engine
shares this machine's cgroup file system and process ids: on any other, and where a file cannot
be read, the figures are null with the reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker.errors

ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CpuStat:
    usage_s: float  # CPU time used since the cgroup was made
    nr_periods: int  # CFS periods with a quota in force (0 without one)
    nr_throttled: int  # periods in which the quota ran out
    throttled_s: float  # time spent throttled
    shares: int | None  # cpu.shares (v1) or cpu.weight (v2), as the kernel holds it


@dataclass(frozen=True)
class Dirs:
    """Where a cgroup's CPU files are: one directory on v2; cpu and cpuacct on v1."""

    cpu: Path
    cpuacct: Path | None  # None: cgroup v2 (usage is in cpu.stat)


def container_dirs(pid: int, root: Path = ROOT, proc: Path = Path("/proc")) -> Dirs | None:
    """A running process's cgroup directories, from /proc/<pid>/cgroup."""
    try:
        text = (proc / str(pid) / "cgroup").read_text()
    except OSError:
        return None
    found: dict[str, Path] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: "0::/path"
            found.setdefault("v2", root / path.lstrip("/"))
        for name in controllers.split(","):
            if name in ("cpu", "cpuacct"):
                found[name] = root / controllers / path.lstrip("/")
    if "cpu" in found:
        return Dirs(found["cpu"], found.get("cpuacct"))
    return Dirs(found["v2"], None) if "v2" in found else None


def task_dirs(parent: str, root: Path = ROOT) -> Dirs:
    """The task cgroup's directories (task_cgroup.TaskCgroup.parent, e.g. /pipeline-tests/x)."""
    relative = parent.lstrip("/")
    if (root / "cgroup.controllers").is_file():
        return Dirs(root / relative, None)
    return Dirs(root / "cpu" / relative, root / "cpuacct" / relative)


def read(dirs: Dirs) -> CpuStat | None:
    """The cgroup's figures now; None once it is gone (or unreadable)."""
    try:
        stat = dict(_pairs((dirs.cpu / "cpu.stat").read_text()))
        if dirs.cpuacct is None:  # v2: microseconds, weight 1-10000
            return CpuStat(stat["usage_usec"] / 1e6, stat.get("nr_periods", 0),
                           stat.get("nr_throttled", 0), stat.get("throttled_usec", 0) / 1e6,
                           _int_file(dirs.cpu / "cpu.weight"))
        usage = int((dirs.cpuacct / "cpuacct.usage").read_text())
        return CpuStat(usage / 1e9, stat.get("nr_periods", 0), stat.get("nr_throttled", 0),
                       stat.get("throttled_time", 0) / 1e9, _int_file(dirs.cpu / "cpu.shares"))
    except (OSError, KeyError, ValueError):
        return None


def since(start: CpuStat | None, end: CpuStat) -> CpuStat:
    """What a cgroup used from `start` to `end` (all of `end` without a start)."""
    if start is None:
        return end
    return CpuStat(round(end.usage_s - start.usage_s, 6), end.nr_periods - start.nr_periods,
                   end.nr_throttled - start.nr_throttled,
                   round(end.throttled_s - start.throttled_s, 6), end.shares)


def _pairs(text: str) -> list[tuple[str, int]]:
    return [(key, int(value)) for key, value in (line.split() for line in text.splitlines()
                                                 if line.strip())]


def _int_file(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


class CpuWatch:
    """Samples the task's cgroups through the trial; `figures()` is TrialResult.cpu."""

    def __init__(self, dirs: Mapping[str, Dirs | None], note: str = "") -> None:
        self._dirs = dict(dirs)
        self._last: dict[str, CpuStat] = {}
        self.sample()
        self._start = dict(self._last)  # the app just started: the flood's window opens
        self._at_stop: dict[str, CpuStat] = {}
        self._note = note

    @classmethod
    def unreadable(cls, note: str) -> CpuWatch:
        return cls({}, note)

    def sample(self) -> None:
        for name, dirs in self._dirs.items():
            if dirs is not None and (stat := read(dirs)) is not None:
                self._last[name] = stat

    def mark_stop(self) -> None:
        """The stop begins: what each container used while the app flooded."""
        self.sample()
        self._at_stop = {name: since(self._start.get(name), stat)
                         for name, stat in self._last.items()}

    def figures(self) -> dict[str, Any]:
        """{"note": why a figure is null, or ""; per cgroup (app, router, task): "flood" (from
        the app's start to the stop) and "total" (the last reading), each a CpuStat as a
        mapping or null}."""
        self.sample()
        notes = [self._note] if self._note else []
        notes += [f"the {name}'s cgroup could not be read" for name in self._dirs
                  if name not in self._last]
        figures: dict[str, Any] = {"note": "; ".join(notes)}
        for name in self._dirs:
            flood, total = self._at_stop.get(name), self._last.get(name)
            figures[name] = {"flood": None if flood is None else asdict(flood),
                             "total": None if total is None else asdict(total)}
        return figures


def watch(containers: Mapping[str, Any], task_parent: str | None, local: bool,
          engine: str) -> CpuWatch:
    """A watch on the running containers (Docker SDK objects) and the task's cgroup."""
    if not local:
        return CpuWatch.unreadable(
            f"the engine {engine} is not this machine: its containers' cgroups and process "
            "ids cannot be read from here")
    dirs: dict[str, Dirs | None] = {}
    for name, container in containers.items():
        with contextlib.suppress(docker.errors.APIError):  # gone: named in the note instead
            container.reload()
        pid = container.attrs.get("State", {}).get("Pid") or 0
        dirs[name] = container_dirs(pid) if pid else None
    if task_parent is not None:
        dirs["task"] = task_dirs(task_parent)
    return CpuWatch(dirs)
