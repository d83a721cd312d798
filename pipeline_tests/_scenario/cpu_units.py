"""ECS container CPU units (`cpu` in a container definition) and the CPU shares the agent turns
them into, inside the task's cgroup (`task.cpu_units`; docs/ecs.md).

amazon-ecs-agent `agent/api/task/task_linux.go`, `dockerCPUShares`: "Docker silently converts 0
to 1024 CPU shares ... Instead, we convert 0 to 2" (1 is invalid for Linux). A FireLens sidecar
without `cpu` therefore gets 2 shares beside an app given the task's units: 2/258 of a 0.25 vCPU
task's CPU whenever the app keeps every core busy. Docker passes the shares on as the cgroup's
`cpu.shares` (v1), or converted to `cpu.weight` (v2) by runc.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

CONTAINERS = ("app", "router")  # the task's containers (an aggregator is outside the task)
UNITS_PER_CPU = 1024
MAX_UNITS = 262_144  # the most CPU shares Docker accepts
# The common FireLens task definition: the app holds the task's units, the sidecar none.
FIRELENS_DEFAULT = "firelens-default"
_PAIR = re.compile(r"^\s*([a-z]+)\s*=\s*(\d+)\s*$")


def ecs_cpu_shares(units: int) -> int:
    """The agent's rule (dockerCPUShares): 0 and 1 become 2, anything else stays."""
    return 2 if units <= 1 else units


def as_text(value: object) -> object:
    """A YAML mapping {app: 256, router: 0} as the scenario keeps it: 'app=256,router=0'
    (anything else unchanged, for `container_units` to check)."""
    if isinstance(value, Mapping):
        return ",".join(f"{name}={units}" for name, units in value.items())
    return value


def container_units(text: str, task_cpus: float | None) -> dict[str, int] | str:
    """Units per container from 'app=256,router=0' or a preset; or why it is not one."""
    if text.strip() == FIRELENS_DEFAULT:
        if task_cpus is None:
            return (f"'task.cpu_units: {FIRELENS_DEFAULT}' gives the app the task's CPU units, "
                    "so it needs 'task.size' or 'task.cpus' in the scenario's task section (a "
                    "matrix axis may still vary it); or give the units per container, e.g. "
                    "{app: 256, router: 0}")
        return {"app": round(task_cpus * UNITS_PER_CPU), "router": 0}
    units: dict[str, int] = {}
    for part in text.split(","):
        match = _PAIR.match(part)
        if match is None or match.group(1) not in CONTAINERS or match.group(1) in units:
            return (f"'task.cpu_units' must be '{FIRELENS_DEFAULT}' or ECS CPU units per "
                    f"container ({', '.join(CONTAINERS)}; whole numbers, 1024 = one vCPU), "
                    f"e.g. {{app: 256, router: 0}}, got {text!r}")
        name, value = match.group(1), int(match.group(2))
        if value > MAX_UNITS:
            return (f"'task.cpu_units' for {name} must be at most {MAX_UNITS:,} (Docker's "
                    f"largest CPU shares), got {value:,}")
        units[name] = value
    return units


def cpu_shares(text: str, task_cpus: float | None) -> dict[str, int]:
    """The CPU shares of each of the task's containers, the agent's rule applied; a container
    not named has no `cpu` in its definition (0 units: 2 shares). The text was checked with
    `container_units`."""
    units = container_units(text, task_cpus)
    assert not isinstance(units, str), units
    return {name: ecs_cpu_shares(units.get(name, 0)) for name in CONTAINERS}
