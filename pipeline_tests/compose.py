"""The Compose edge: the topologies are plain files in compose/; this module only sets their
variables and drives `docker compose` (up one service, find its container, logs, down)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.models.containers import Container

from pipeline_tests.errors import UserError

COMPOSE_DIR = Path(__file__).resolve().parent.parent / "compose"


@dataclass(frozen=True)
class Project:
    name: str
    files: tuple[Path, ...]
    env: Mapping[str, str]


def project_for(name: str, topology: str, router: str, env: Mapping[str, str]) -> Project:
    files = (COMPOSE_DIR / f"{topology}.yaml", COMPOSE_DIR / f"router-{router}.yaml")
    for path in files:
        if not path.exists():
            raise UserError(f"Compose file {path} is missing. Topology '{topology}' with router "
                            f"'{router}' needs it; reinstall pipeline-tests from a full checkout.")
    return Project(name, files, dict(env))


def _run(project: Project, *args: str, check: bool = True) -> str:
    command = ["docker", "compose", "-p", project.name]
    for path in project.files:
        command += ["-f", str(path)]
    command += list(args)
    done = subprocess.run(command, env={**os.environ, **project.env}, capture_output=True,
                          text=True, check=False)
    if check and done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise UserError(f"`docker compose {' '.join(args)}` failed for project {project.name}:\n"
                        f"{tail}\nCheck that the Docker daemon runs and the fixture image exists "
                        "(./setup.sh builds it).")
    return done.stdout


def render(project: Project) -> str:
    """The fully interpolated Compose config, kept with each trial's results."""
    return _run(project, "config")


def up(project: Project, service: str) -> None:
    _run(project, "up", "-d", "--no-deps", "--no-recreate", service)


def container(client: docker.DockerClient, project: Project, service: str) -> Container:
    found = client.containers.list(all=True, filters={"label": [
        f"com.docker.compose.project={project.name}", f"com.docker.compose.service={service}"]})
    if not found:
        raise UserError(f"Service '{service}' of project {project.name} has no container; "
                        "`docker compose up` did not create it.")
    return found[0]


def save_logs(project: Project, service: str, path: Path, tail: int | None = None) -> None:
    # The app's own output is the flood itself (Docker keeps a copy): keep only its tail.
    limit = ["--tail", str(tail)] if tail else []
    path.write_text(_run(project, "logs", "--no-color", "--timestamps", *limit, service,
                         check=False))


def down(project: Project) -> None:
    """Remove every container, network and volume of the project; never raises (cleanup path)."""
    _run(project, "down", "--volumes", "--remove-orphans", "--timeout", "0", check=False)


def leftovers(client: docker.DockerClient, prefix: str) -> list[str]:
    """Names of containers whose Compose project starts with `prefix` (for leak checks)."""
    return [c.name for c in client.containers.list(all=True, filters={"label": "pipeline-tests"})
            if c.labels.get("com.docker.compose.project", "").startswith(prefix)]
