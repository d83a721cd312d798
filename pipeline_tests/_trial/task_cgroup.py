"""The task's own cgroup: one CPU quota and memory limit shared by the app and the router, the
way an ECS task size (Fargate's, or a task-level `cpu`/`memory` on EC2) caps a whole task.

pipeline-tests creates /sys/fs/cgroup/.../pipeline-tests/<project> with the limits before the
containers start and names it as their `cgroup_parent`; Docker (runc) makes each container's
cgroup below it. Removed after `compose down`. This needs Docker's `cgroupfs` cgroup driver (the
default outside systemd hosts); with the `systemd` driver a parent must be a systemd slice whose
limits systemd owns, which this does not manage: such a run is refused up front.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from pipeline_tests._docker.engine import Engine
from pipeline_tests._errors import SetupError

ROOT = Path("/sys/fs/cgroup")
PARENT = "pipeline-tests"
PERIOD_US = 100_000


@dataclass(frozen=True)
class TaskCgroup:
    parent: str  # what compose's cgroup_parent names, e.g. "/pipeline-tests/pt-run-1"
    root: Path


def check_engine(engine: Engine, driver: str) -> None:
    """The one check that task limits can be made for trials on this engine: a cgroup on this
    machine, so the local engine only, with Docker's cgroupfs driver (run: before anything
    starts; a trial: again, for a caller that did not ask run)."""
    if not engine.is_local:
        raise SetupError(f"Task limits (task.size, task.cpus, task.memory, task.cpu_units) are "
                         f"a cgroup made on this machine, so they need the local engine, but "
                         f"cells with them may run on engine {engine.name}. Run those cells on "
                         "`local` (an `engine` matrix axis with an `exclude`), or drop the task "
                         "limits (limits.app_cpus and limits.router_cpus work anywhere).")
    _check_driver(driver)


def _check_driver(driver: str) -> None:
    if driver != "cgroupfs":
        raise SetupError(f"Task-level limits (task.size, task.cpus, task.memory, "
                         f"task.cpu_units) need Docker's cgroupfs cgroup driver; this engine "
                         f"uses '{driver}'. Set per-container limits instead (limits.app_cpus, "
                         "limits.router_cpus, limits.*_memory), or run dockerd with "
                         "--exec-opt native.cgroupdriver=cgroupfs.")


def create(name: str, cpus: float | None, memory: int | None, driver: str,
           root: Path = ROOT) -> TaskCgroup:
    _check_driver(driver)
    try:
        return _create_v2(name, cpus, memory, root) if (root / "cgroup.controllers").is_file() \
            else _create_v1(name, cpus, memory, root)
    except OSError as err:
        raise SetupError(f"Could not create the task's cgroup under {root} ({err}). Task-level "
                         "limits need root and a writable cgroup file system.") from None


def remove(cgroup: TaskCgroup) -> None:
    """The task's directory in every hierarchy (runc makes it in each v1 controller, not only
    cpu and memory), then pipeline-tests/ itself where no other trial still uses it."""
    name = cgroup.parent.rsplit("/", 1)[1]
    tops = [cgroup.root, *(p for p in cgroup.root.iterdir() if p.is_dir())]
    for top in tops:
        for path in (top / PARENT / name, top / PARENT):
            with contextlib.suppress(OSError):  # absent, or busy: another trial's
                path.rmdir()


def _create_v1(name: str, cpus: float | None, memory: int | None, root: Path) -> TaskCgroup:
    for controller, values in (("cpu", _v1_cpu(cpus)), ("memory", _v1_memory(memory))):
        task_dir = root / controller / PARENT / name
        task_dir.mkdir(parents=True, exist_ok=True)
        for file, value in values.items():
            (task_dir / file).write_text(value)
    return TaskCgroup(f"/{PARENT}/{name}", root)


def _v1_cpu(cpus: float | None) -> dict[str, str]:
    if cpus is None:
        return {}
    return {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(round(cpus * PERIOD_US))}


def _v1_memory(memory: int | None) -> dict[str, str]:
    return {} if memory is None else {"memory.limit_in_bytes": str(memory)}


def _create_v2(name: str, cpus: float | None, memory: int | None, root: Path) -> TaskCgroup:
    task_dir = root / PARENT / name
    task_dir.mkdir(parents=True, exist_ok=True)
    for level in (root, root / PARENT, task_dir):  # let the limits apply below each level
        (level / "cgroup.subtree_control").write_text("+cpu +memory")
    if cpus is not None:
        (task_dir / "cpu.max").write_text(f"{round(cpus * PERIOD_US)} {PERIOD_US}")
    if memory is not None:
        (task_dir / "memory.max").write_text(str(memory))
    return TaskCgroup(f"/{PARENT}/{name}", root)
