"""The sink's settings: where it listens, whom it counts, how slow a destination it plays."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline_tests._container.forward import DEFAULT_MAX_FRAME_BYTES


@dataclass(frozen=True)
class SinkConfig:
    run_id: str | None = None  # None: adopt the run id of the first valid line
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    unix_path: str | None = None
    http_port: int | None = None  # None: no HTTP input; 0: pick a free port
    shared_key: str | None = None  # fluentd <security> shared_key handshake
    workers: int = 1
    ack_delay: float = 0.0  # seconds before each {"ack": chunk} reply
    read_delay: float = 0.0  # seconds of pause after each read: a slow destination
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    hostname: str = field(default="pipeline-tests-sink")  # our name in the handshake's PONG
