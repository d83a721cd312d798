from pathlib import Path

import pytest

from pipeline_tests._errors import InputError
from pipeline_tests._scenario.load import load
from pipeline_tests._scenario.model import Stop, Workload
from pipeline_tests._scenario.scenario import Scenario


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_default_scenario_is_the_issue_comparison() -> None:
    s = Scenario()
    assert s.topologies == ("firelens", "direct-tcp")
    assert (s.workload.rate, s.workload.line_size, s.trials) == (None, 400, "auto")
    assert (s.stop.sequence, s.stop.after, s.stop.stop_timeout) == ("ecs", 3.0, 30.0)
    assert s.router.kind == "builtin"


def test_load_full_file(tmp_path: Path) -> None:
    s = load(write(tmp_path, """
name: incident
topologies: [firelens]
workload: {rate: 300, line-size: 400, streams: 2}
stop: {sequence: all-at-once, after: 5, stop_timeout: 2}
router: {flush_interval: 0.5, flush_at_shutdown: false}
driver: {fluentd_async: false}
trials: 5
max_loss: 0
"""))
    assert s.name == "incident" and s.topologies == ("firelens",)
    assert s.workload == Workload(rate=300, line_size=400, streams=2)
    assert s.stop == Stop(sequence="all-at-once", after=5.0, stop_timeout=2.0)
    assert (s.router.flush_interval, s.router.flush_at_shutdown) == (0.5, False)
    assert (s.driver.fluentd_async, s.trials, s.max_loss) == (False, 5, 0)


def test_rate_max_means_unthrottled(tmp_path: Path) -> None:
    assert load(write(tmp_path, "workload: {rate: max}\n")).workload.rate is None


@pytest.mark.parametrize(("text", "message"), [
    ("topologies: [firelens, carrier-pigeon]\n",
     "scenario.yaml:1: unknown topology 'carrier-pigeon'. "
     "Allowed: firelens, direct-tcp, direct-unix, file, tail, aggregator."),
    ("trials: 3\nstop:\n  sequence: gentle\n",
     "scenario.yaml:3: unknown stop sequence 'gentle'. "
     "Allowed: ecs, all-at-once, kill, router-first, none, pod-delete."),
    ("workload:\n  rate: fast\n",
     "scenario.yaml:2: 'workload.rate' must be a whole number of lines/s, or 'max' (as fast "
     "as the app can write), got 'fast'."),
    ("workload:\n  line_size: 10\n",
     "scenario.yaml:2: 'workload.line_size' must be between 51 and 16383 bytes "
     "(the id prefix takes 50), got 10."),
    ("stop:\n  after: 5\n  timeout: 3\n",
     "scenario.yaml:3: unknown key 'stop.timeout'. Allowed here: after, after_lines, drain, "
     "router_gap, router_stop_timeout, sequence, stop_timeout."),
    ("trials: 0\n", "scenario.yaml:1: 'trials' must be a whole number >= 1 or 'auto' (each "
     "cell runs until the answer is known, up to 'max_trials'), got 0."),
    ("trials: auto\nconfidence: 1.5\n", "scenario.yaml:2: 'confidence' must be a number "
     "between 0.5 and 1 (e.g. 0.95), got 1.5."),
    ("loss_shares: [0.9, 0.1]\n", "scenario.yaml:1: 'loss_shares' must be two shares of "
     "trials [p0, p1] with 0 < p0 < p1 < 1 (a cell that loses in at most p0 of its trials does "
     "not lose, one that loses in at least p1 does), got [0.9, 0.1]."),
    ("max_trials: 0\n", "scenario.yaml:1: 'max_trials' must be a whole number between 1 and "
     "1000, got 0."),
    ("toplogies: [firelens]\n", "scenario.yaml:1: unknown key 'toplogies'. Allowed here: "
     "aggregator, client, confidence, driver, engines, exclude, fault, limits, loss_shares, "
     "matrix, max_loss, max_trials, name, rotation, router, search, sink, stop, task, "
     "topologies, trials, workload."),
])
def test_bad_scenario_names_file_line_and_allowed_values(tmp_path: Path, text: str,
                                                         message: str) -> None:
    with pytest.raises(InputError) as err:
        load(write(tmp_path, text))
    assert str(err.value) == str(tmp_path / message)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load(write(tmp_path, "trials: 3\nstop: [unclosed\n"))
    assert str(err.value).startswith(f"{tmp_path / 'scenario.yaml'}:3: not valid YAML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load(tmp_path / "nope.yaml")
    assert str(err.value) == (f"Cannot read scenario file {tmp_path / 'nope.yaml'}: No such file "
                              "or directory. Check the path, or run without a file to use the "
                              "default scenario.")


def test_overrides_return_a_new_checked_scenario() -> None:
    base = Scenario()
    s = base.with_overrides(**{"workload.rate": 300, "topologies": ["direct-tcp"],
                               "stop.after": 2.0, "trials": None, "max_loss": 0})
    assert (s.workload.rate, s.topologies, s.stop.after, s.trials, s.max_loss) == (
        300, ("direct-tcp",), 2.0, "auto", 0)
    assert base.workload.rate is None
    with pytest.raises(InputError) as err:
        base.with_overrides(**{"stop.sequence": "slow"})
    assert str(err.value) == ("command line: unknown stop sequence 'slow'. "
                              "Allowed: ecs, all-at-once, kill, router-first, none, pod-delete.")
    assert base.with_overrides(**{"workload.rate": "max"}).workload.rate is None


def test_driver_presets_are_what_the_ecs_agent_sets() -> None:
    on = Scenario().with_overrides({"driver.preset": "ecs"}).driver
    off = Scenario().with_overrides({"driver.preset": "ecs-async-off"}).driver
    assert (on.fluentd_async, on.request_ack, on.mode, on.buffer_limit) == (
        True, False, "blocking", 1_048_576)
    assert (off.fluentd_async, off.request_ack, off.mode) == (False, False, "blocking")
    with pytest.raises(InputError) as err:
        Scenario().with_overrides({"driver.preset": "ecs-async-off", "driver.request_ack": True})
    assert str(err.value) == ("command line: 'driver.request_ack: True' contradicts "
                              "'driver.preset: ecs-async-off', which sets it to False. Drop one "
                              "of the two.")
