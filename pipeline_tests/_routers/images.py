"""Router images: pull one that is missing (when asked) and say which kinds are present."""

from __future__ import annotations

import docker
import docker.errors

from pipeline_tests._docker.images import find_image
from pipeline_tests._errors import ImageMissing
from pipeline_tests._routers.kind import RouterKind
from pipeline_tests._scenario.model import Router


def ensure_image(client: docker.DockerClient, kind: RouterKind, router: Router,
                 pull: bool) -> str:
    """The router's image, pulled when `pull` and missing; ImageMissing when still missing."""
    image = router.image or kind.default_image
    if router.kind == "builtin" or find_image(client, image) is not None:
        return image
    if not pull:
        raise ImageMissing(f"The {router.kind} router's image {image} is not present locally. "
                           f"Run `docker pull {image}` (or pass --pull), or set router.image "
                           "(--router-image) to an image you have.")
    repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    try:
        client.images.pull(repo, tag=tag or "latest")
    except docker.errors.APIError as exc:
        raise ImageMissing(f"Pulling {image} failed ({exc.explanation or exc}). Check that the "
                           f"registry is reachable and retry `docker pull {image}`, or set "
                           "router.image (--router-image) to an image you have.") from None
    return image


def local_version(client: docker.DockerClient, image: str) -> str | None:
    """The version of a local image (its OCI label, else its tag), or None when absent."""
    found = find_image(client, image)
    if found is None:
        return None
    labels = found.labels or {}
    return str(labels.get("org.opencontainers.image.version") or image.rsplit(":", 1)[-1])
