"""`pipeline-tests doctor` and `build-image`: what this machine has, and the fixture image."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import docker

from pipeline_tests import _routers as routers
from pipeline_tests._docker import compose, engine, image_copy, images, log_opts

Progress = Callable[[str], None] | None


def _where(found: engine.Engine) -> str:
    if found.url is None:
        return "docker's default (DOCKER_HOST, else the current context)"
    return found.url if found.context is None else f"{found.url} (context {found.context})"


def _fixture_line(client: docker.DockerClient, local: docker.DockerClient | None,
                  progress: Progress) -> str:
    if local is None:  # the local engine itself: the image is built there, never copied in
        return f"fixture image: {images.fixture_image(client, build=False)}"
    tag, seconds = image_copy.load_fixture_image(client, local, progress)
    how = "present" if seconds is None else f"loaded from local in {seconds:.1f} s"
    return f"fixture image: {tag} ({how})"


def _engine_lines(found: engine.Engine, client: docker.DockerClient,
                  local: docker.DockerClient | None, progress: Progress) -> Iterator[str]:
    seen = engine.facts(found, client)
    yield f"engine {found.name}: {_where(found)}"
    yield f"docker engine {seen.version} (API {seen.api_version})"
    yield f"kernel {seen.kernel}, {seen.cpus} CPUs, cgroup {seen.cgroup}"
    yield ("fluentd log-driver options: "
           + ", ".join(log_opts.driver_options_supported(seen.version)))
    yield _fixture_line(client, local, progress)
    for kind, image, present in routers.describe_kinds(client):
        yield f"router {kind:<19} {image:<60} {present or f'absent: docker pull {image}'}"


def doctor(names: Iterable[str] = (engine.LOCAL,), progress: Progress = None) -> Iterator[str]:
    """Lines about Compose, then about each engine in turn; a SetupError or InputError (one
    paragraph) at the first engine that cannot be resolved or does not answer."""
    found = [engine.resolve(name) for name in names] or [engine.resolve(engine.LOCAL)]
    yield f"docker compose {compose.check_compose()}"
    local: docker.DockerClient | None = None
    for number, one in enumerate(found):
        client = one.connect()
        if not one.is_local and local is None:
            local = engine.connect()
        with engine.api_errors():
            if number:
                yield ""
            yield from _engine_lines(one, client, None if one.is_local else local, progress)
        client.close()
    if local is not None:
        local.close()


def build_image(progress: Callable[[str], None]) -> str:
    started = time.monotonic()
    with engine.api_errors():
        tag = images.fixture_image(engine.connect(), build=True, progress=progress)
    return f"{tag} ({time.monotonic() - started:.1f} s)"
