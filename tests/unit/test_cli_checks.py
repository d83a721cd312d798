"""Every check of a scenario comes before any Docker call: the command, run in-process on bad
input, exits 2 with one paragraph, and neither the Docker SDK nor the docker CLI was touched
(both are guarded to fail the test if called), nor a run directory made."""

import subprocess
from pathlib import Path
from typing import Any

import docker
import pytest

from pipeline_tests._cli import main


class DockerCalled(AssertionError):
    pass


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Guards, not mocks: any Docker call records itself and fails the command."""
    calls: list[str] = []

    def refuse(what: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(what)
            raise DockerCalled(f"{what} was called")
        return call

    popen = subprocess.Popen.__init__

    def guarded_popen(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        if "docker" in str(args if isinstance(args, str) else args[0]):
            refuse(f"subprocess {args}")()
        popen(self, args, *rest, **kwargs)

    monkeypatch.setattr(docker, "from_env", refuse("docker.from_env"))
    monkeypatch.setattr(docker.DockerClient, "__init__", refuse("docker.DockerClient"))
    monkeypatch.setattr(docker.APIClient, "__init__", refuse("docker.APIClient"))
    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_popen)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    return calls


def _run(tmp_path: Path, scenario: str, capsys: pytest.CaptureFixture[str],
         *flags: str) -> tuple[int, str]:
    path = tmp_path / "s.yaml"
    path.write_text(scenario)
    with pytest.raises(SystemExit) as done:
        main(["run", str(path), "--out", str(tmp_path / "runs"), *flags])
    out = capsys.readouterr().out
    assert not (tmp_path / "runs").exists(), "a run directory was made"
    return int(done.value.code or 0), " ".join(out.split())


def test_a_missing_router_config_exits_2_before_any_docker_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_docker: list[str]) -> None:
    code, out = _run(tmp_path, "topologies: [firelens]\nrouter:\n  kind: fluent-bit\n"
                     "  config: ops/missing.conf\n", capsys)
    assert (code, no_docker) == (2, [])
    assert out == (
        f"error: {tmp_path}/s.yaml:4: the fluent-bit config file {tmp_path}/ops/missing.conf "
        "(router.config) does not exist. Fix the path in the scenario (relative to the scenario "
        "file; on the command line, to the current directory), or drop router.config to use a "
        "shipped preset.")


def test_a_config_that_is_a_directory_and_a_config_with_a_preset(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_docker: list[str]) -> None:
    code, out = _run(tmp_path, "topologies: [aggregator]\naggregator:\n  kind: fluentd\n"
                     f"  config: {tmp_path}\n", capsys)
    assert (code, no_docker) == (2, [])
    assert out.startswith(f"error: {tmp_path}/s.yaml:4: the fluentd config file {tmp_path} "
                          "(aggregator.config) is not a readable file.")
    (tmp_path / "fb.conf").write_text("")
    code, out = _run(tmp_path, "router: {kind: fluent-bit, config: fb.conf, preset: firelens}\n",
                     capsys)
    assert (code, no_docker) == (2, [])
    assert out == (f"error: {tmp_path}/s.yaml:1: the scenario gives both router.config "
                   f"({tmp_path}/fb.conf) and router.preset (firelens). Give one: your own "
                   "file, or a shipped preset.")


def test_an_unknown_preset_exits_2_before_any_docker_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_docker: list[str]) -> None:
    code, out = _run(tmp_path, "router: {kind: fluentd, preset: minimize-log-loss}\n", capsys)
    assert (code, no_docker) == (2, [])
    assert out == ("error: Unknown preset 'minimize-log-loss' for router fluentd. Presets: "
                   "firelens; or set router.config to your own file.")


def test_the_guards_catch_a_run_that_gets_as_far_as_docker(
        tmp_path: Path, no_docker: list[str]) -> None:
    (tmp_path / "s.yaml").write_text("topologies: [firelens]\ntrials: 1\n")
    with pytest.raises(DockerCalled):
        main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "runs")])
    assert len(no_docker) == 1


def test_run_help_lists_the_topologies_kinds_and_stops_the_scenario_checks() -> None:
    from click.testing import CliRunner

    from pipeline_tests._cli import cli
    from pipeline_tests._routers import KINDS
    from pipeline_tests._scenario.model import STOP_SEQUENCES, TOPOLOGIES

    text = " ".join(CliRunner().invoke(cli, ["run", "--help"], terminal_width=1000)
                    .output.split())
    assert f"{', '.join(TOPOLOGIES[:-1])} or {TOPOLOGIES[-1]}; repeat for several" in text
    assert "aggregator; repeat" in text
    assert f"Stop sequence: {', '.join(STOP_SEQUENCES[:-1])} or {STOP_SEQUENCES[-1]}" in text
    kinds = list(KINDS)
    assert f"Router kind: {', '.join(kinds[:-1])} or {kinds[-1]} (default builtin)" in text


def test_ctrl_c_stops_the_command_even_when_started_with_sigint_ignored() -> None:
    # A shell's background job, or a CI step, may start us with SIGINT ignored (the suite's
    # Ctrl-C tests failed that way): the command restores it, so kill -INT still stops it.
    import signal
    import sys
    import time

    code = ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "from pipeline_tests._cli import main; main()")
    proc = subprocess.Popen([sys.executable, "-c", code, "sink", "--live", "--listen",
                             "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline()]
        while "live view: http://127.0.0.1:" not in seen[-1] and seen[-1]:
            seen.append(proc.stdout.readline())
        assert "live view: http://127.0.0.1:" in seen[-1], seen
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_search_flag_sets_the_scenarios_search_section() -> None:
    from pipeline_tests._cli import _search
    from pipeline_tests._scenario.scenario import Scenario
    from pipeline_tests._scenario.search import Search

    assert _search("workload.rate=1000..100000") == {"axis": "workload.rate",
                                                      "range": [1000.0, 100000.0]}
    assert _search("task.size=0.25vcpu-0.5gb, 1vcpu-2gb") == {
        "axis": "task.size", "values": ["0.25vcpu-0.5gb", "1vcpu-2gb"]}
    chosen = Scenario().with_overrides(search=_search("limits.router_cpus=0.05..1"))
    assert chosen.search == Search(axis="limits.router_cpus", range=(0.05, 1.0))


@pytest.mark.parametrize("flag", ["workload.rate", "workload.rate=1000..lots", "=1..2",
                                  "workload.rate="])
def test_a_malformed_search_flag_exits_2_naming_the_form(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_docker: list[str],
        flag: str) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--search", flag, "--out", str(tmp_path / "runs")])
    err = " ".join(capsys.readouterr().err.split())
    assert (done.value.code, no_docker) == (2, [])
    assert (f"Invalid value for '--search': '{flag}' is not AXIS=LOW..HIGH (e.g. "
            "workload.rate=1000..100000) or AXIS=V1,V2,... (e.g. "
            "task.size=0.25vcpu-0.5gb,1vcpu-2gb).") in err
    assert not (tmp_path / "runs").exists()


def test_a_search_flag_on_an_unknown_axis_exits_2_before_any_docker_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_docker: list[str]) -> None:
    code, out = _run(tmp_path, "topologies: [firelens]\n", capsys, "--search", "bogus.axis=1..2")
    assert (code, no_docker) == (2, [])
    assert out == ("error: command line: 'search.axis' must be one of workload.rate, task.cpus, "
                   "limits.router_cpus, task.size, got 'bogus.axis'.")
