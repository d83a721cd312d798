"""Trials on another engine: the docker26 engine (./setup.sh --with-docker26), which shares
nothing with the tester but its API socket (its own loopback, its own disk). The default
comparison runs there with exact counts, and a matrix `engine: [local, docker26]` runs on both
engines in parallel into one run directory, resumable across engines."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import docker.errors
import pytest
from conftest import assert_identities  # tests/integration/conftest.py

import pipeline_tests as pt
from pipeline_tests._docker import compose
from pipeline_tests._report.files import write_reports

DOCKER26 = "docker26"  # the context scripts/engine-docker26.sh creates




def _short(trials: int = 1) -> pt.Scenario:
    return pt.Scenario().with_overrides({"stop.after": 2, "trials": trials,
                                         "workload.rate": 5000})


def test_default_comparison_on_docker26(docker26: docker.DockerClient, tmp_path: Path) -> None:
    results = pt.run(_short().with_overrides(engines=[DOCKER26]), tmp_path)
    assert [t.topology for t in results.trials] == ["firelens", "direct-tcp"]
    for trial in results.trials:
        assert_identities(trial)
        assert trial.engine is not None and trial.engine.name == DOCKER26
        assert trial.engine.version.startswith("26.1.")
        # The tester never reads that engine's disk: its daemon log is not evidence here,
        # nor its containers' cgroups (their CPU figures are null, saying why).
        assert trial.driver_evidence is not None and trial.driver_evidence.source is None
        assert trial.cpu == {"note": "the engine docker26 is not this machine: its containers' "
                                     "cgroups and process ids cannot be read from here"}
    direct = results.trials[1]
    assert (direct.lost, direct.received_distinct) == (0, direct.emitted)
    # 5,000 lines/s for about 2 s (the stop is timed from `up`, on a busy machine).
    assert 8_000 <= direct.emitted <= 15_000
    assert compose.leftovers(docker26, f"pt-{results.run_id}") == []
    assert results.header["engines"][0]["name"] == DOCKER26


def test_engine_matrix_runs_on_both_and_resumes(docker26: docker.DockerClient,
                                                client: docker.DockerClient,
                                                tmp_path: Path) -> None:
    scenario = _short(trials=2).with_overrides(
        {"topologies": ["direct-tcp"], "matrix": {"engine": ["local", DOCKER26]}})
    results = pt.run(scenario, tmp_path)
    by_cell = {cell.label: cell for cell in results.cells}
    cells = ["direct-tcp/builtin/ecs (engine=docker26)", "direct-tcp/builtin/ecs (engine=local)"]
    assert sorted(by_cell) == cells
    engines = sorted((t.label, _engine_name(t)) for t in results.trials)
    assert engines == [(cells[0], DOCKER26)] * 2 + [(cells[1], "local")] * 2
    for trial in results.trials:
        assert (trial.lost, trial.received_distinct) == (0, trial.emitted)
        assert 8_000 <= trial.emitted <= 15_000
    # Resume: two trials (one per engine) are taken away and run again, on their own engines.
    run_dir = results.run_dir
    for trial_dir in sorted(run_dir.glob("*__2")):
        (trial_dir / "result.json").unlink()
    again = pt.run(scenario, tmp_path, resume=run_dir.name)
    assert sorted((t.label, _engine_name(t)) for t in again.trials) == engines
    stored = json.loads((run_dir / "results.json").read_text())
    assert [e["name"] for e in stored["engines"]] == ["local", DOCKER26]
    write_reports(again, None)
    html = again.report_html.read_text()
    assert "<h2>Engines</h2>" in html and '<td class="text">docker26</td><td class="text">26.1.' \
        in html
    assert compose.leftovers(docker26, f"pt-{results.run_id}") == []
    assert compose.leftovers(client, f"pt-{results.run_id}") == []


def test_task_limits_on_another_engine_are_refused(docker26: docker.DockerClient,
                                                   tmp_path: Path) -> None:
    scenario = _short().with_overrides({"engines": [DOCKER26], "task.size": "0.5vcpu-1gb"})
    with pytest.raises(pt.SetupError) as err:
        pt.run(scenario, tmp_path)
    assert str(err.value).startswith(
        "Task limits (task.size, task.cpus, task.memory, task.cpu_units) are a cgroup made on "
        "this machine, so they need the local engine, but cells with them may run on engine "
        "docker26.")
    assert list(tmp_path.iterdir()) == []  # refused before anything started


CLI = [sys.executable, "-c", "from pipeline_tests._cli import main; main()"]


def test_ctrl_c_on_two_engines_removes_everything_on_both(
        docker26: docker.DockerClient, client: docker.DockerClient, tmp_path: Path) -> None:
    proc = subprocess.Popen([*CLI, "run", "--engine", "local", "--engine", DOCKER26,
                             "--trials", "2", "--stop-after", "60", "--rate", "500",
                             "--topology", "firelens", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, both, mine = time.monotonic() + 180, False, "pt-?"
    while time.monotonic() < deadline and not both:
        # Only this run's projects (pt-<run id>-...): other runs may share the engines.
        mine = next((f"pt-{d.name}" for d in tmp_path.iterdir()), mine)
        both = all(compose.leftovers(engine, mine) for engine in (client, docker26))
        time.sleep(0.2)
    assert both, "the run never had a trial on each engine"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, out + err
    assert "interrupted" in out and "Traceback" not in out + err
    assert compose.leftovers(client, mine) == []
    assert compose.leftovers(docker26, mine) == []
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "results.json").read_text())["interrupted"] is True


def test_an_engine_that_is_no_engine_is_refused_before_anything_starts(tmp_path: Path) -> None:
    done = subprocess.run([*CLI, "run", "--engine", "nosuch", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout.startswith(
        "error: Engine 'nosuch' is neither `local`, an engine URL (unix://, tcp:// or ssh://) "
        "nor a Docker context (contexts here: ")
    assert list(tmp_path.iterdir()) == []


def _engine_name(trial: pt.TrialResult) -> str:
    assert trial.engine is not None
    return trial.engine.name
