"""Router kind `fluentd`: the official image with a config rendered the way ECS FireLens
generates one (fluentd_conf.py), counted through monitor_agent's /api/plugins.json, its log
and the sink (fluentd_counts.py)."""

from __future__ import annotations

from pathlib import Path

from pipeline_tests._routers import fluentd_conf as conf
from pipeline_tests._routers import fluentd_counts as counts
from pipeline_tests._routers import rendered_keys
from pipeline_tests._routers.files import RouterFiles, check_files, router_files
from pipeline_tests._routers.kind import RouterCounters, RouterPorts
from pipeline_tests._routers.metrics import Poll, last_json, polled_ready
from pipeline_tests._scenario.model import Router

POLL_SECONDS = 1.0  # only the live view needs its answers; the final counts do not


class FluentdRouter:
    name = "fluentd"
    default_image = "fluent/fluentd:v1.19-debian-1"
    presets: dict[str, str | None] = {"firelens": None}

    def check(self, router: Router) -> None:
        rendered_keys.check(router, conf.OWNED_OUTPUT, conf.OWNED_INPUT, subsections=True)
        check_files(router, self.presets)

    def log_errors(self, log: str) -> list[str]:
        return counts.problems(log)

    def prepare(self, router: Router, conf_dir: Path, ports: RouterPorts,
                topology: str) -> dict[str, str]:
        files = router_files(router, self.presets, "fluentd", conf_dir, topology)
        (conf_dir / conf.MAIN_FILE).write_text(conf.render(config_for(router, ports, files)))
        return files.compose_env(router.image or self.default_image)

    def poll(self, ports: RouterPorts) -> Poll | None:
        return Poll(f"http://127.0.0.1:{ports.metrics}/api/plugins.json", POLL_SECONDS)

    def is_ready(self, router: Router, state_dir: Path, ports: RouterPorts) -> bool:
        return polled_ready(state_dir)

    def counters(self, router: Router, state_dir: Path, ports: RouterPorts,
                 log: str | None) -> RouterCounters:
        plugins = last_json(state_dir)
        if log is None:  # still running (the live view): its ECS filter's count so far
            return RouterCounters(counts.filter_records(plugins, conf.ECS_ID), None)
        return counts.router_counters(plugins, log, _keeps_everything(router))


def _keeps_everything(router: Router) -> str:
    """Empty when pipeline-tests' <match> delivers all it holds at shutdown; else why not."""
    if router.buffer_type != "memory":
        return f"its {router.buffer_type} buffer keeps undelivered chunks on disk"
    return "" if router.flush_at_shutdown else "flush_at_shutdown is off"


def config_for(router: Router, ports: RouterPorts, files: RouterFiles) -> conf.FluentdConfig:
    return conf.FluentdConfig(
        router_port=ports.router, sink_port=ports.sink, metrics_port=ports.metrics,
        flush_interval=router.flush_interval, flush_at_shutdown=router.flush_at_shutdown,
        buffer_type=router.buffer_type, require_ack=router.require_ack, include=files.include,
        tail_path=files.tail[0], tail_format=files.tail[1], rotate_wait=router.rotate_wait,
        output_keys=router.output, input_keys=router.forward_input)


FLUENTD = FluentdRouter()
