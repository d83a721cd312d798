"""Router kinds `fluent-bit` and `aws-for-fluent-bit`: the official images with a config
rendered the way ECS FireLens generates one (fluent_bit_conf.py), counted through Fluent Bit's
/api/v2/metrics and its log (fluent_bit_counts.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_tests._routers import fluent_bit_conf as conf
from pipeline_tests._routers import fluent_bit_counts as counts
from pipeline_tests._routers import rendered_keys
from pipeline_tests._routers.files import USER_DIR, RouterFiles, check_files, router_files
from pipeline_tests._routers.kind import RouterCounters, RouterPorts
from pipeline_tests._routers.metrics import Poll, last_answer, polled_ready
from pipeline_tests._scenario.model import Router

OURS = frozenset({conf.UNIX_ALIAS, conf.TCP_ALIAS, conf.TAIL_ALIAS})
# Its metrics are rebuilt once a second and it may exit half a second after pausing its inputs:
# polled often, the copy built after the pause is read whenever there is one.
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class FluentBitRouter:
    name: str
    default_image: str
    presets: Mapping[str, str | None] = field(default_factory=dict)

    def check(self, router: Router) -> None:
        rendered_keys.check(router, conf.OWNED_OUTPUT, conf.OWNED_INPUT, subsections=False)
        check_files(router, self.presets)

    def log_errors(self, log: str) -> list[str]:
        return counts.problems(log)

    def prepare(self, router: Router, conf_dir: Path, ports: RouterPorts,
                topology: str) -> dict[str, str]:
        files = router_files(router, self.presets, "fluent-bit", conf_dir, topology)
        (conf_dir / conf.MAIN_FILE).write_text(conf.render(config_for(router, ports, files)))
        _link_siblings(conf_dir, files.user_dir)
        return files.compose_env(router.image or self.default_image)

    def poll(self, ports: RouterPorts) -> Poll | None:
        return Poll(f"http://127.0.0.1:{ports.metrics}/api/v2/metrics", POLL_SECONDS)

    def is_ready(self, router: Router, state_dir: Path, ports: RouterPorts) -> bool:
        return polled_ready(state_dir)

    def counters(self, router: Router, state_dir: Path, ports: RouterPorts,
                 log: str | None) -> RouterCounters:
        last = counts.parse_snapshot(last_answer(state_dir) or "")
        if log is None:  # still running (the live view): its counts so far
            return (RouterCounters(None, None) if last is None else
                    RouterCounters(sum(n for a, n in last.inputs.items() if a in OURS), None))
        return counts.router_counters(last, counts.parse_shutdown(log), OURS,
                                      conf.ECS_ALIAS, conf.SINK_ALIAS)


def config_for(router: Router, ports: RouterPorts, files: RouterFiles) -> conf.FluentBitConfig:
    return conf.FluentBitConfig(
        router_port=ports.router, sink_port=ports.sink, metrics_port=ports.metrics,
        flush=router.flush_interval, grace=router.grace, storage_type=router.storage_type,
        require_ack=router.require_ack, include=files.include, tail_path=files.tail[0],
        tail_format=files.tail[1], rotate_wait=router.rotate_wait, output_keys=router.output,
        input_keys=router.forward_input)


def _link_siblings(conf_dir: Path, user_dir: Path) -> None:
    """Fluent Bit resolves a relative @INCLUDE or Parsers_File against the *main* file's
    directory, so each file beside the user's is linked (by its in-container path) next to the
    main file: the user's own includes work unchanged. parsers.conf falls back to the image's."""
    names = {p.name for p in user_dir.iterdir()} - {conf.MAIN_FILE}
    targets = {name: f"{USER_DIR}/{name}" for name in names}
    targets.setdefault("parsers.conf", "/fluent-bit/etc/parsers.conf")
    for name, target in targets.items():
        link = conf_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


FLUENT_BIT = FluentBitRouter(
    "fluent-bit", "fluent/fluent-bit:5.1.1",
    {"firelens": None, "minimize-log-loss": f"{USER_DIR}/minimize-log-loss.conf"})
# AWS's image ships its own copy of AWS's examples under /fluent-bit/configs/, which is what a
# task definition names in `config-file-value`.
AWS_FOR_FLUENT_BIT = FluentBitRouter(
    "aws-for-fluent-bit", "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.4.14",
    {"firelens": None, "minimize-log-loss": "/fluent-bit/configs/minimize-log-loss.conf"})
