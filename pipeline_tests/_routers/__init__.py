"""Router kinds: the sidecar under test. One protocol (kind.py), one module per kind:

- `builtin` (builtin.py): the reference relay in fixtures/router.py.
- `fluent-bit`, `aws-for-fluent-bit` (fluent_bit.py), `fluentd` (fluentd.py): the official
  images, with a config rendered the way ECS FireLens generates one, which includes the user's own
  file (`router.config`) or a shipped preset from fixtures/routers/.

A trial calls the functions below; they look the kind up and ask it. KINDS is the one list of
router kinds: the scenario's checks and the command's help are made from it. The Docker SDK is
imported only by the functions that need an engine, so the scenario can import KINDS cheaply.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_tests._routers.builtin import BuiltinRouter
from pipeline_tests._routers.files import TAIL_PATH, presets_dir
from pipeline_tests._routers.fluent_bit import AWS_FOR_FLUENT_BIT, FLUENT_BIT
from pipeline_tests._routers.fluentd import FLUENTD
from pipeline_tests._routers.kind import RouterCounters, RouterKind, RouterPorts
from pipeline_tests._routers.metrics import Poll
from pipeline_tests._scenario.model import Router

if TYPE_CHECKING:
    import docker

KINDS: dict[str, RouterKind] = {k.name: k for k in (
    BuiltinRouter(), FLUENT_BIT, AWS_FOR_FLUENT_BIT, FLUENTD)}

__all__ = ["KINDS", "TAIL_PATH", "RouterCounters", "RouterKind", "RouterPorts", "check",
           "counters", "log_errors",
           "describe_kinds", "ensure_image", "image_for", "is_ready", "poll", "prepare",
           "presets_dir"]


def image_for(router: Router) -> str:
    return router.image or KINDS[router.kind].default_image


def check(router: Router) -> None:
    """InputError for settings the router's kind cannot carry out (before the run)."""
    KINDS[router.kind].check(router)


def log_errors(router: Router, log: str) -> list[str]:
    """What went wrong in the router's own words, from its log."""
    return KINDS[router.kind].log_errors(log)


def prepare(router: Router, conf_dir: Path, ports: RouterPorts,
            topology: str = "firelens") -> dict[str, str]:
    """Write the router's config files into `conf_dir`; return extra Compose variables."""
    return KINDS[router.kind].prepare(router, conf_dir, ports, topology)


def is_ready(router: Router, state_dir: Path, ports: RouterPorts) -> bool:
    return KINDS[router.kind].is_ready(router, state_dir, ports)


def poll(router: Router, ports: RouterPorts) -> Poll | None:
    return KINDS[router.kind].poll(ports)


def counters(router: Router, state_dir: Path, ports: RouterPorts,
             log: str | None = None) -> RouterCounters:
    """Its counts at the end of the trial given its `log`; without one, its counts so far."""
    return KINDS[router.kind].counters(router, state_dir, ports, log)


def ensure_image(client: docker.DockerClient, router: Router, pull: bool) -> str:
    from pipeline_tests._routers import images

    return images.ensure_image(client, KINDS[router.kind], router, pull)


def describe_kinds(client: docker.DockerClient) -> list[tuple[str, str, str | None]]:
    """(kind, default image, local version or None when the image is absent) for `doctor`."""
    from pipeline_tests._routers import images

    return [(name, kind.default_image, images.local_version(client, kind.default_image))
            for name, kind in KINDS.items()]
