"""The sink's settings: where it listens, whom it counts, how slow a destination it plays, and the
memory it may take whatever its clients send (budget() splits max_memory between its parts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline_tests._container.forward import BLOCK_BYTES, DEFAULT_MAX_FRAME_BYTES

MIB = 1024 * 1024
PARENT_RESERVE = 64 * MIB  # the process that started the workers (the CLI, a trial)
WORKER_BASE = 48 * MIB  # one idle worker: interpreter, asyncio, aiohttp, msgpack (40 MiB measured)
WRITE_HIGH = 64 * 1024  # unread acks buffered per connection before it is no longer read


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
    latency: float = 0.0  # seconds each frame (request) takes: nothing read, no ack meanwhile
    max_records_per_s: float | None = None  # a throughput cap (throttle.py), over all workers
    max_bytes_per_s: float | None = None  # of the records' log lines, over all workers
    refuse_every: int | None = None  # every Nth frame: counted, then closed before its ack
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    hostname: str = field(default="pipeline-tests-sink")  # our name in the handshake's PONG
    max_memory: int = 512 * MIB  # RSS of all the sink's processes together
    max_frame_entries: int = 100_000  # records in one frame (and elements of one array or map)
    partial_timeout: float = 30.0  # seconds a connection may hold an incomplete frame
    stop_timeout: float = 30.0  # seconds a worker has to return its ledger at stop


@dataclass(frozen=True)
class Budget:
    """One worker's share of max_memory, in bytes (objects: memory blocks)."""

    frame_objects: int  # objects one frame (and one step of decoding) may create
    partial: int  # frames not received whole yet, over all connections
    connections: int  # connections at once (each may buffer WRITE_HIGH of unread acks)


def budget(config: SinkConfig) -> Budget:
    """Split max_memory: per worker, a base, then 40% for the frame being decoded, 30% for partly
    received frames, 10% for connections' buffers, 20% for the ledger and fragmentation."""
    share = (config.max_memory - PARENT_RESERVE) // max(1, config.workers) - WORKER_BASE
    share = max(share, 0)
    return Budget(frame_objects=share * 4 // 10 // BLOCK_BYTES, partial=share * 3 // 10,
                  connections=max(1, share // 10 // (WRITE_HIGH + 64 * 1024)))
