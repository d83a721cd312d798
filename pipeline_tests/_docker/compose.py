"""The Compose edge: drives `docker compose` for a project (its files and variables, made by
_trial/compose_env.py): up one service, find its container, logs, down."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.models.containers import Container

from pipeline_tests._docker import log_opts
from pipeline_tests._errors import SetupError, TrialFailed


@dataclass(frozen=True)
class Project:
    name: str
    files: tuple[Path, ...]
    env: Mapping[str, str]


def _run(project: Project, *args: str, check: bool = True) -> str:
    command = ["docker", "compose", "-p", project.name]
    for path in project.files:
        command += ["-f", str(path)]
    command += list(args)
    env = {**os.environ, **project.env}
    if "DOCKER_CONTEXT" in project.env:  # the engine is a context: DOCKER_HOST would override it
        env.pop("DOCKER_HOST", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise SetupError(f"`docker compose {' '.join(args)}` failed for project {project.name}:\n"
                         f"{tail}\nCheck that the Docker daemon runs and the fixture image exists "
                         "(./setup.sh builds it).")
    return done.stdout


def render(project: Project) -> str:
    """The fully interpolated Compose config, kept with each trial's results."""
    return _run(project, "config")


def create(project: Project, service: str) -> None:
    _run(project, "create", "--no-recreate", service)


def up(project: Project, service: str) -> None:
    _run(project, "up", "-d", "--no-deps", "--no-recreate", service)


def container(client: docker.DockerClient, project: Project, service: str) -> Container:
    found = client.containers.list(all=True, filters={"label": [
        f"com.docker.compose.project={project.name}", f"com.docker.compose.service={service}"]})
    if not found:
        raise TrialFailed(f"Service '{service}' of project {project.name} has no container; "
                          "`docker compose up` did not create it.")
    return found[0]


def save_logs(client: docker.DockerClient, project: Project, service: str, path: Path,
              tail: int | None = None) -> str:
    """The service's log (Docker's time stamp before each line), written to `path`; its text.
    Read through the engine's API: a `docker compose logs` process per service cost a core
    for a second on a 2-core machine (benchmarks/bench_instrument.py)."""
    # The app's own output is the flood itself (Docker keeps a copy): keep only its tail.
    try:
        found = container(client, project, service)
        raw = found.logs(timestamps=True, tail=tail if tail else "all")
    except (TrialFailed, docker.errors.DockerException):
        raw = b""  # no such service in this topology, or it is gone: nothing logged
    text = raw.decode(errors="replace")
    path.write_text(text)
    return text


def down(project: Project) -> None:
    """Remove every container, network and volume of the project; never raises (cleanup path)."""
    _run(project, "down", "--volumes", "--remove-orphans", "--timeout", "0", check=False)


def leftovers(client: docker.DockerClient, prefix: str) -> list[str]:
    """Names of containers and volumes whose Compose project starts with `prefix` (for leak
    checks)."""
    # Another run's containers may go between the list and their inspection: skip those.
    found = [(c.name, c.labels) for c in client.containers.list(
        all=True, filters={"label": "pipeline-tests"}, ignore_removed=True)]
    found += [(v.name, v.attrs.get("Labels") or {}) for v in client.volumes.list(
        filters={"label": "com.docker.compose.project"})]
    return [name for name, labels in found
            if labels.get("com.docker.compose.project", "").startswith(prefix)]


def compose_version() -> str | None:
    """The `docker compose` plugin's version (`2.26.1-4`), or None when there is none."""
    try:
        proc = subprocess.run(
            ["docker", "compose", "version", "--short"],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return out.removeprefix("v") if proc.returncode == 0 and out else None


def check_compose() -> str:
    """The Compose version; SetupError unless `docker compose` is v2 or newer."""
    version = compose_version()
    parsed = log_opts.parse_version(version) if version else None
    if parsed is None or parsed[0] < 2:
        found = f"found {version}" if version else "`docker compose` is missing"
        raise SetupError(
            f"pipeline-tests needs Docker Compose v2 (`docker compose`); {found}. Run "
            "`./setup.sh` to install it (the old Python `docker-compose` 1.x does not do)."
        )
    return version or ""
