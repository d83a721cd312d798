"""Production-sized tasks on the real engine: a CPU-starved router loses where the same router
with the machine to itself does not, and a task size is one cgroup holding app and router."""

from pathlib import Path
from typing import Any

import pytest

import pipeline_tests as pt
from pipeline_tests._trial.task_cgroup import PARENT

pytestmark = pytest.mark.docker
CGROUP = Path("/sys/fs/cgroup")


def firelens(rate: int, after: float = 3, **overrides: Any) -> pt.Scenario:
    return pt.Scenario().with_overrides({"topologies": ["firelens"], "trials": 1,
                                         "stop.after": after, "workload.rate": rate,
                                         **overrides})


def test_a_cpu_limited_router_loses_where_an_unlimited_one_does_not(image: str,
                                                                    tmp_path: Path) -> None:
    # 2,000 lines/s for 5 s: far below what the builtin router takes with the machine to itself
    # even when the machine is busy (unlimited, it lost 4,118 at 10,000 lines/s beside a
    # build), far above what 0.01 CPU takes (measured: at 3,000 lines/s it lost 10,252 of
    # 15,883, so it takes about 1,000 lines/s; a quiet machine cannot give it more than its
    # quota).
    free = pt.run(firelens(2_000, after=5), tmp_path)
    starved = pt.run(firelens(2_000, after=5, **{"limits.router_cpus": 0.01}), tmp_path)
    (a,), (b,) = free.trials, starved.trials
    assert (a.lost, a.lost_at) == (0, "none")
    assert b.lost >= 2_000 and b.lost_at == "app->router_in"
    assert b.lost == b.lost_before_stop  # queued in the log driver before SIGTERM, then dropped
    assert "cpus: 0.01" in (tmp_path / starved.run_id / "firelens__1" / "compose.yaml").read_text()


def test_a_fargate_task_size_is_one_cgroup_for_app_and_router(image: str,
                                                              tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def look(event: pt.Event) -> None:
        if isinstance(event, pt.RunStarted):
            seen["task"] = f"pt-{event.run_id}-1"
        elif (isinstance(event, pt.TrialProgress) and event.phase == "flooding"
              and "cpu" not in seen):
            task = seen["task"]
            seen["cpu"] = (CGROUP / "cpu" / PARENT / task / "cpu.cfs_quota_us").read_text()
            seen["memory"] = (CGROUP / "memory" / PARENT / task / "memory.limit_in_bytes"
                              ).read_text()
            seen["containers"] = len([p for p in (CGROUP / "cpu" / PARENT / task).iterdir()
                                      if p.is_dir()])

    if not (CGROUP / "cpu" / "cpu.cfs_quota_us").is_file():
        pytest.skip("this test reads cgroup v1 files; the engine here is on cgroup v2")
    results = pt.run(firelens(1_000, **{"task.size": "0.25vcpu-0.5gb"}), tmp_path,
                     on_event=look)
    assert (seen["cpu"], seen["memory"], seen["containers"]) == ("25000\n", "536870912\n", 2)
    (trial,) = results.trials
    assert trial.lost == 0 and trial.emitted == trial.received_distinct > 0
    rendered = (tmp_path / results.run_id / "firelens__1" / "compose.yaml").read_text()
    assert rendered.count(f"cgroup_parent: /{PARENT}/{seen['task']}") == 2
    assert list(CGROUP.glob(f"*/{PARENT}/{seen['task']}")) == []  # removed with the task


def test_a_task_size_fargate_does_not_have_is_refused() -> None:
    with pytest.raises(pt.InputError) as err:
        firelens(1_000, **{"task.size": "0.25vcpu-4gb"})
    assert str(err.value) == ("command line: Fargate does not allow 4 GB with 0.25 vCPU; "
                              "allowed: 0.5, 1, 2 GB.")
