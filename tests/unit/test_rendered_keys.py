"""router.output / router.forward_input: extra keys on what pipeline-tests renders for a real
router, per tier; refused before the run where the kind renders nothing or pipeline-tests sets
the key itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pipeline_tests as pt
from pipeline_tests import _routers as routers
from pipeline_tests._routers import fluent_bit_conf, fluentd_conf
from pipeline_tests._scenario.load import load
from pipeline_tests._scenario.scenario import to_dict

PORTS = routers.RouterPorts(router=24224, sink=24225, metrics=2020)


def rendered(tmp_path: Path, scenario: pt.Scenario, tier: str = "router") -> str:
    settings = getattr(scenario, tier)
    routers.check(settings)
    routers.prepare(settings, tmp_path / "conf", PORTS)
    name = fluentd_conf.MAIN_FILE if settings.kind == "fluentd" else fluent_bit_conf.MAIN_FILE
    return (tmp_path / "conf" / name).read_text()


def test_the_fix_for_fluent_bit_into_fluentd_from_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text("topologies: [aggregator]\n"
                    "router: {kind: fluent-bit, output: {Retain_metadata_in_forward_mode: false},\n"
                    "         forward_input: {Buffer_Max_Size: 2M}}\n"
                    "aggregator: {kind: fluentd}\n")
    scenario = load(path)
    assert scenario.router.output == (("Retain_metadata_in_forward_mode", "false"),)
    text = rendered(tmp_path, scenario)
    assert text.endswith("    Require_ack_response true\n"
                         "    Retain_metadata_in_forward_mode false\n")
    assert text.count("    storage.type memory\n    Buffer_Max_Size 2M\n") == 2
    # results.json keeps the scenario as it was written, and it reads back the same.
    data = to_dict(scenario)
    assert data["router"]["output"] == {"Retain_metadata_in_forward_mode": "false"}
    assert pt.Scenario().with_overrides({"router.output": data["router"]["output"],
                                         "router.kind": "fluent-bit"}).router.output == (
        scenario.router.output)


def test_fluentd_parameters_and_subsections_on_each_tier(tmp_path: Path) -> None:
    scenario = pt.Scenario().with_overrides({
        "topologies": ["aggregator"], "aggregator.kind": "fluentd",
        "aggregator.output": {"send_timeout": "5s", "buffer": {"chunk_limit_size": "1m"},
                              "secondary": {"@type": "null"}},
        "aggregator.forward_input": {"skip_invalid_event": True}})
    text = rendered(tmp_path, scenario, "aggregator")
    assert ("    @type forward\n    @id pt_tcp\n    bind 127.0.0.1\n    port 24224\n"
            "    skip_invalid_event true\n</source>\n") in text
    assert text.endswith(
        "<match app**>\n    @type forward\n    @id pt_sink\n    require_ack_response true\n"
        "    send_timeout 5s\n    <server>\n        host 127.0.0.1\n        port 24225\n"
        "    </server>\n    <buffer>\n        @type memory\n        flush_mode interval\n"
        "        flush_interval 1s\n        flush_at_shutdown true\n"
        "        chunk_limit_size 1m\n    </buffer>\n    <secondary>\n        @type null\n"
        "    </secondary>\n</match>\n")


def test_no_extra_keys_render_as_before(tmp_path: Path) -> None:
    plain = rendered(tmp_path / "a", pt.Scenario().with_overrides({"router.kind": "fluentd"}))
    assert plain.endswith("    </buffer>\n</match>\n") and "send_timeout" not in plain


@pytest.mark.parametrize(("overrides", "message"), [
    ({"router.output": {"Retain_metadata_in_forward_mode": False}},
     "'router.output' sets keys of the config pipeline-tests renders for a real router "
     "(fluent-bit, fluentd); the builtin router has no such config. Drop 'router.output', or "
     "set 'router.kind' to fluent-bit or fluentd."),
    ({"router.kind": "fluent-bit", "router.output": {"PORT": 1}},
     "'router.output' sets 'PORT', which pipeline-tests renders itself for fluent-bit: "
     "pipeline-tests points it at the next tier (the sink or the aggregator). Drop it from "
     "'router.output'."),
    ({"router.kind": "fluent-bit", "router.forward_input": {"storage.type": "filesystem"}},
     "'router.forward_input' sets 'storage.type', which pipeline-tests renders itself for "
     "fluent-bit: set it with 'router.storage_type'. Drop it from 'router.forward_input'."),
    ({"router.kind": "fluent-bit", "router.output": {"net": {"keepalive": "off"}}},
     "'router.output.net' is a mapping; fluent-bit sections hold keys and values only. Give "
     "the key a value, e.g. 'router.output: {Retain_metadata_in_forward_mode: false}'."),
    ({"topologies": ["aggregator"], "aggregator.kind": "fluentd",
      "aggregator.output": {"buffer": {"flush_interval": "5s"}}},
     "'aggregator.output' sets 'buffer.flush_interval', which pipeline-tests renders itself "
     "for fluentd: set it with 'aggregator.flush_interval'. Drop it from 'aggregator.output'."),
])
def test_refused_before_the_run(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    # No engine is asked: the run stops at its checks.
    with pytest.raises(pt.InputError) as err:
        pt.run(pt.Scenario().with_overrides(overrides), tmp_path, client=object())  # type: ignore[arg-type]
    assert str(err.value) == message


@pytest.mark.parametrize(("value", "message"), [
    ("false", "command line: 'router.output' must be a mapping of config keys to values, e.g. "
              "{Retain_metadata_in_forward_mode: false}, got 'false'."),
    ({"a": {"b": {"c": 1}}}, "command line: 'router.output.a.b' must be text, a number or "
                             "true/false, got {'c': 1}."),
    ({"a": None}, "command line: 'router.output.a' must be text, a number or true/false (or "
                  "a mapping: a Fluentd subsection), got None."),
])
def test_bad_shapes(value: Any, message: str) -> None:
    with pytest.raises(pt.InputError) as err:
        pt.Scenario().with_overrides({"router.output": value})
    assert str(err.value) == message
