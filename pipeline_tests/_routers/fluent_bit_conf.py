"""Fluent Bit (and AWS for Fluent Bit): the config pipeline-tests renders for the router
(fluent_bit_counts.py reads its counts).

The rendered file is laid out the way ECS FireLens generates one (amazon-ecs-agent
`firelensconfig_unix.go` through awslabs/go-config-generator-for-fluentd-and-fluentbit): the
forward input on the unix socket, the forward input on 127.0.0.1, the record_modifier filter with
the ECS metadata, the `@INCLUDE` of the user's file, then the outputs. pipeline-tests adds only
what the experiment needs: the delivery knobs, the HTTP metrics server and the output to the sink.

Precedence: the scenario's knobs come *before* the include, so whatever the user's file (or a
preset) sets wins, as it would in production; the metrics server comes *after* it, because
pipeline-tests cannot tell ready or count without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline_tests._routers.rendered_keys import ITS_ID, ITS_INPUT, NEXT_TIER
from pipeline_tests._scenario.model import Keys

MAIN_FILE = "pipeline-tests.conf"  # never a name a user's file is likely to have
SOCKET = "/var/run/fluent.sock"  # where FireLens puts it
STORAGE_DIR = "/pt/storage"
# Aliases name our plugins in /api/v1/metrics, apart from any plugin of the user's file.
UNIX_ALIAS, TCP_ALIAS, TAIL_ALIAS, SINK_ALIAS = "pt_unix", "pt_tcp", "pt_tail", "pt_sink"
ECS_ALIAS = "pt_ecs"
# A tail input must hold the longest line pipeline-tests writes (16 KiB, a little more as Docker's
# JSON), not skip or stall on it.
TAIL_BUFFER = "64k"
# What FireLens adds with enable-ecs-log-metadata (the default); the values stand for one task.
ECS_METADATA = (
    ("ecs_cluster", "pipeline-tests"),
    ("ecs_task_arn", "arn:aws:ecs:us-east-1:000000000000:task/pipeline-tests/"
                     "0123456789abcdef0123456789abcdef"),
    ("ecs_task_definition", "pipeline-tests:1"),
)
# FireLens names a container's tag `<container>-firelens-<task id>`; the direct-tcp app uses
# `app`. One pattern catches both and leaves the router's own tags alone.
APP_MATCH = "app*"


@dataclass(frozen=True)
class FluentBitConfig:
    router_port: int
    sink_port: int
    metrics_port: int
    flush: float  # [SERVICE] Flush, seconds
    grace: float  # [SERVICE] Grace, whole seconds in Fluent Bit: rounded up
    storage_type: str  # memory | filesystem
    require_ack: bool
    include: str | None  # in-container path of the user's file or preset; None: FireLens only
    tail_path: str | None = None  # topologies `file`, `tail`: the log file(s) to follow
    tail_format: str = "raw"  # raw lines, or `docker`: json-file lines (the log in `log`)
    rotate_wait: float = 5.0  # tail `Rotate_Wait`, whole seconds in Fluent Bit: rounded up
    output_keys: Keys = ()  # router.output: added to the [OUTPUT] to the next tier
    input_keys: Keys = ()  # router.forward_input: added to both forward [INPUT]s


# Keys of those sections pipeline-tests sets itself (lower case: Fluent Bit ignores case).
OWNED_OUTPUT = {"name": NEXT_TIER, "match": NEXT_TIER, "host": NEXT_TIER, "port": NEXT_TIER,
                "alias": ITS_ID, "require_ack_response": "set it with '{section}.require_ack'"}
OWNED_INPUT = {"name": ITS_INPUT, "unix_path": ITS_INPUT, "listen": ITS_INPUT,
               "port": ITS_INPUT, "alias": ITS_ID,
               "storage.type": "set it with '{section}.storage_type'"}


def render(config: FluentBitConfig) -> str:
    """The whole main config file, text only (no file system)."""
    parts = [_header(), _service(config), _inputs(config), _ecs_filter()]
    if config.include is not None:
        parts.append(f"@INCLUDE {config.include}\n")
    parts += [_metrics_service(config), _sink_output(config)]
    return "\n".join(parts)


def _header() -> str:
    return ("# Rendered by pipeline-tests for one trial; edit the scenario, not this file.\n"
            "# Laid out like the config ECS FireLens generates for Fluent Bit.\n")


def _section(name: str, pairs: list[tuple[str, str]]) -> str:
    return f"[{name}]\n" + "".join(f"    {key} {value}\n" for key, value in pairs)


def _service(config: FluentBitConfig) -> str:
    pairs = [("Flush", _seconds(config.flush)), ("Grace", str(math.ceil(config.grace))),
             ("Log_Level", "info")]
    if config.storage_type == "filesystem":
        pairs.append(("storage.path", f"{STORAGE_DIR}/flb"))
    return _section("SERVICE", pairs)


def _inputs(config: FluentBitConfig) -> str:
    storage = [("storage.type", config.storage_type)]
    extra = _pairs(config.input_keys)
    unix = _section("INPUT", [("Name", "forward"), ("Alias", UNIX_ALIAS),
                              ("unix_path", SOCKET), *storage, *extra])
    tcp = _section("INPUT", [("Name", "forward"), ("Alias", TCP_ALIAS),
                             ("Listen", "127.0.0.1"), ("Port", str(config.router_port)),
                             *storage, *extra])
    if config.tail_path is None:
        return f"{unix}\n{tcp}"
    parser = [("multiline.parser", "docker")] if config.tail_format == "docker" else []
    tail = _section("INPUT", [("Name", "tail"), ("Alias", TAIL_ALIAS), ("Tag", "app"),
                              ("Path", config.tail_path), *parser, ("Read_from_Head", "On"),
                              ("Refresh_Interval", "1"),
                              ("Rotate_Wait", str(math.ceil(config.rotate_wait))),
                              ("Buffer_Chunk_Size", TAIL_BUFFER),
                              ("Buffer_Max_Size", TAIL_BUFFER), *storage])
    return f"{unix}\n{tcp}\n{tail}"


def _ecs_filter() -> str:
    records = [("Record", f"{key} {value}") for key, value in ECS_METADATA]
    return _section("FILTER", [("Name", "record_modifier"), ("Alias", ECS_ALIAS), ("Match", "*"),
                               *records])


def _metrics_service(config: FluentBitConfig) -> str:
    return _section("SERVICE", [("HTTP_Server", "On"), ("HTTP_Listen", "127.0.0.1"),
                                ("HTTP_Port", str(config.metrics_port))])


def _sink_output(config: FluentBitConfig) -> str:
    return _section("OUTPUT", [
        ("Name", "forward"), ("Alias", SINK_ALIAS), ("Match", APP_MATCH),
        ("Host", "127.0.0.1"), ("Port", str(config.sink_port)),
        ("Require_ack_response", "true" if config.require_ack else "false"),
        *_pairs(config.output_keys),
    ])


def _pairs(keys: Keys) -> list[tuple[str, str]]:
    return [(key, value) for key, value in keys if isinstance(value, str)]


def _seconds(value: float) -> str:
    return f"{value:g}"

