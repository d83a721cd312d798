"""Router kind `builtin`: the reference relay in fixtures/router.py. It writes its counters to
<state>/router.json, so they are exact even when it is killed."""

from __future__ import annotations

from pathlib import Path

from pipeline_tests._routers import logs, rendered_keys
from pipeline_tests._routers.files import read_json
from pipeline_tests._routers.kind import RouterCounters, RouterPorts
from pipeline_tests._routers.metrics import Poll
from pipeline_tests._scenario.model import Router


class BuiltinRouter:
    name = "builtin"
    default_image = "pipeline-tests/fixture:latest"
    presets: dict[str, str | None] = {}

    def check(self, router: Router) -> None:
        rendered_keys.refuse_any(router)

    def log_errors(self, log: str) -> list[str]:
        # fixtures/router.py: "router ready", else "router: <what went wrong>".
        return [text for text in logs.messages(log) if text.startswith("router: ")]

    def prepare(self, router: Router, conf_dir: Path, ports: RouterPorts,
                topology: str) -> dict[str, str]:
        conf_dir.mkdir(parents=True, exist_ok=True)
        return {}  # configured through PT_ROUTER_* variables (compose/router-builtin.yaml)

    def poll(self, ports: RouterPorts) -> Poll | None:
        return None  # it writes its own counters into its volume

    def is_ready(self, router: Router, state_dir: Path, ports: RouterPorts) -> bool:
        return bool(read_json(state_dir / "router.json").get("ready"))

    def counters(self, router: Router, state_dir: Path, ports: RouterPorts,
                 log: str | None) -> RouterCounters:
        data = read_json(state_dir / "router.json")
        # `forwarded`, not `acked`: a chunk in flight at exit reached the sink unacknowledged.
        return RouterCounters(data.get("received"), data.get("forwarded"))
