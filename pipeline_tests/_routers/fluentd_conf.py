"""Fluentd: the config pipeline-tests renders for the router (fluentd_counts.py reads its counts).

Laid out the way ECS FireLens generates a Fluentd config (amazon-ecs-agent through
awslabs/go-config-generator-for-fluentd-and-fluentbit): `unix` source on the socket, `forward`
source on 127.0.0.1, the record_transformer with the ECS metadata, the `@include` of the user's
file, then the `<match>`. pipeline-tests adds the monitor_agent and the sink's `<match>` with the
scenario's buffer knobs.

Fluentd hands each event to the *first* `<match>` that fits, and the user's file comes first (as
under FireLens): a `<match>` there that catches `app**` takes the events away from the sink. Such
a file can send to the sink itself: the router has PT_SINK_HOST and PT_SINK_PORT in its
environment (`port "#{ENV['PT_SINK_PORT']}"`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline_tests._routers.fluent_bit_conf import ECS_METADATA
from pipeline_tests._routers.rendered_keys import ITS_ID, ITS_INPUT, NEXT_TIER
from pipeline_tests._scenario.model import Keys

MAIN_FILE = "fluent.conf"
SOCKET = "/var/run/fluent.sock"
STORAGE_DIR = "/pt/storage"
UNIX_ID, TCP_ID, TAIL_ID, MONITOR_ID, SINK_ID, ECS_ID = (
    "pt_unix", "pt_tcp", "pt_tail", "pt_monitor", "pt_sink", "pt_ecs")
# FireLens matches `<container>-firelens**`; the direct-tcp app tags `app`. Fluentd's own
# `fluent.*` log events must not reach the sink, so no `**`.
APP_MATCH = "app**"


@dataclass(frozen=True)
class FluentdConfig:
    router_port: int
    sink_port: int
    metrics_port: int
    flush_interval: float  # <buffer> flush_interval, seconds
    flush_at_shutdown: bool
    buffer_type: str  # memory | file
    require_ack: bool
    include: str | None  # in-container path of the user's file; None: FireLens only
    tail_path: str | None = None  # topologies `file`, `tail`: the log file(s) to follow
    tail_format: str = "raw"  # raw lines, or `docker`: json-file lines (the log in `log`)
    rotate_wait: float = 5.0  # in_tail `rotate_wait`, seconds
    output_keys: Keys = ()  # router.output: added to the sink's <match> (and its subsections)
    input_keys: Keys = ()  # router.forward_input: added to the forward <source>


# Parameters pipeline-tests sets itself (`subsection.param` inside <server> or <buffer>).
OWNED_OUTPUT = {
    "@type": NEXT_TIER, "@id": ITS_ID, "server.host": NEXT_TIER, "server.port": NEXT_TIER,
    "require_ack_response": "set it with '{section}.require_ack'",
    "buffer.@type": "set it with '{section}.buffer_type'",
    "buffer.path": "it comes with '{section}.buffer_type: file'",
    "buffer.flush_mode": "it flushes every '{section}.flush_interval'",
    "buffer.flush_interval": "set it with '{section}.flush_interval'",
    "buffer.flush_at_shutdown": "set it with '{section}.flush_at_shutdown'"}
OWNED_INPUT = {"@type": ITS_INPUT, "@id": ITS_ID, "bind": ITS_INPUT, "port": ITS_INPUT}


def render(config: FluentdConfig) -> str:
    """The whole main config file, text only (no file system)."""
    parts = [_header(), *_sources(config), _ecs_filter()]
    if config.include is not None:
        parts.append(f"@include {config.include}\n")
    parts.append(_sink_match(config))
    return "\n".join(parts)


def _header() -> str:
    return ("# Rendered by pipeline-tests for one trial; edit the scenario, not this file.\n"
            "# Laid out like the config ECS FireLens generates for Fluentd.\n")


def _block(open_tag: str, lines: list[str], indent: str = "") -> str:
    name = open_tag.split()[0]
    body = "".join(f"{indent}    {line}\n" for line in lines)
    return f"{indent}<{open_tag}>\n{body}{indent}</{name}>\n"


def _sources(config: FluentdConfig) -> list[str]:
    sources = [
        _block("source", ["@type unix", f"@id {UNIX_ID}", f"path {SOCKET}"]),
        _block("source", ["@type forward", f"@id {TCP_ID}", "bind 127.0.0.1",
                          f"port {config.router_port}", *_params(config.input_keys),
                          *_subsections(config.input_keys, {})]),
        _block("source", ["@type monitor_agent", f"@id {MONITOR_ID}", "bind 127.0.0.1",
                          f"port {config.metrics_port}"]),
    ]
    if config.tail_path is not None:
        # Each line as it is (parser `none`: the record's `message`), or Docker's JSON (`log`).
        parse = _block("parse", ["@type json" if config.tail_format == "docker" else "@type none"],
                       "    ")
        sources.append(
            f"<source>\n    @type tail\n    @id {TAIL_ID}\n    path {config.tail_path}\n"
            f"    pos_file {STORAGE_DIR}/app.log.pos\n    read_from_head true\n"
            "    refresh_interval 1\n"
            f"    rotate_wait {config.rotate_wait:g}s\n"
            f"    tag app\n{parse}</source>\n")
    return sources


def _ecs_filter() -> str:
    record = _block("record", [f"{key} {value}" for key, value in ECS_METADATA], "    ")
    return f"<filter **>\n    @type record_transformer\n    @id {ECS_ID}\n{record}</filter>\n"


def _sink_match(config: FluentdConfig) -> str:
    buffer = [f"@type {config.buffer_type}"]
    if config.buffer_type == "file":
        buffer.append(f"path {STORAGE_DIR}/buffer")
    buffer += ["flush_mode interval", f"flush_interval {config.flush_interval:g}s",
               f"flush_at_shutdown {'true' if config.flush_at_shutdown else 'false'}"]
    sections = {"server": ["host 127.0.0.1", f"port {config.sink_port}"], "buffer": buffer}
    body = ["@type forward", f"@id {SINK_ID}",
            f"require_ack_response {'true' if config.require_ack else 'false'}",
            *_params(config.output_keys), *_subsections(config.output_keys, sections)]
    return _block(f"match {APP_MATCH}", body)


def _params(keys: Keys) -> list[str]:
    return [f"{key} {value}" for key, value in keys if isinstance(value, str)]


def _subsections(keys: Keys, ours: dict[str, list[str]]) -> list[str]:
    """Our subsections with the scenario's parameters added, then the scenario's own, as lines
    of the enclosing block."""
    given = {key: value for key, value in keys if not isinstance(value, str)}
    blocks = [_block(name, [*lines, *_params(given.pop(name, ()))])
              for name, lines in ours.items()]
    blocks += [_block(name, _params(value)) for name, value in given.items()]
    return [line for block in blocks for line in block.splitlines()]

