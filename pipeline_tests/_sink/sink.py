"""The sink: the measuring instrument at the end of every topology.

Forward protocol over TCP (every worker, SO_REUSEPORT) and a unix socket (worker 0), plus an HTTP
input (every worker) taking JSON, JSON lines or msgpack bodies as Fluent Bit's and Fluentd's http
outputs send them. Each record's `log` (else `message`) field goes to the worker's Ledger; the
ledgers are merged at stop. Worker processes are started with `spawn`, so a Sink can be started
from threads and from programs that already run an event loop. The workers' code is in
worker.py (Forward input) and http.py (HTTP input).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pipeline_tests._errors import InputError, SetupError
from pipeline_tests._ledger.ledger import Ledger
from pipeline_tests._sink.config import SinkConfig, budget
from pipeline_tests._sink.worker import REJECTIONS, STAT_FIELDS, lines_of, run_worker

__all__ = ["STAT_FIELDS", "Sink", "SinkConfig", "SinkStats", "lines_of", "serve_forever"]

log = logging.getLogger("pipeline_tests._sink.sink")

START_TIMEOUT = 60.0
HANDOVER_TIMEOUT = 5.0  # after SIGUSR1: seconds a late worker has to send its ledger as it is


@dataclass(frozen=True)
class SinkStats:
    connections: int
    frames: int
    records: int
    malformed: int  # connections or HTTP requests closed/refused for malformed input
    acks: int
    rejected: int  # connections that failed the shared_key handshake
    rejections: Mapping[str, int] = field(default_factory=dict)  # malformed, by kind
    ledger_complete: bool = True  # False: a worker's ledger is missing or partial (ledger_note)
    ledger_note: str = ""
    # A slow destination's own figures (SinkConfig's latency, caps and refuse_every):
    refusals: int = 0  # connections closed before their acks (refuse_every)
    record_bytes: int = 0  # bytes of the log lines counted; only with a bytes cap, else 0
    throttled_ns: int = 0  # time records waited for the cap (no connection read meanwhile)
    first_ns: int = 0  # monotonic time of the first record counted (0: none), the sink's clock
    last_ns: int = 0  # and of the last one

    @classmethod
    def from_counts(cls, counts: list[int]) -> SinkStats:
        connections, frames, records, malformed, acks, rejected = counts[:6]
        end = 6 + len(REJECTIONS)
        refusals, record_bytes, throttled_ns, first_ns, last_ns = counts[end:]
        return cls(connections, frames, records, malformed, acks, rejected,
                   rejections=dict(zip(REJECTIONS, counts[6:end], strict=True)),
                   refusals=refusals, record_bytes=record_bytes, throttled_ns=throttled_ns,
                   first_ns=first_ns, last_ns=last_ns)


def _check_config(config: SinkConfig) -> None:
    problems = []
    if config.workers < 1:
        problems.append(f"workers must be at least 1 (got {config.workers})")
    if config.ack_delay < 0 or config.read_delay < 0 or config.latency < 0:
        problems.append("ack_delay, read_delay and latency must not be negative")
    if any(cap is not None and not cap > 0
           for cap in (config.max_records_per_s, config.max_bytes_per_s)):
        problems.append("max_records_per_s and max_bytes_per_s must be > 0 (or None: no cap)")
    if config.refuse_every is not None and config.refuse_every < 2:
        problems.append(f"refuse_every must be at least 2 (got {config.refuse_every}): "
                        "refusing every frame would leave a router nothing but retries")
    if config.max_frame_bytes < 1024:
        problems.append(f"max_frame_bytes must be at least 1024 (got {config.max_frame_bytes})")
    if config.max_frame_entries < 1 or config.partial_timeout <= 0 or config.stop_timeout <= 0:
        problems.append("max_frame_entries, partial_timeout and stop_timeout must be positive")
    if budget(config).partial < 2 * config.max_frame_bytes:
        problems.append(f"max_memory {config.max_memory // 2**20} MiB is too small for "
                        f"{config.workers} worker(s) and frames of {config.max_frame_bytes:,} "
                        "bytes (raise max_memory, or lower max_frame_bytes or workers)")
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        problems.append(f"the sink listens on loopback only, not {config.host!r}")
    if problems:
        raise InputError("Invalid sink settings: " + "; ".join(problems) + ".")


def _reserve(host: str, port: int, what: str) -> socket.socket:
    """Hold `port` (bound, not listening) so workers can share it with SO_REUSEPORT."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))  # without SO_REUSEPORT: fails if anyone else listens there
        port = probe.getsockname()[1]
    except OSError as exc:
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"failed: {exc}"
        raise InputError(
            f"The sink's {what} port {host}:{port} {reason}. Stop whatever listens there "
            f"(`ss -ltnp 'sport = :{port}'` shows it) or choose another port (0 picks a free one)."
        ) from None
    finally:
        probe.close()
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    held.bind((host, port))
    return held


def _clear_unix_path(path: str) -> None:
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # a stale socket file left by a killed sink
        return
    finally:
        probe.close()
    raise InputError(f"The sink's unix socket {path} is in use by another process. Stop it, or "
                     "choose another unix_path.")


@contextmanager
def _main_not_rerun() -> Iterator[None]:
    """`spawn` runs the parent's __main__ script again in each worker, so a caller's script
    without an `if __name__ == "__main__":` guard (the README's API example) would start a
    second run in every sink worker. The workers need nothing from __main__: hide it while
    they start."""
    main = sys.modules.get("__main__")
    hidden = {name: main.__dict__.pop(name) for name in ("__file__",)
              if main is not None and name in main.__dict__}
    spec = getattr(main, "__spec__", None)
    if main is not None:
        main.__spec__ = None
    try:
        yield
    finally:
        if main is not None:
            main.__dict__.update(hidden)
            main.__spec__ = spec


class Sink:
    """Running sink workers. Use as a context manager, or call stop() (idempotent)."""

    def __init__(self, config: SinkConfig, port: int, http_port: int | None) -> None:
        self.config = config
        self.port = port
        self.http_port = http_port
        self.unix_path = config.unix_path
        ctx = multiprocessing.get_context("spawn")
        self._counts = ctx.RawArray("q", config.workers * len(STAT_FIELDS))
        self._procs: list[Any] = []
        self._pipes: list[Any] = []
        self._ctx = ctx
        self._result: tuple[Ledger, SinkStats] | None = None

    @classmethod
    def start(cls, config: SinkConfig) -> Sink:
        """Start the workers; return once every one of them listens."""
        _check_config(config)
        held = [_reserve(config.host, config.port, "Forward")]
        if config.http_port is not None:
            held.append(_reserve(config.host, config.http_port, "HTTP"))
        try:
            if config.unix_path:
                _clear_unix_path(config.unix_path)
            http_port = held[1].getsockname()[1] if len(held) > 1 else None
            sink = cls(config, held[0].getsockname()[1], http_port)
            try:
                sink._spawn()
            except BaseException:  # Ctrl-C while starting must not leave workers behind
                sink._kill()
                raise
        finally:
            for sock in held:
                sock.close()
        return sink

    def _spawn(self) -> None:
        for index in range(self.config.workers):
            ours, theirs = self._ctx.Pipe()
            proc = self._ctx.Process(
                target=run_worker, name=f"pipeline-tests-sink-{index}", daemon=True,
                args=(index, self.config, self.port, self.http_port, theirs, self._counts))
            with _main_not_rerun():
                proc.start()
            theirs.close()
            self._procs.append(proc)
            self._pipes.append(ours)
        for index, pipe in enumerate(self._pipes):
            message = pipe.recv() if pipe.poll(START_TIMEOUT) else ("error", "did not start")
            if message[0] != "ready":
                self._kill()
                raise SetupError(f"Sink worker {index} could not start: {message[1]}")

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def live_records(self) -> int:
        """Records received so far by all workers (shared memory: cheap, for progress bars)."""
        width = len(STAT_FIELDS)
        return sum(self._counts[i * width + 2] for i in range(self.config.workers))

    def live_seen(self, timeout: float = 0.5) -> dict[int, bytes]:
        """Each stream's received seqs so far as a bitmap (seq n is bit n % 8 of byte n // 8),
        merged over workers: the live view's loss map. A worker busier than `timeout` is left
        out of this answer."""
        merged: dict[int, int] = {}
        with tempfile.TemporaryDirectory(prefix="pt-seen-") as tmp:
            paths = [os.path.join(tmp, str(index)) for index in range(len(self._pipes))]
            for pipe, path in zip(self._pipes, paths, strict=True):
                pipe.send(("seen", path))
            deadline = time.monotonic() + timeout
            for path in paths:
                while not os.path.exists(path) and time.monotonic() < deadline:
                    time.sleep(0.002)
                with contextlib.suppress(OSError), open(path, "rb") as seen:
                    for stream, bits in pickle.load(seen).items():
                        merged[stream] = merged.get(stream, 0) | int.from_bytes(bits, "little")
        return {s: bits.to_bytes((bits.bit_length() + 7) // 8, "little")
                for s, bits in merged.items()}

    def stats(self) -> SinkStats:
        """Live counters summed over workers."""
        width = len(STAT_FIELDS)
        columns = [[self._counts[w * width + k] for w in range(self.config.workers)]
                   for k in range(width)]
        totals = [sum(column) for column in columns]
        first, last = STAT_FIELDS.index("first_ns"), STAT_FIELDS.index("last_ns")
        totals[first] = min((t for t in columns[first] if t), default=0)
        totals[last] = max(columns[last])
        return SinkStats.from_counts(totals)

    def stop(self) -> tuple[Ledger, SinkStats]:
        """Stop every worker, merge their ledgers. Idempotent. A worker that does not answer
        in stop_timeout is asked (SIGUSR1) for its ledger as it is; the stats say whether the
        merged ledger is complete."""
        if self._result is not None:
            return self._result
        for pipe in self._pipes:
            try:
                pipe.send("stop")
            except OSError:
                continue
        deadline = time.monotonic() + self.config.stop_timeout
        merged, notes = Ledger(self.config.run_id), []
        for index, pipe in enumerate(self._pipes):
            reply = self._reply(index, pipe, deadline)
            if reply is None:
                notes.append(f"sink worker {index} returned no ledger")
                continue
            merged.merge(reply[0])
            if reply[1]:
                notes.append(reply[1])
        for note in notes:
            log.error("%s", note)
        stats = dataclasses.replace(self.stats(), ledger_complete=not notes,
                                    ledger_note="; ".join(notes))
        self._kill()
        self._result = (merged, stats)
        return self._result

    def _reply(self, index: int, pipe: Any, deadline: float) -> tuple[Ledger, str] | None:
        """(ledger, note) from one worker, asking a late one to hand over; None if it cannot."""
        for wait in (max(0.0, deadline - time.monotonic()), HANDOVER_TIMEOUT):
            try:
                if pipe.poll(wait):
                    reply = pipe.recv()
                    return reply if isinstance(reply[0], Ledger) else None
            except (EOFError, OSError):
                return None
            with contextlib.suppress(OSError):
                os.kill(self._procs[index].pid, signal.SIGUSR1)
        return None

    def _kill(self) -> None:
        for proc in self._procs:
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for pipe in self._pipes:
            pipe.close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)


def serve_forever(config: SinkConfig, every: float = 1.0) -> SinkStats:
    """Standalone mode: live counts until Ctrl-C, then a final summary; the final stats."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    # SIGTERM (docker stop, CI) ends the session like Ctrl-C, with the summary printed.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with Sink.start(config) as sink:
        where = [f"forward tcp {config.host}:{sink.port}"]
        if sink.unix_path:
            where.append(f"unix {sink.unix_path}")
        if sink.http_port is not None:
            where.append(f"http {config.host}:{sink.http_port}")
        console.print("sink listening: " + ", ".join(where) + " (Ctrl-C to stop)")
        last, last_t = 0, time.monotonic()
        try:
            with Live(console=console, refresh_per_second=4) as live:
                while True:
                    time.sleep(every)
                    now, records = time.monotonic(), sink.live_records()
                    rate = (records - last) / (now - last_t)
                    last, last_t = records, now
                    s = sink.stats()
                    live.update(f"records {records:,}  ({rate:,.0f}/s)  connections "
                                f"{s.connections:,}  malformed {s.malformed:,}  acks {s.acks:,}")
        except KeyboardInterrupt:
            pass
        ledger, stats = sink.stop()
    console.print(f"run {ledger.run_id or '-'}: {ledger.received_total:,} lines received, "
                  f"{ledger.distinct:,} distinct, {ledger.foreign:,} of other runs, "
                  f"{ledger.unparsable:,} unparsable; {stats.records:,} records in "
                  f"{stats.frames:,} frames over {stats.connections:,} connections, "
                  f"{stats.malformed:,} malformed, {stats.acks:,} acks, "
                  f"{stats.rejected:,} refused handshakes")
    rejected = ", ".join(f"{kind} {n:,}" for kind, n in stats.rejections.items() if n)
    if rejected:
        console.print(f"malformed, by kind: {rejected}")
    if not stats.ledger_complete:
        console.print(f"[red]ledger incomplete[/]: {stats.ledger_note}")
    return stats
