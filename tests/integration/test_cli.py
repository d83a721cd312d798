"""The command as a user runs it: a full short run, Ctrl-C in the middle, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.docker

CLI = [sys.executable, "-c", "from pipeline_tests._cli import main; main()"]


def pt(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "250", **(env or {})}, timeout=600)


def run_containers(client: docker.DockerClient, run_dir_prefix: str) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": "pipeline-tests"})
            if c.labels.get("com.docker.compose.project", "").startswith(run_dir_prefix)]


def test_short_default_comparison(client: docker.DockerClient, image: str,
                                  tmp_path: Path) -> None:
    done = pt("run", "--trials", "1", "--stop-after", "2", "--rate", "1000", "--max-loss", "0",
              "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = tmp_path.iterdir()
    data = json.loads((run_dir / "results.json").read_text())
    assert [(t["topology"], t["stop"], t["lost"]) for t in data["trials"]] == [
        ("firelens", "ecs", 0), ("direct-tcp", "ecs", 0)]
    assert [c["label"] for c in data["cells"]] == ["firelens/builtin/ecs", "direct-tcp/builtin/ecs"]
    for t in data["trials"]:
        assert t["emitted"] == t["received_distinct"] > 0
        assert set(t["latency_ms"]) == {"p50", "p99"}
    assert "Per cell" in done.stdout and "firelens/builtin/ecs" in done.stdout
    assert run_containers(client, f"pt-{run_dir.name}") == []
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert [(s.get("name"), s.get("tests"), s.get("failures"))
            for s in junit.iter("testsuite")] == [("firelens/builtin/ecs", "1", "0"),
                                                  ("direct-tcp/builtin/ecs", "1", "0")]
    assert (run_dir / "report.html").read_text().count("<svg") == 2
    # `report` shows the run again; a stricter --max-loss than it met cannot fail a 0-loss run.
    again = pt("report", str(run_dir), "--max-loss", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"report: {run_dir / 'report.html'}" in " ".join(again.stdout.split())


def test_interrupted_run_removes_everything(client: docker.DockerClient, image: str,
                                            tmp_path: Path) -> None:
    socks_before = set(Path("/tmp").glob("pt-sock-*"))
    proc = subprocess.Popen([*CLI, "run", "--trials", "2", "--stop-after", "60", "--rate", "500",
                             "--topology", "firelens", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    prefix = None
    while time.monotonic() < deadline and prefix is None:
        runs = list(tmp_path.iterdir())
        if runs and run_containers(client, f"pt-{runs[0].name}"):
            prefix = f"pt-{runs[0].name}"
        time.sleep(0.2)
    assert prefix is not None, "the run never started a container"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "interrupted" in out
    assert run_containers(client, prefix) == []
    assert set(Path("/tmp").glob("pt-sock-*")) == socks_before


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--stop", "gentle"],
     "command line: unknown stop sequence 'gentle'. "
     "Allowed: ecs, all-at-once, kill, router-first, none, pod-delete."),
    (["run", "--topology", "carrier-pigeon"],
     "command line: unknown topology 'carrier-pigeon'. "
     "Allowed: firelens, direct-tcp, direct-unix, file, tail, aggregator."),
    (["run", "no-such-scenario.yaml"], "Cannot read scenario file no-such-scenario.yaml"),
    (["sink", "--listen", "0.0.0.0:24224"], "must be a loopback HOST:PORT"),
    (["report", "/nonexistent-run"], "Cannot use the run in /nonexistent-run: "
     "/nonexistent-run/results.json is missing or unreadable"),
])
def test_bad_input_is_one_paragraph_no_traceback(args: list[str], message: str) -> None:
    done = pt(*args)
    assert done.returncode == 2
    assert message in " ".join(done.stdout.split())
    assert "Traceback" not in done.stdout + done.stderr


def test_no_docker_daemon_is_a_clear_error(tmp_path: Path) -> None:
    done = pt("run", "--out", str(tmp_path), env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    assert "Docker" in done.stdout
    assert list(tmp_path.iterdir()) == []


def interrupted_after_a_trial(args: list[str], out: Path) -> Path:
    """`pipeline-tests ARGS` stopped with Ctrl-C once a trial finished; its run directory."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob("*/*/result.json")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    (run_dir,) = out.iterdir()
    return run_dir


def test_resume_runs_only_the_unfinished_trials(client: docker.DockerClient, image: str,
                                                tmp_path: Path) -> None:
    socks_before = set(Path("/tmp").glob("pt-sock-*"))
    args = ["run", "--topology", "direct-tcp", "--trials", "3", "--stop-after", "2",
            "--rate", "500", "--out", str(tmp_path)]
    run_dir = interrupted_after_a_trial(args, tmp_path)
    before = json.loads((run_dir / "results.json").read_text())["trials"]
    assert 1 <= len(before) < 3
    done = pt(*args, "--resume", run_dir.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{3 - len(before)} to run" in done.stdout
    after = json.loads((run_dir / "results.json").read_text())["trials"]
    assert sorted(t["trial"] for t in after) == [1, 2, 3]
    # Finished trials are reused as they were, not run again.
    assert [t["line_run_id"] for t in after[:len(before)]] == [t["line_run_id"] for t in before]
    changed = pt(*args[:-2], "--trials", "4", "--out", str(tmp_path), "--resume", run_dir.name)
    assert changed.returncode == 2
    assert "trials: was 3, now 4" in " ".join(changed.stdout.split())
    assert set(Path("/tmp").glob("pt-sock-*")) == socks_before


def test_resume_continues_trials_auto_from_the_trials_that_finished(image: str,
                                                                   tmp_path: Path) -> None:
    args = ["run", "--topology", "direct-tcp", "--trials", "auto", "--stop-after", "2",
            "--rate", "500", "--out", str(tmp_path)]
    run_dir = interrupted_after_a_trial(args, tmp_path)
    assert len(json.loads((run_dir / "results.json").read_text())["trials"]) == 1
    done = pt(*args, "--resume", run_dir.name)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((run_dir / "results.json").read_text())
    assert sorted(t["trial"] for t in data["trials"]) == [1, 2]  # 2 that agree decide it
    (cell,) = data["cells"]
    assert (cell["stopped"], cell["decision"]["answer"]) == ("decided at 95%", "does not lose")
    assert "direct-tcp/builtin/ecs: does not lose: decided at 95% after 2 trials" in " ".join(
        done.stdout.split())


def test_missing_router_image_names_the_pull_and_pull_failure_is_clear(tmp_path: Path) -> None:
    # A registry on a closed loopback port: the real pull path fails without leaving the machine.
    image = "127.0.0.1:1/pipeline-tests/absent:1"
    scenario = tmp_path / "absent.yaml"
    scenario.write_text(f"router:\n  kind: fluent-bit\n  image: {image}\n")
    out = tmp_path / "runs"
    config = tmp_path / "mine.conf"
    config.write_text("[FILTER]\n    Name grep\n    Match *\n    Regex log pt:\n")
    missing = pt("run", "--router", "fluent-bit", "--router-image", image,
                 "--router-config", str(config), "--out", str(out))
    assert missing.returncode == 2
    assert (f"The fluent-bit router's image {image} is not present locally. "
            f"Run `docker pull {image}` (or pass --pull)") in " ".join(missing.stdout.split())
    failed = pt("run", str(scenario), "--out", str(out), "--pull")
    assert failed.returncode == 2
    text = " ".join(failed.stdout.split())
    assert f"Pulling {image} failed (" in text
    assert f"retry `docker pull {image}`" in text
    assert "Traceback" not in missing.stdout + missing.stderr + failed.stdout + failed.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_report_that_cannot_be_written_is_one_paragraph(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text('{"run_id": "r1", "scenario": {}, "trials": []}')
    written = pt("report", str(tmp_path))
    assert written.returncode == 1, written.stdout + written.stderr  # no trial finished
    assert "FAIL: no trial finished." in written.stdout
    assert ET.parse(tmp_path / "junit.xml").getroot().get("tests") == "0"
    (tmp_path / "report.html").unlink()
    (tmp_path / "report.html").mkdir()
    failed = pt("report", str(tmp_path))
    assert failed.returncode == 2
    assert (f"Could not write report.html and junit.xml in {tmp_path} ([Errno 21] Is a "
            f"directory: '{tmp_path / 'report.html'}'). results.json there holds every figure"
            ) in " ".join(failed.stdout.split())
    assert "Traceback" not in failed.stdout + failed.stderr


def test_a_failed_trial_is_recorded_and_the_run_goes_on(client: docker.DockerClient, image: str,
                                                        tmp_path: Path) -> None:
    # nofile 3 leaves the router's container no descriptor to start with: that trial fails.
    scenario = tmp_path / "s.yaml"
    scenario.write_text("topologies: [direct-tcp]\nworkload: {rate: 1000}\nstop: {after: 1}\n"
                        "trials: 1\nmatrix: {limits.router_nofile: [3, 1024]}\n")
    done = pt("run", str(scenario), "--out", str(tmp_path / "runs"))
    assert done.returncode == 1, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    data = json.loads((run_dir / "results.json").read_text())
    assert [(t["cell"], t["lost"]) for t in data["trials"]] == [
        ("direct-tcp/builtin/ecs (limits.router_nofile=1024)", 0)]
    (failed,) = data["failed_trials"]
    assert (failed["cell"], failed["trial"], failed["status"]) == (
        "direct-tcp/builtin/ecs (limits.router_nofile=3)", 1, "failed")
    assert failed["reason"].startswith(
        "`docker compose up -d --no-deps --no-recreate router` failed for project pt-")
    assert sorted(p.name for p in (run_dir / "direct-tcp__router_nofile-3__1").iterdir()
                  if p.suffix == ".json") == ["failure.json"]
    assert "FAILED direct-tcp/builtin/ecs (limits.router_nofile=3) #1: `docker compose up" in \
        done.stdout
    assert "FAIL: 1 trial(s) could not be carried out" in done.stdout
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert [(s.get("name"), s.get("tests"), s.get("errors")) for s in junit.iter("testsuite")] == [
        ("direct-tcp/builtin/ecs (limits.router_nofile=1024)", "1", "0"),
        ("direct-tcp/builtin/ecs (limits.router_nofile=3)", "1", "1")]
    assert run_containers(client, f"pt-{run_dir.name}") == []


def test_live_autoquit_exits_on_its_own_after_the_run(client: docker.DockerClient, image: str,
                                                      tmp_path: Path) -> None:
    done = pt("run", "--live", "--autoquit", "1", "--trials", "1", "--stop-after", "1",
              "--rate", "300", "--topology", "direct-tcp", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    text = " ".join(done.stdout.split())
    assert "live view: http://127.0.0.1:" in text
    assert ("live view: the run has ended; the final page stays up for 1 s (--autoquit) or "
            "until Ctrl-C") in text
    (run_dir,) = tmp_path.iterdir()
    assert [t["lost"] for t in json.loads((run_dir / "results.json").read_text())["trials"]] \
        == [0]
