"""Fargate task sizes: the CPU and memory combinations Fargate allows, as `task.size` presets.

From the ECS developer guide, "Task CPU and memory" for Fargate (Linux): 0.25 vCPU with 0.5, 1
or 2 GB; 0.5 vCPU with 1-4 GB; 1 vCPU with 2-8 GB; 2 vCPU with 4-16 GB; 4 vCPU with 8-30 GB (1 GB
steps); 8 vCPU with 16-60 GB (4 GB steps); 16 vCPU with 32-120 GB (8 GB steps).
"""

from __future__ import annotations

import re

FARGATE_MEMORY_GB: dict[float, tuple[float, ...]] = {
    0.25: (0.5, 1, 2),
    0.5: (1, 2, 3, 4),
    1: tuple(range(2, 9)),
    2: tuple(range(4, 17)),
    4: tuple(range(8, 31)),
    8: tuple(range(16, 61, 4)),
    16: tuple(range(32, 121, 8)),
}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)vcpu-(\d+(?:\.\d+)?)gb$")
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)([bkmg]?)$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_bytes(text: str) -> int | None:
    """'512m' -> 536870912 (Docker's and Compose's memory notation); None when not one."""
    match = _BYTES.match(text.strip().lower())
    return None if match is None else int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_size(size: str) -> tuple[float, int] | str:
    """'0.25vcpu-0.5gb' -> (0.25 CPUs, 536870912 bytes), or the reason it is not a Fargate size."""
    match = _SIZE.match(size.replace(" ", "").lower())
    if match is None:
        return (f"'{size}' is not a task size; write '<vCPU>vcpu-<GB>gb', e.g. '0.25vcpu-0.5gb' "
                "or '1vcpu-2gb'")
    cpus, memory_gb = float(match.group(1)), float(match.group(2))
    allowed = FARGATE_MEMORY_GB.get(cpus)
    if allowed is None:
        return (f"Fargate has no {cpus:g} vCPU task size; vCPU values: "
                f"{', '.join(f'{c:g}' for c in FARGATE_MEMORY_GB)}")
    if memory_gb not in allowed:
        return (f"Fargate does not allow {memory_gb:g} GB with {cpus:g} vCPU; allowed: "
                f"{', '.join(f'{m:g}' for m in allowed)} GB")
    return cpus, int(memory_gb * 1024**3)


def task_limits(size: str | None, cpus: float | None,
                memory: str | None) -> tuple[float | None, int | None] | str:
    """(CPUs, memory bytes) of the task, from a Fargate size or from cpus/memory; or why not."""
    if size is not None:
        if cpus is not None or memory is not None:
            return "give 'task.size' or 'task.cpus'/'task.memory', not both"
        return parse_size(size)
    if cpus is not None and not 0.01 <= cpus <= 192:
        return f"'task.cpus' must be between 0.01 and 192, got {cpus:g}"
    memory_bytes = None if memory is None else parse_bytes(memory)
    if memory is not None and (memory_bytes is None or memory_bytes < 6 * 1024**2):
        return f"'task.memory' must be a size of at least 6m such as '512m' or '2g', got {memory!r}"
    return cpus, memory_bytes
