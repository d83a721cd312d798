"""Router kinds: what each needs to run in a trial (config files, Compose variables), how to tell
it is ready, and how to read its own counters for per-hop accounting.

- `builtin`: the reference relay in fixtures/router.py; it reports its counters in
  <state>/router.json.
- `fluent-bit`, `aws-for-fluent-bit`, `fluentd`: the official images with a config rendered the
  way ECS FireLens generates one (fluent_bit.py, fluentd.py), which includes the user's own file
  (`router.config`, mounted read-only, never copied or edited) or a shipped preset from
  fixtures/routers/. Their counters come from their HTTP endpoints, polled while they run: a
  stopped router answers nothing, so the last answer before it went away is what counts.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from pipeline_tests import fluent_bit, fluentd
from pipeline_tests.errors import UserError
from pipeline_tests.scenario import Router

KINDS = ("builtin", "fluent-bit", "aws-for-fluent-bit", "fluentd")
DEFAULT_IMAGES = {
    "builtin": "pipeline-tests/fixture:latest",
    "fluent-bit": "fluent/fluent-bit:5.1.1",
    "aws-for-fluent-bit": "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.4.14",
    "fluentd": "fluent/fluentd:v1.19-debian-1",
}
PRESETS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "routers"
# Preset -> in-container path of the file it includes (None: the FireLens config alone).
# AWS's image ships its own copy of AWS's examples under /fluent-bit/configs/, which is what a
# task definition names in `config-file-value`.
PRESETS: dict[str, dict[str, str | None]] = {
    "fluent-bit": {"firelens": None,
                   "minimize-log-loss": "/pt/user/minimize-log-loss.conf"},
    "aws-for-fluent-bit": {"firelens": None,
                           "minimize-log-loss": "/fluent-bit/configs/minimize-log-loss.conf"},
    "fluentd": {"firelens": None},
}
_PRESET_DIRS = {"fluent-bit": "fluent-bit", "aws-for-fluent-bit": "fluent-bit",
                "fluentd": "fluentd"}
USER_DIR = "/pt/user"  # where the directory of the user's file is mounted, read-only
TAIL_PATH = "/pt/logs/app.log"  # topology `file`: the app's log file (see compose/file.yaml)
# What a router tails in each tailing topology: (path inside the router, line format).
Tail = tuple[str | None, str]
NO_TAIL: Tail = (None, "raw")
TAILS: dict[str, Tail] = {"file": (TAIL_PATH, "raw"),
                          "tail": ("/pt/containers/*-json.log", "docker")}
POLL_SECONDS = 0.1
GONE_SECONDS = 30.0
# Fluent Bit refreshes its metrics once a second; monitor_agent answers live.
SETTLE_SECONDS = {"fluent-bit": 2.5, "aws-for-fluent-bit": 2.5, "fluentd": 0.5}


@dataclass(frozen=True)
class RouterPorts:
    router: int  # Forward input on 127.0.0.1
    sink: int  # where the router sends
    metrics: int  # the router's own HTTP metrics / monitor endpoint on 127.0.0.1, if it has one


@dataclass(frozen=True)
class RouterCounters:
    """What the router itself says it did (None where it does not count)."""

    received: int | None  # records accepted by its inputs
    sent: int | None  # records its output sent to the sink (Fluent Bit: flushed OK)


def image_for(router: Router) -> str:
    return router.image or DEFAULT_IMAGES[router.kind]


# --- prepare ---------------------------------------------------------------------------------

def prepare(router: Router, conf_dir: Path, ports: RouterPorts,
            topology: str = "firelens") -> dict[str, str]:
    """Write the router's config files into `conf_dir`; return extra Compose variables."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    if router.kind == "builtin":
        return {}
    user_file = _user_file(router)
    include = _include_path(router, user_file)
    tail = TAILS.get(topology, NO_TAIL)
    user_dir = user_file.parent if user_file else PRESETS_DIR / _PRESET_DIRS[router.kind]
    storage = conf_dir.parent / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    if router.kind == "fluentd":
        text = fluentd.render(fluentd_config(router, ports, include, tail))
        (conf_dir / fluentd.MAIN_FILE).write_text(text)
    else:
        text = fluent_bit.render(fluent_bit_config(router, ports, include, tail))
        (conf_dir / fluent_bit.MAIN_FILE).write_text(text)
        _link_siblings(conf_dir, user_dir)
    return {"PT_ROUTER_IMAGE": image_for(router), "PT_ROUTER_CONF": str(conf_dir.resolve()),
            "PT_ROUTER_USER_DIR": str(user_dir.resolve()),
            "PT_ROUTER_STORAGE": str(storage.resolve())}


def fluent_bit_config(router: Router, ports: RouterPorts, include: str | None,
                      tail: Tail = NO_TAIL) -> fluent_bit.FluentBitConfig:
    return fluent_bit.FluentBitConfig(
        router_port=ports.router, sink_port=ports.sink, metrics_port=ports.metrics,
        flush=router.flush_interval, grace=router.grace, storage_type=router.storage_type,
        require_ack=router.require_ack, include=include, tail_path=tail[0], tail_format=tail[1])


def fluentd_config(router: Router, ports: RouterPorts, include: str | None,
                   tail: Tail = NO_TAIL) -> fluentd.FluentdConfig:
    return fluentd.FluentdConfig(
        router_port=ports.router, sink_port=ports.sink, metrics_port=ports.metrics,
        flush_interval=router.flush_interval, flush_at_shutdown=router.flush_at_shutdown,
        buffer_type=router.buffer_type, require_ack=router.require_ack, include=include,
        tail_path=tail[0], tail_format=tail[1])


def _user_file(router: Router) -> Path | None:
    if router.config is None:
        return None
    if router.preset is not None:
        raise UserError(f"The scenario gives both router.config ({router.config}) and "
                        f"router.preset ({router.preset}). Give one: your own file, or a "
                        "shipped preset.")
    path = Path(router.config).expanduser().resolve()
    if not path.is_file() or not os.access(path, os.R_OK):
        why = "does not exist" if not path.exists() else "is not a readable file"
        raise UserError(f"The {router.kind} config file {path} (router.config) {why}. Fix the "
                        "path in the scenario (relative paths start at the current "
                        "directory), or drop router.config to use a shipped preset.")
    return path


def _include_path(router: Router, user_file: Path | None) -> str | None:
    if user_file is not None:
        return f"{USER_DIR}/{user_file.name}"
    presets = PRESETS[router.kind]
    name = router.preset or "firelens"
    if name not in presets:
        raise UserError(f"Unknown preset '{name}' for router {router.kind}. Presets: "
                        f"{', '.join(presets)}; or set router.config to your own file.")
    return presets[name]


def _link_siblings(conf_dir: Path, user_dir: Path) -> None:
    """Fluent Bit resolves a relative @INCLUDE or Parsers_File against the *main* file's
    directory, so each file beside the user's is linked (by its in-container path) next to the
    main file: the user's own includes work unchanged. parsers.conf falls back to the image's."""
    names = {p.name for p in user_dir.iterdir()} - {fluent_bit.MAIN_FILE}
    targets = {name: f"{USER_DIR}/{name}" for name in names}
    targets.setdefault("parsers.conf", "/fluent-bit/etc/parsers.conf")
    for name, target in targets.items():
        link = conf_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


# --- ready and counters ----------------------------------------------------------------------

def is_ready(router: Router, state_dir: Path, ports: RouterPorts) -> bool:
    if router.kind == "builtin":
        return bool(_read_json(state_dir / "router.json").get("ready"))
    url = _metrics_url(router, ports)
    if _get_json(url) is None or not _accepts(ports.router):
        return False
    module = fluentd if router.kind == "fluentd" else fluent_bit
    _Poller.start(state_dir, url, SETTLE_SECONDS[router.kind], module.counts)
    return True


def counters(router: Router, state_dir: Path, ports: RouterPorts) -> RouterCounters:
    if router.kind == "builtin":
        data = _read_json(state_dir / "router.json")
        # `forwarded`, not `acked`: a chunk in flight at exit reached the sink unacknowledged.
        return RouterCounters(data.get("received"), data.get("forwarded"))
    _Poller.stop(state_dir)
    polled = _read_json(state_dir / "router-metrics.json")
    if not polled.get("settled"):
        return RouterCounters(None, None)
    module = fluentd if router.kind == "fluentd" else fluent_bit
    received, sent = module.counts(polled.get("metrics", {}))
    return RouterCounters(received, sent)


def _metrics_url(router: Router, ports: RouterPorts) -> str:
    path = "/api/plugins.json" if router.kind == "fluentd" else "/api/v1/metrics"
    return f"http://127.0.0.1:{ports.metrics}{path}"


def _get_json(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as reply:  # noqa: S310 (127.0.0.1 only)
            data = json.loads(reply.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


class _Poller:
    """Keeps the router's last metrics answer in <state>/router-metrics.json while it runs.

    An answer counts only once it is *settled*: unchanged for `settle` seconds while the router
    still answered. Fluent Bit refreshes /api/v1/metrics once a second, so a router stopped
    right after the flow stopped leaves a stale answer; counters() then says None (unknown)
    rather than a number that would invent a loss between app and router.
    """

    _running: dict[Path, threading.Event] = {}

    @classmethod
    def start(cls, state_dir: Path, url: str, settle: float,
              project: Callable[[Mapping[str, Any]], object]) -> None:
        if state_dir in cls._running:
            return
        done = threading.Event()
        cls._running[state_dir] = done
        threading.Thread(target=cls._loop, daemon=True, name=f"pt-metrics-{state_dir.name}",
                         args=(state_dir / "router-metrics.json", url, settle, project,
                               done)).start()

    @classmethod
    def stop(cls, state_dir: Path) -> None:
        done = cls._running.pop(state_dir, None)
        if done is not None:
            done.set()

    @staticmethod
    def _loop(path: Path, url: str, settle: float,
              project: Callable[[Mapping[str, Any]], object], done: threading.Event) -> None:
        # Settle on the counters pipeline-tests reads, not the whole answer: Fluentd's outputs
        # keep changing theirs (flush timings, buffer gauges) until the very end.
        last: object = None
        changed = answered = time.monotonic()
        # A trial that failed never calls counters(): end once the router is long gone.
        while not done.wait(POLL_SECONDS) and time.monotonic() - answered < GONE_SECONDS:
            data = _get_json(url)
            if data is None:
                continue
            answered = time.monotonic()
            if project(data) != last:
                last, changed = project(data), answered
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"metrics": data, "settled": answered - changed >= settle}))
            tmp.replace(path)  # a reader never sees half a file


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


# --- images ----------------------------------------------------------------------------------

def ensure_image(client: docker.DockerClient, router: Router, pull: bool) -> str:
    """The router's image, pulled when `pull` and missing; UserError when still missing."""
    image = image_for(router)
    if router.kind == "builtin" or _local_image(client, image) is not None:
        return image
    if not pull:
        raise UserError(f"The {router.kind} router's image {image} is not present locally. "
                        f"Run `docker pull {image}` (or pass --pull), or set router.image "
                        "(--router-image) to an image you have.")
    repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    try:
        client.images.pull(repo, tag=tag or "latest")
    except docker.errors.APIError as exc:
        raise UserError(f"Pulling {image} failed ({exc.explanation or exc}). Check that the "
                        f"registry is reachable and retry `docker pull {image}`, or set "
                        "router.image (--router-image) to an image you have.") from None
    return image


def describe_kinds(client: docker.DockerClient) -> list[tuple[str, str, str | None]]:
    """(kind, default image, local version or None when the image is absent) for `doctor`."""
    rows = []
    for kind in KINDS:
        image = DEFAULT_IMAGES[kind]
        found = _local_image(client, image)
        version = None
        if found is not None:
            labels = found.labels or {}
            version = labels.get("org.opencontainers.image.version") or image.rsplit(":", 1)[-1]
        rows.append((kind, image, version))
    return rows


def _local_image(client: docker.DockerClient, image: str) -> Any:
    try:
        return client.images.get(image)
    except docker.errors.ImageNotFound:
        return None
