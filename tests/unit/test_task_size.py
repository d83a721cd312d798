from pathlib import Path

import pytest

from pipeline_tests._errors import InputError, SetupError
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._scenario.task_size import parse_bytes, parse_size, task_limits
from pipeline_tests._trial import task_cgroup
from pipeline_tests._trial.compose_env import variant_files


def test_fargate_sizes_and_the_combinations_it_refuses() -> None:
    assert parse_size("0.25vcpu-0.5gb") == (0.25, 512 * 1024**2)
    assert parse_size("4 vCPU - 30 GB".replace(" - ", "-")) == (4.0, 30 * 1024**3)
    assert parse_size("16vcpu-120gb") == (16.0, 120 * 1024**3)
    assert parse_size("0.25vcpu-3gb") == (
        "Fargate does not allow 3 GB with 0.25 vCPU; allowed: 0.5, 1, 2 GB")
    assert parse_size("8vcpu-18gb") == (
        "Fargate does not allow 18 GB with 8 vCPU; allowed: "
        "16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60 GB")
    assert parse_size("3vcpu-6gb") == (
        "Fargate has no 3 vCPU task size; vCPU values: 0.25, 0.5, 1, 2, 4, 8, 16")
    assert parse_size("small") == ("'small' is not a task size; write '<vCPU>vcpu-<GB>gb', e.g. "
                                   "'0.25vcpu-0.5gb' or '1vcpu-2gb'")


def test_task_limits_from_a_size_or_from_cpus_and_memory() -> None:
    assert task_limits(None, 1.5, "768m") == (1.5, 768 * 1024**2)
    assert task_limits(None, None, None) == (None, None)
    assert task_limits("1vcpu-2gb", 1.0, None) == (
        "give 'task.size' or 'task.cpus'/'task.memory', not both")
    assert task_limits(None, None, "lots") == (
        "'task.memory' must be a size of at least 6m such as '512m' or '2g', got 'lots'")
    assert (parse_bytes("64k"), parse_bytes("1.5g"), parse_bytes("100")) == (
        65536, 1610612736, 100)


def test_scenario_checks_cpus_and_task_and_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        Scenario().with_overrides({"limits.router_cpus": 0})
    assert str(err.value) == ("command line: 'limits.router_cpus' must be between 0.01 and 192 "
                              "CPUs, got 0.0.")
    with pytest.raises(InputError) as err:
        Scenario().with_overrides({"task.size": "2vcpu-2gb"})
    assert str(err.value) == ("command line: Fargate does not allow 2 GB with 2 vCPU; allowed: "
                              "4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 GB.")
    with pytest.raises(InputError) as err:
        Scenario().with_overrides({"stop.router_gap": -1})
    assert str(err.value) == "command line: 'stop.router_gap' must be >= 0 s."


def test_cpu_and_task_limits_add_their_compose_files() -> None:
    s = Scenario().with_overrides({"limits.app_cpus": 0.5, "limits.router_cpus": 0.25,
                                   "task.size": "1vcpu-2gb"})
    assert [p.name for p in variant_files(s, "firelens")] == [
        "app-cpus.yaml", "router-cpus.yaml", "task-cgroup.yaml"]
    assert variant_files(Scenario(), "firelens") == ()


def test_task_cgroup_v1_and_v2_layouts_and_removal(tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    for controller in ("cpu", "memory", "pids"):
        (v1 / controller).mkdir(parents=True)
    cg = task_cgroup.create("pt-x-1", 0.5, 1024**3, "cgroupfs", root=v1)
    assert cg.parent == "/pipeline-tests/pt-x-1"
    task = Path("pipeline-tests/pt-x-1")
    assert (v1 / "cpu" / task / "cpu.cfs_quota_us").read_text() == "50000"
    assert (v1 / "memory" / task / "memory.limit_in_bytes").read_text() == str(1024**3)
    (v1 / "pids" / task).mkdir(parents=True)  # runc makes one in every controller
    for control in v1.glob("*/pipeline-tests/pt-x-1/*"):
        control.unlink()  # on a cgroup file system they go with their directory
    task_cgroup.remove(cg)
    assert sorted(p.name for p in v1.glob("*/*")) == []
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    cg = task_cgroup.create("pt-x-2", 0.25, None, "cgroupfs", root=v2)
    assert (v2 / task.parent / "pt-x-2" / "cpu.max").read_text() == "25000 100000"
    assert (v2 / "cgroup.subtree_control").read_text() == "+cpu +memory"
    with pytest.raises(SetupError) as err:
        task_cgroup.create("pt-x-3", 1, None, "systemd", root=v2)
    assert str(err.value).startswith("Task-level limits (task.size, task.cpus, task.memory, "
                                     "task.cpu_units) need Docker's cgroupfs cgroup driver; "
                                     "this engine uses 'systemd'.")
