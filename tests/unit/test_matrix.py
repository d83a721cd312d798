from pathlib import Path

import pytest
import yaml

from pipeline_tests._errors import InputError
from pipeline_tests._scenario.axes import canonical_axis, parse_matrix
from pipeline_tests._scenario.load import load
from pipeline_tests._scenario.matrix import (
    Cell,
    _dirnames,
    axis_names,
    cells_of,
    expand,
    trial_dirname,
)
from pipeline_tests._scenario.scenario import Scenario

ISSUE_MATRIX = """
matrix:
  topology: [firelens, direct-tcp]
  stop.sequence: [ecs, all-at-once, kill]
  workload.rate: [300, 3000, max]
  driver.fluentd_async: [true, false]
exclude:
  - {topology: direct-tcp, driver.fluentd_async: false}
"""


def issue_cells() -> list[Cell]:
    axes, exclude = parse_matrix(yaml.safe_load(ISSUE_MATRIX), lambda *keys: "s.yaml")
    return expand(Scenario(), axes, exclude)


def error(axes: dict, exclude: list | None = None, base: Scenario | None = None) -> str:
    with pytest.raises(InputError) as caught:
        expand(base or Scenario(), axes, exclude or [])
    return str(caught.value)


def test_parse_matrix_canonicalises_keys() -> None:
    axes, exclude = parse_matrix(
        {"matrix": {"driver.fluentd-async": [True, False], "topology": ["firelens"]},
         "exclude": [{"driver.fluentd-async": False}]}, lambda *keys: "s.yaml")
    assert axes == {"driver.fluentd_async": (True, False), "topology": ("firelens",)}
    assert exclude == [{"driver.fluentd_async": False}]
    assert parse_matrix({}, lambda *keys: "s.yaml") == ({}, [])
    assert canonical_axis("router.flush-at-shutdown") == "router.flush_at_shutdown"


@pytest.mark.parametrize(("data", "message"), [
    ({"matrix": ["workload.rate"]},
     "s.yaml: 'matrix' must be a mapping of axis -> list of values, e.g. "
     "{stop.sequence: [ecs, kill], workload.rate: [300, max]}."),
    ({"matrix": {"workload.rate": 300}},
     "s.yaml: matrix axis 'workload.rate' must be a non-empty list of values, got 300."),
    ({"matrix": {"workload.rate": []}},
     "s.yaml: matrix axis 'workload.rate' must be a non-empty list of values, got []."),
    ({"matrix": {"workload.rate": [300, None]}},
     "s.yaml: matrix axis 'workload.rate' has None; values must be strings, numbers or "
     "true/false (write 'max' for an unlimited rate)."),
    ({"matrix": {"workload.rate": [[300]]}},
     "s.yaml: matrix axis 'workload.rate' has [300]; values must be strings, numbers or "
     "true/false (write 'max' for an unlimited rate)."),
    ({"matrix": {"workload.rate": [300, 300]}},
     "s.yaml: matrix axis 'workload.rate' lists 300 twice."),
    ({"matrix": {"driver.fluentd_async": [True, False], "driver.fluentd-async": [True]}},
     "s.yaml: axis 'driver.fluentd_async' is declared twice."),
    ({"exclude": {"topology": "firelens"}},
     "s.yaml: 'exclude' must be a list of mappings, e.g. "
     "[{topology: direct-tcp, driver.fluentd_async: false}]."),
    ({"exclude": ["firelens"]},
     "s.yaml: each 'exclude' entry must be a non-empty mapping of axis -> value, got "
     "'firelens'."),
    ({"exclude": [{}]},
     "s.yaml: each 'exclude' entry must be a non-empty mapping of axis -> value, got {}."),
])
def test_parse_matrix_rejects_bad_shapes(data: dict, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_matrix(data, lambda *keys: "s.yaml")
    assert str(caught.value) == message


def test_parse_matrix_names_file_and_line_through_a_locator() -> None:
    def locate(*keys: str) -> str:
        return {("matrix", "workload.rate"): "s.yaml:3"}.get(keys, "s.yaml")

    with pytest.raises(InputError) as caught:
        parse_matrix({"matrix": {"workload.rate": []}}, locate)
    assert str(caught.value).startswith("s.yaml:3: matrix axis 'workload.rate'")


def test_issue_matrix_expands_in_declaration_order_without_excluded_cells() -> None:
    cells = issue_cells()
    # 2 x 3 x 3 x 2 = 36, minus direct-tcp x 3 stops x 3 rates with fluentd_async false.
    assert len(cells) == 27
    assert cells[0].label == ("firelens/builtin/ecs "
                              "(workload.rate=300, driver.fluentd_async=true)")
    assert cells[1].label == ("firelens/builtin/ecs "
                              "(workload.rate=300, driver.fluentd_async=false)")
    assert cells[2].values == (("topology", "firelens"), ("stop.sequence", "ecs"),
                               ("workload.rate", 3000), ("driver.fluentd_async", True))
    assert cells[-1].label == ("direct-tcp/builtin/kill "
                               "(workload.rate=max, driver.fluentd_async=true)")
    assert not any(dict(c.values)["topology"] == "direct-tcp"
                   and dict(c.values)["driver.fluentd_async"] is False for c in cells)
    assert len({c.label for c in cells}) == len({c.dirname for c in cells}) == 27


def test_cell_scenarios_carry_the_values() -> None:
    last = issue_cells()[-1]
    s = last.scenario
    assert s.topologies == ("direct-tcp",)
    assert (s.stop.sequence, s.workload.rate, s.driver.fluentd_async) == ("kill", None, True)
    assert s.workload.line_size == Scenario().workload.line_size
    first = issue_cells()[1].scenario
    assert (first.topologies, first.workload.rate, first.driver.fluentd_async) == (
        ("firelens",), 300, False)


def test_dirnames_are_short_and_safe() -> None:
    cells = issue_cells()
    assert cells[0].dirname == "firelens__sequence-ecs__rate-300__fluentd_async-true"
    assert cells[-1].dirname == "direct-tcp__sequence-kill__rate-max__fluentd_async-true"
    assert trial_dirname(cells[-1], 2) == \
        "direct-tcp__sequence-kill__rate-max__fluentd_async-true__2"


def test_dirnames_use_full_keys_when_last_segments_clash() -> None:
    cells = expand(Scenario(topologies=("firelens",)),
                   {"router.buffer_limit": [1000], "driver.buffer_limit": [2000]}, [])
    assert [c.dirname for c in cells] == [
        "firelens__router-buffer_limit-1000__driver-buffer_limit-2000"]


def test_dirnames_replace_unsafe_characters_and_stay_unique() -> None:
    cells = expand(Scenario(topologies=("firelens",)), {"stop.after": [1.5, 2]}, [])
    assert [c.dirname for c in cells] == ["firelens__after-1.5", "firelens__after-2"]
    assert [c.scenario.stop.after for c in cells] == [1.5, 2.0]
    names = _dirnames([(("topology", "firelens"), ("router.image", "a/b")),
                       (("topology", "firelens"), ("router.image", "a:b")),
                       (("topology", "firelens"), ("router.image", "x" * 120))])
    assert names == ["firelens__image-a_b", "firelens__image-a_b-6751691b",
                     "firelens__image-" + "x" * 75 + "-b91ff66b"]
    assert len(names[2]) == 100


def test_without_matrix_one_cell_per_topology() -> None:
    cells = expand(Scenario(), {}, [])
    assert [(c.label, c.dirname, c.values) for c in cells] == [
        ("firelens/builtin/ecs", "firelens", (("topology", "firelens"),)),
        ("direct-tcp/builtin/ecs", "direct-tcp", (("topology", "direct-tcp"),)),
    ]
    assert [c.scenario.topologies for c in cells] == [("firelens",), ("direct-tcp",)]
    assert cells[0].scenario.workload == Scenario().workload
    assert [c.label for c in cells_of(Scenario())] == ["firelens/builtin/ecs",
                                                       "direct-tcp/builtin/ecs"]


def test_implicit_topology_axis_comes_first_and_can_be_excluded() -> None:
    cells = expand(Scenario(), {"stop.sequence": ["ecs", "kill"]},
                   [{"topology": "direct-tcp", "stop.sequence": "kill"}])
    assert [c.label for c in cells] == [
        "firelens/builtin/ecs", "firelens/builtin/kill", "direct-tcp/builtin/ecs"]


def test_topology_axis_may_come_later() -> None:
    cells = expand(Scenario(), {"stop.sequence": ["ecs", "kill"], "topology": ["firelens"]}, [])
    assert [c.label for c in cells] == [
        "firelens/builtin/ecs", "firelens/builtin/kill"]
    assert [c.dirname for c in cells] == ["sequence-ecs__firelens", "sequence-kill__firelens"]


def test_exclude_does_not_confuse_true_with_one() -> None:
    cells = expand(Scenario(topologies=("firelens",)), {"workload.streams": [1, 2]}, [])
    assert len(cells) == 2
    assert error({"workload.streams": [1, 2]}, [{"workload.streams": True}]) == (
        "scenario: 'exclude' has workload.streams=true, which is not on that axis. "
        "Values: 1, 2.")


def test_label_renders_booleans_like_yaml() -> None:
    cells = expand(Scenario(topologies=("firelens",)),
                   {"driver.fluentd_async": [False], "workload.rate": ["max"]}, [])
    assert [c.label for c in cells] == [
        "firelens/builtin/ecs (driver.fluentd_async=false, workload.rate=max)"]


def test_a_label_keeps_its_shape_and_names_both_tiers_kinds() -> None:
    scenario = Scenario(topologies=("aggregator", "firelens"))
    plain = expand(scenario, {}, [])
    swept = expand(scenario, {"router.kind": ["builtin", "fluent-bit"],
                              "aggregator.kind": ["fluentd"], "workload.rate": [300]}, [])
    assert [c.label for c in plain] == ["aggregator/builtin>builtin/ecs", "firelens/builtin/ecs"]
    assert [c.label for c in swept] == [
        "aggregator/builtin>fluentd/ecs (workload.rate=300)",
        "aggregator/fluent-bit>fluentd/ecs (workload.rate=300)",
        "firelens/builtin/ecs (aggregator.kind=fluentd, workload.rate=300)",
        "firelens/fluent-bit/ecs (aggregator.kind=fluentd, workload.rate=300)"]
    assert swept[1].axes == {"topology": "aggregator", "router.kind": "fluent-bit",
                             "stop.sequence": "ecs", "aggregator.kind": "fluentd",
                             "workload.rate": 300}


def test_unknown_axis_names_the_allowed_ones() -> None:
    message = error({"workload.speed": [1]})
    assert message.startswith("scenario: unknown matrix axis 'workload.speed'. Allowed: "
                              "topology, engine, workload.rate, workload.line_size, ")
    assert message.endswith(".")
    assert "stop.sequence" in message and "driver.fluentd_async" in message
    assert error({"nosuch.key": [1]}).startswith("scenario: unknown matrix axis 'nosuch.key'.")
    assert error({"trials": [1]}).startswith("scenario: unknown matrix axis 'trials'.")
    assert axis_names(Scenario())[:3] == ["topology", "engine", "workload.rate"]


def test_bad_values_surface_the_scenario_error_prefixed_with_the_axis() -> None:
    assert error({"stop.sequence": ["ecs", "sideways"]}).startswith(
        "scenario: matrix axis 'stop.sequence', value 'sideways': unknown stop sequence "
        "'sideways'. Allowed: ecs, all-at-once, kill")
    assert error({"workload.rate": [0]}) == (
        "scenario: matrix axis 'workload.rate', value '0': 'workload.rate' must be 'max' or a "
        "number of lines/s >= 1, got 0.")
    assert error({"topology": ["udp"]}).startswith(
        "scenario: matrix axis 'topology', value 'udp': unknown topology 'udp'. Allowed: "
        "firelens, direct-tcp")
    assert error({"driver.fluentd_async": ["maybe"]}).startswith(
        "scenario: matrix axis 'driver.fluentd_async', value 'maybe': ")


def test_exclude_errors() -> None:
    axes = {"topology": ["firelens", "direct-tcp"], "stop.sequence": ["ecs"]}
    assert error(axes, [{"workload.rate": 300}]) == (
        "scenario: 'exclude' names 'workload.rate', which is not an axis of the matrix. "
        "Axes: topology, stop.sequence.")
    assert error(axes, [{"topology": "tail"}]) == (
        "scenario: 'exclude' has topology=tail, which is not on that axis. "
        "Values: firelens, direct-tcp.")
    assert error(axes, [{"stop.sequence": "ecs"}]) == (
        "scenario: 'exclude' removes every cell of the matrix; remove an entry or add values "
        "to an axis.")


def test_errors_use_the_locator_for_file_and_line() -> None:
    def locate(*keys: str) -> str:
        return "s.yaml:" + {("matrix", "stop.sequence"): "4", ("exclude",): "9"}.get(keys, "1")

    with pytest.raises(InputError) as caught:
        expand(Scenario(), {"stop.sequence": ["sideways"]}, [], locate)
    assert str(caught.value).startswith("s.yaml:4: matrix axis 'stop.sequence'")
    with pytest.raises(InputError) as caught:
        expand(Scenario(), {"stop.sequence": ["ecs"]}, [{"x.y": 1}], locate)
    assert str(caught.value).startswith("s.yaml:9: 'exclude' names 'x.y'")


def test_base_values_are_kept_where_the_matrix_does_not_vary_them() -> None:
    base = Scenario().with_overrides(**{"workload.line_size": 200, "trials": 5})
    cells = expand(base, {"workload.rate": [300]}, [])
    assert [(c.scenario.workload.line_size, c.scenario.workload.rate, c.scenario.trials)
            for c in cells] == [(200, 300, 5), (200, 300, 5)]


@pytest.mark.parametrize(("name", "cells"), [
    ("flood-kill.yaml", 2), ("incident.yaml", 2), ("node-agent.yaml", 6), ("rate-sweep.yaml", 10),
    ("stop-matrix.yaml", 6), ("tail-sidecar.yaml", 9), ("fargate-sizes.yaml", 24),
    ("firelens-async.yaml", 4), ("aggregator.yaml", 4), ("engines.yaml", 4),
    ("router-cost.yaml", 12)])
def test_every_shipped_scenario_loads_and_expands(name: str, cells: int) -> None:
    path = Path(__file__).resolve().parents[2] / "scenarios" / name
    assert len(cells_of(load(path))) == cells


def test_engine_axis_gives_each_engine_its_cells() -> None:
    scenario = load(Path(__file__).parents[2] / "scenarios" / "engines.yaml")
    cells = cells_of(scenario)
    assert [(c.label, c.scenario.engines) for c in cells] == [
        ("firelens/builtin/ecs (engine=local)", ("local",)),
        ("firelens/builtin/ecs (engine=docker26)", ("docker26",)),
        ("direct-tcp/builtin/ecs (engine=local)", ("local",)),
        ("direct-tcp/builtin/ecs (engine=docker26)", ("docker26",))]
    assert [c.dirname for c in cells] == ["firelens__engine-local", "firelens__engine-docker26",
                                          "direct-tcp__engine-local",
                                          "direct-tcp__engine-docker26"]
