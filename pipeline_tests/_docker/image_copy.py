"""Images from one engine to another: `docker save` on the source streamed into `docker load`.

No registry is reachable here, so an engine other than the local one gets the fixture image the
way `docker save | docker -H ... load` would give it: over the two APIs, chunk by chunk, never
the whole image in memory or in a file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import docker.errors
from docker.models.images import Image

from pipeline_tests._docker.images import FIXTURE_REPO, Progress, _say, find_image, fixture_image
from pipeline_tests._errors import SetupError

CHUNK = 2 * 1024 * 1024
_REPORT_EVERY = 64 * 1024 * 1024  # a progress line per 64 MiB sent


def _engine_url(client: docker.DockerClient) -> str:
    """unix:///run/..., tcp://host:port: the SDK's base_url hides a socket's path."""
    socket_path = getattr(getattr(client.api, "_custom_adapter", None), "socket_path", None)
    if socket_path:
        return f"unix://{socket_path}"
    url = str(getattr(client.api, "base_url", "") or "the engine")
    return url.replace("http://", "tcp://", 1).replace("https://", "tcp://", 1)


def _source_image(source: docker.DockerClient, tag: str) -> Image:
    found = find_image(source, tag)
    if found is None:
        raise SetupError(
            f"The image {tag} is not on the engine it should be copied from "
            f"({_engine_url(source)}). Build it there first (`pipeline-tests build-image` for "
            "the fixture image) or pull it, then run again."
        )
    return found


def _counted(chunks: Iterator[bytes], tag: str, progress: Progress) -> Iterator[bytes]:
    sent = reported = 0
    for chunk in chunks:
        sent += len(chunk)
        if sent - reported >= _REPORT_EVERY:
            reported = sent
            _say(progress, f"{tag}: {sent // (1024 * 1024)} MiB sent")
        yield chunk


def _load_failure(reply: dict[str, object]) -> str | None:
    detail = reply.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    return str(reply["error"]) if reply.get("error") else None


def copy_image(source: docker.DockerClient, target: docker.DockerClient, tag: str,
               progress: Progress) -> None:
    """Save `tag` from the source engine and load it into the target, streaming."""
    image = _source_image(source, tag)
    _say(progress, f"copying {tag} to {_engine_url(target)}")
    chunks = _counted(image.save(chunk_size=CHUNK, named=tag), tag, progress)
    try:
        for reply in target.api.load_image(chunks):
            failure = _load_failure(reply) if isinstance(reply, dict) else None
            if failure is not None:
                raise SetupError(f"Loading {tag} into {_engine_url(target)} failed: {failure}. "
                                 "Check that engine's disk space and log, then run again.")
    except (docker.errors.APIError, docker.errors.DockerException) as exc:
        raise SetupError(f"Copying {tag} from {_engine_url(source)} to {_engine_url(target)} "
                         f"failed ({exc}). Check both engines (`docker info`), then run "
                         "again.") from None
    if find_image(target, tag) is None:
        raise SetupError(f"Loading {tag} into {_engine_url(target)} reported no error, yet the "
                         "image is not there. Check that engine's log, then run again.")


def load_fixture_image(engine_client: docker.DockerClient, local_client: docker.DockerClient,
                       progress: Progress) -> tuple[str, float | None]:
    """The fixture tag on the engine, and how many seconds loading it from the local engine
    took (None: it was there already). The local engine builds it first when it lacks it."""
    tag = fixture_image(local_client, build=True, progress=progress)
    seconds: float | None = None
    if find_image(engine_client, tag) is None:
        started = time.monotonic()
        copy_image(local_client, engine_client, tag, progress)
        seconds = time.monotonic() - started
    engine_client.images.get(tag).tag(FIXTURE_REPO, "latest")
    return tag, seconds


def ensure_fixture_image(engine_client: docker.DockerClient, local_client: docker.DockerClient,
                         progress: Progress) -> str:
    """The fixture image's tag, loaded into the engine from the local one when it lacks it."""
    return load_fixture_image(engine_client, local_client, progress)[0]
