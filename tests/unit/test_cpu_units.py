"""The incident's task: an app that works (workload.busy_workers), ECS CPU units as CPU shares
inside the task (task.cpu_units), ECS's start order (task.app_start) and a router's time to
become ready (router.ready_timeout)."""

from pathlib import Path

import pytest

from pipeline_tests._errors import InputError
from pipeline_tests._routers.kind import RouterPorts
from pipeline_tests._scenario.cpu_units import container_units, cpu_shares, ecs_cpu_shares
from pipeline_tests._scenario.load import load
from pipeline_tests._scenario.matrix import cells_of
from pipeline_tests._scenario.model import COST_PRESETS
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._trial import compose_env


def env_of(scenario: Scenario) -> dict[str, str]:
    return compose_env.variables(scenario, image="img", line_run_id="0badcafe",
                                 ports=RouterPorts(router=1, sink=2, metrics=3))


def test_the_agents_rule_zero_and_one_become_two_shares() -> None:
    assert [ecs_cpu_shares(units) for units in (0, 1, 2, 256, 1024)] == [2, 2, 2, 256, 1024]


def test_firelens_default_gives_the_app_the_tasks_units_and_the_sidecar_none() -> None:
    assert container_units("firelens-default", 0.25) == {"app": 256, "router": 0}
    assert cpu_shares("firelens-default", 0.25) == {"app": 256, "router": 2}
    assert cpu_shares("app=512", 1.0) == {"app": 512, "router": 2}  # no `cpu`: 0 units
    assert cpu_shares("app=256,router=1024", None) == {"app": 256, "router": 1024}


@pytest.mark.parametrize(("cpu_units", "message"), [
    ("firelens-default", "'task.cpu_units: firelens-default' gives the app the task's CPU "
     "units, so it needs 'task.size' or 'task.cpus' in the scenario's task section (a matrix "
     "axis may still vary it); or give the units per container, e.g. {app: 256, router: 0}."),
    ("app=256,sidecar=0", "'task.cpu_units' must be 'firelens-default' or ECS CPU units per "
     "container (app, router; whole numbers, 1024 = one vCPU), e.g. {app: 256, router: 0}, got "
     "'app=256,sidecar=0'."),
    ("app=-3", "'task.cpu_units' must be 'firelens-default' or ECS CPU units per container "
     "(app, router; whole numbers, 1024 = one vCPU), e.g. {app: 256, router: 0}, got "
     "'app=-3'."),
    ("router=300000", "'task.cpu_units' for router must be at most 262,144 (Docker's largest "
     "CPU shares), got 300,000."),
])
def test_bad_cpu_units_are_refused_naming_the_key(cpu_units: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        Scenario().with_overrides({"task.cpu_units": cpu_units})
    assert str(err.value) == f"command line: {message}"


def test_a_yaml_mapping_of_units_and_the_files_and_variables_it_gives(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("task:\n  size: 0.25vcpu-0.5gb\n  cpu_units: {app: 256, router: 0}\n"
                    "workload:\n  busy_workers: all\n")
    scenario = load(path)
    assert (scenario.task.cpu_units, scenario.workload.busy_workers) == (
        "app=256,router=0", "all")
    assert [p.name for p in compose_env.variant_files(scenario, "firelens")] == [
        "task-cgroup.yaml", "app-cpu-shares.yaml", "router-cpu-shares.yaml"]
    env = env_of(scenario)
    assert (env["PT_APP_CPU_SHARES"], env["PT_ROUTER_CPU_SHARES"], env["PT_BUSY_WORKERS"]) == (
        "256", "2", "all")
    assert compose_env.cpu_of(scenario, "router") == (
        "the task's 0.25 CPUs shared with the app, 2 CPU shares of the task's 258 "
        "(task.cpu_units)")
    assert "PT_ROUTER_CPU_SHARES" not in env_of(Scenario())
    assert compose_env.cpu_of(Scenario(), "router") == ""


def test_firelens_default_with_the_task_size_on_a_matrix_axis() -> None:
    cells = cells_of(Scenario().with_overrides({
        "topologies": ["firelens"], "task.cpu_units": "firelens-default",
        "task.size": "0.25vcpu-0.5gb", "matrix": {"task.size": ["0.25vcpu-0.5gb", "1vcpu-2gb"]}}))
    assert [env_of(c.scenario)["PT_APP_CPU_SHARES"] for c in cells] == ["256", "1024"]


def test_cpu_units_alone_make_a_task_cgroup_without_a_quota() -> None:
    scenario = Scenario().with_overrides({"task.cpu_units": "app=1024,router=0"})
    assert compose_env.has_task_limits(scenario)
    assert [p.name for p in compose_env.variant_files(scenario, "direct-tcp")] == [
        "task-cgroup.yaml", "app-cpu-shares.yaml", "router-cpu-shares.yaml"]


def test_cpu_units_and_busy_workers_are_matrix_axes() -> None:
    base = Scenario().with_overrides({"topologies": ["firelens"], "task.size": "0.25vcpu-0.5gb"})
    scenario = base.with_overrides({"matrix": {
        "task.cpu_units": ["firelens-default", "app=256,router=1024"],
        "workload.busy_workers": [0, "all"]}})
    cells = cells_of(scenario)
    assert [cell.label for cell in cells] == [
        "firelens/builtin/ecs (task.cpu_units=firelens-default, workload.busy_workers=0)",
        "firelens/builtin/ecs (task.cpu_units=firelens-default, workload.busy_workers=all)",
        "firelens/builtin/ecs (task.cpu_units=app=256,router=1024, workload.busy_workers=0)",
        "firelens/builtin/ecs (task.cpu_units=app=256,router=1024, workload.busy_workers=all)"]
    assert [env_of(c.scenario)["PT_ROUTER_CPU_SHARES"] for c in cells] == [
        "2", "2", "1024", "1024"]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("workload.busy_workers", "many", "'workload.busy_workers' must be a whole number of "
     "CPU-burning processes from 0 to 1024, or 'all' (one per core), got 'many'."),
    ("workload.busy_workers", 2000, "'workload.busy_workers' must be a whole number of "
     "CPU-burning processes from 0 to 1024, or 'all' (one per core), got 2000."),
    ("workload.busy_workers", 1.5, "'workload.busy_workers' must be a whole number or a "
     "string, got 1.5."),
    ("task.app_start", "whenever", "'task.app_start' must be one of router-ready, "
     "router-started, got 'whenever'."),
    ("router.ready_timeout", 0, "'router.ready_timeout' must be > 0 seconds, got 0."),
    ("router.cost_per_record", "slow", "'router.cost_per_record' must be microseconds of CPU "
     "per record (a number >= 0) or a preset (fluentd-like), got 'slow'."),
    ("router.cost_per_record", -5, "'router.cost_per_record' must be microseconds of CPU per "
     "record (a number >= 0) or a preset (fluentd-like), got -5."),
])
def test_bad_workload_and_start_values_are_refused(key: str, value: object,
                                                   message: str) -> None:
    with pytest.raises(InputError) as err:
        Scenario().with_overrides({key: value})
    assert str(err.value) == f"command line: {message}"


def test_a_cost_per_record_for_the_builtin_router() -> None:
    costly = env_of(Scenario().with_overrides({"router.cost_per_record": 40}))
    assert (costly["PT_COST_PER_RECORD"], costly["PT_COST_PER_RECORD_TCP"]) == ("40", "40")
    preset = Scenario().with_overrides({"router.cost_per_record": "fluentd-like"})
    unix, tcp = COST_PRESETS["fluentd-like"]  # Fluentd's unix socket input costs, its TCP not
    assert (env_of(preset)["PT_COST_PER_RECORD"], env_of(preset)["PT_COST_PER_RECORD_TCP"]) == (
        f"{unix:g}", f"{tcp:g}") == ("300", "0")
    # A real router spends its own: the same scenario runs with --router fluentd.
    real = preset.with_overrides({"router.kind": "fluentd"})
    assert [p.name for p in compose_env.project_for("p", "firelens", real, {}).files][:2] == [
        "firelens.yaml", "router-fluentd.yaml"]


def test_defaults_keep_what_trials_always_did() -> None:
    s = Scenario()
    assert (s.workload.busy_workers, s.task.cpu_units, s.task.app_start,
            s.router.ready_timeout) == (0, None, "router-ready", 60.0)
    assert (env_of(s)["PT_BUSY_WORKERS"], env_of(s)["PT_COST_PER_RECORD"]) == ("0", "0")
