"""`pipeline-tests doctor --engine`: the docker26 engine (./setup.sh --with-docker26), an engine
that does not answer and a name that is no engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker
import docker.errors
import pytest

from pipeline_tests._docker.images import FIXTURE_REPO

CLI = Path(sys.executable).parent / "pipeline-tests"


def doctor(*engines: str) -> subprocess.CompletedProcess[str]:
    args = [arg for name in engines for arg in ("--engine", name)]
    return subprocess.run([str(CLI), "doctor", *args], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "COLUMNS": "250"})


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("error: ")]
    return line




def test_doctor_on_docker26(docker26: docker.DockerClient, image: str) -> None:
    done = doctor("docker26")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "engine docker26: unix:///run/pt-docker26/docker.sock (context docker26)\n" \
        in done.stdout
    assert "docker engine 26.1." in done.stdout
    assert "fluentd-async-reconnect-interval" in done.stdout  # 23.0 and newer
    assert f"fixture image: {image} (" in done.stdout
    assert image in docker26.images.get(image).tags


def test_doctor_loads_a_missing_fixture_image(docker26: docker.DockerClient, image: str) -> None:
    assert doctor("docker26").returncode == 0  # present first, whatever came before
    for tag in (image, f"{FIXTURE_REPO}:latest"):
        docker26.images.remove(tag)
    with pytest.raises(docker.errors.ImageNotFound):
        docker26.images.get(image)
    done = doctor("docker26")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"fixture image: {image} (loaded from local in " in done.stdout
    assert image in docker26.images.get(image).tags
    again = doctor("local", "docker26")
    assert f"fixture image: {image}\n" in again.stdout  # the local engine, as always
    assert f"fixture image: {image} (present)\n" in again.stdout


def test_doctor_on_an_engine_that_does_not_answer() -> None:
    assert error_line(doctor("tcp://127.0.0.1:1")).startswith(
        "error: Engine tcp://127.0.0.1:1 (tcp://127.0.0.1:1) does not answer (")


def test_doctor_on_a_name_that_is_no_engine() -> None:
    line = error_line(doctor("nosuchcontext"))
    assert line.startswith("error: Engine 'nosuchcontext' is neither `local`, an engine URL "
                           "(unix://, tcp:// or ssh://) nor a Docker context (contexts here: "
                           "default")
