"""Which Docker engine a trial runs on: `--engine NAME` / `engines:` in a scenario.

A name is `local` (the engine `docker` itself talks to: DOCKER_HOST, else the current context),
a Docker context (`docker context ls`), or an engine URL (unix://, tcp://, ssh://). A trial
reaches its engine only through the API and the `docker compose` CLI pointed at it, so the same
trial runs on this machine, on a remote host, or on another Docker version in a container.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from docker.context import ContextAPI

from pipeline_tests._errors import InputError, SetupError
from pipeline_tests._values import EngineFacts

LOCAL = "local"
API_TIMEOUT = 600  # a container whose log driver still flushes can keep a stop call for minutes
_URL = re.compile(r"^(unix|tcp|ssh|npipe)://")
_SCHEMES = "unix://, tcp:// or ssh://"


@dataclass(frozen=True)
class Engine:
    """One engine, by the name the scenario gave it."""

    name: str
    url: str | None = None  # None: local (docker's own default)
    context: str | None = None  # the Docker context it was found in, if any
    tls: Any = None  # the context's TLS settings (docker.tls.TLSConfig), if any

    @property
    def is_local(self) -> bool:
        return self.url is None

    def cli_env(self) -> dict[str, str]:
        """What `docker compose` needs in its environment to reach this engine."""
        if self.context is not None:
            return {"DOCKER_CONTEXT": self.context}
        return {} if self.url is None else {"DOCKER_HOST": self.url}

    def connect(self) -> docker.DockerClient:
        """A client whose engine has answered a ping; SetupError naming the engine if not."""
        try:
            if self.url is None:
                client = docker.from_env(timeout=API_TIMEOUT)
            else:
                client = docker.DockerClient(base_url=self.url, tls=self.tls or False,
                                             timeout=API_TIMEOUT,
                                             use_ssh_client=self.url.startswith("ssh://"))
            client.ping()
        except docker.errors.DockerException as exc:
            raise SetupError(self._unreachable(str(exc))) from None
        return client

    def _unreachable(self, detail: str) -> str:
        if "Permission denied" in detail or "PermissionError" in detail:
            return (f"Permission denied on engine {self.name}'s socket. Run as root, or add your "
                    "user to the `docker` group (`sudo usermod -aG docker $USER`, then log in "
                    "again).")
        if self.url is None:
            return (f"No Docker daemon answers ({detail}). Start it with `./setup.sh` (installs "
                    "and starts Docker when needed), or `sudo systemctl start docker` where "
                    "systemd runs, or `sudo dockerd &` elsewhere.")
        return (f"Engine {self.name} ({self.url}) does not answer ({detail}). Check that its "
                f"daemon runs and that `docker -H {self.url} info` works from here.")


def resolve(name: str) -> Engine:
    """The engine a name stands for; InputError for a name that is neither a URL nor a context."""
    name = name.strip()
    if name in ("", LOCAL):
        return Engine(LOCAL)
    if _URL.match(name):
        return Engine(name, url=name)
    if "://" in name:
        raise InputError(f"Engine {name!r} has an unknown scheme; an engine URL starts with "
                         f"{_SCHEMES}.")
    try:
        found = _from_context(name)
    except (docker.errors.DockerException, OSError, ValueError) as exc:
        raise SetupError(f"Docker context {name!r} cannot be read ({exc}). Fix it with "
                         "`docker context inspect`.") from None
    if found is None:
        known = ", ".join(_context_names()) or "none"
        raise InputError(f"Engine {name!r} is neither `local`, an engine URL ({_SCHEMES}) nor "
                         f"a Docker context (contexts here: {known}). Create it with `docker "
                         f"context create {name} --docker host=...`, or give the URL.")
    return found


# docker-py finds contexts next to the config file it finds: without ~/.docker/config.json (the
# docker CLI creates contexts without it) it looks below the working directory and finds none.
# Their metadata is read directly then (a context's TLS files need docker-py's own loader).

def _config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def _context_metas() -> dict[str, dict[str, Any]]:
    metas: dict[str, dict[str, Any]] = {}
    for path in sorted((_config_dir() / "contexts" / "meta").glob("*/meta.json")):
        meta = json.loads(path.read_text())
        if isinstance(meta, dict) and isinstance(meta.get("Name"), str):
            metas[meta["Name"]] = meta
    return metas


def _context_names() -> list[str]:
    return ["default", *(name for name in _context_metas() if name != "default")]


def _from_context(name: str) -> Engine | None:
    context = ContextAPI.get_context(name)
    if context is not None:
        tls = context.TLSConfig if getattr(context, "TLSConfig", None) else None
        return Engine(name, url=str(context.Host), context=name, tls=tls)
    meta = _context_metas().get(name)
    host = ((meta or {}).get("Endpoints") or {}).get("docker", {}).get("Host")
    return Engine(name, url=str(host), context=name) if host else None


def facts(engine: Engine, client: docker.DockerClient) -> EngineFacts:
    info, version = client.info(), client.version()
    return EngineFacts(
        name=engine.name, version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        kernel=str(info.get("KernelVersion", "")), os=str(info.get("OperatingSystem", "")),
        cpus=int(info.get("NCPU", 0)),
        cgroup=f"v{info.get('CgroupVersion', '1')} {info.get('CgroupDriver', '')}".strip())


@contextmanager
def api_errors() -> Iterator[None]:
    """A Docker API failure outside a trial becomes one SetupError paragraph, not a traceback."""
    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        raise SetupError(f"The Docker engine failed a request ({err}). Check `docker info` and "
                         "the daemon's log, then run again.") from None


def connect(engine: Engine | None = None) -> docker.DockerClient:
    """A client of `engine` (default: local) whose daemon has answered a ping."""
    return (engine or Engine(LOCAL)).connect()
