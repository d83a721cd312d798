"""A sink worker process: Forward input over TCP and a unix socket (connection.py) into the worker's
Ledger, counters in shared memory, the ledger sent back over a pipe at stop. See sink.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pipeline_tests._container.forward import KINDS
from pipeline_tests._ledger.ledger import Ledger
from pipeline_tests._sink.config import SinkConfig, budget
from pipeline_tests._sink.connection import ForwardConnection
from pipeline_tests._sink.http import start_http
from pipeline_tests._sink.throttle import Throttle

log = logging.getLogger("pipeline_tests._sink.sink")

DRAIN_QUIET = 0.05  # at stop: seconds without a read before connections are closed
DRAIN_LIMIT = 2.0
# Rejections by kind: the decoder's, then the worker's own (too many connections, the budget for
# incomplete frames, their timeout) and malformed HTTP requests.
REJECTIONS = (*KINDS, "connections", "budget", "timeout", "http")
# A slow destination's own figures: connections closed by refuse_every, bytes of the lines
# counted (with a bytes cap), time records waited for the cap, and the monotonic times of the
# first and last record counted (the sink's clock; 0: none yet).
PACE_FIELDS = ("refusals", "record_bytes", "throttled_ns", "first_ns", "last_ns")
# Per-worker slots in the shared counter array, in SinkStats field order.
STAT_FIELDS = ("connections", "frames", "records", "malformed", "acks", "rejected",
               *(f"rejected_{kind}" for kind in REJECTIONS), *PACE_FIELDS)
_CONNECTIONS, _FRAMES, _RECORDS, _MALFORMED, _ACKS, _REJECTED = range(6)
_REFUSALS, _BYTES, _THROTTLED, _FIRST, _LAST = (STAT_FIELDS.index(f) for f in PACE_FIELDS)

Done = Callable[[], None]  # called once a frame's records are all counted (e.g. send its ack)


class Handover(SystemExit):
    """Raised by SIGUSR1 in a worker that did not stop in time: send the ledger as it is."""


class _Waiting:
    """A read's records waiting for the cap: counted from `start` on, `done` once all are."""

    __slots__ = ("done", "frames", "lines", "start")

    def __init__(self, lines: list, frames: int, done: Done | None) -> None:
        self.lines, self.frames, self.done, self.start = lines, frames, done, 0


def _line_of(record: dict) -> bytes | str:
    """The log line of a record with any key type; "" (counted unparsable) when it has none."""
    for key in (b"log", "log", b"message", "message"):
        value = record.get(key)
        if value is not None:
            return value if value.__class__ in (bytes, str) else ""
    return ""


def lines_of(records: list[dict]) -> list[bytes | str]:
    """Each record's `log` (else `message`) field as the ledger takes it: bytes or str."""
    try:
        lines = [record[b"log"] for record in records]  # the common case, as a raw decoder gives
    except KeyError:
        return [_line_of(record) for record in records]
    for line in lines:
        if line.__class__ is not bytes:
            return [_line_of(record) for record in records]
    return lines


class Worker:
    """One process's state: its ledger, its connections and its slots in the shared counters."""

    def __init__(self, index: int, config: SinkConfig, counts: Any) -> None:
        self.config = config
        self.budget = budget(config)
        self.ledger = Ledger(config.run_id)
        self.counts = counts
        self.base = index * len(STAT_FIELDS)
        self.connections: set[ForwardConnection] = set()
        self.held = 0  # bytes the connections hold for incomplete frames (estimated)
        self.last_read = 0.0  # loop time of the latest read
        share = max(1, config.workers)  # the caps hold for all workers together
        self.throttle = (Throttle(config.max_records_per_s and config.max_records_per_s / share,
                                  config.max_bytes_per_s and config.max_bytes_per_s / share)
                         if config.max_records_per_s or config.max_bytes_per_s else None)
        self.waiting: deque[_Waiting] = deque()  # records not counted yet: the cap holds them
        self._held_since = 0.0  # loop time the cap began holding records
        self._admitting: Any = None  # the timer of the next admission
        self.frames_seen = 0  # frames read, for refuse_every

    def bump(self, slot: int, n: int = 1) -> None:
        self.counts[self.base + slot] += n

    def take(self, records: list, frames: int, done: Done | None = None) -> None:
        """Count a read's records (frames: the frames they complete), then call `done`; under
        a cap, once its tokens are there (until then no connection is read)."""
        lines = lines_of(records)
        if self.throttle is None:
            self._count(lines, frames, time.monotonic_ns())
            if done is not None:
                done()
            return
        self.waiting.append(_Waiting(lines, frames, done))
        if len(self.waiting) == 1:
            self.admit()

    def _count(self, lines: list, frames: int, now_ns: int) -> None:
        self.ledger.add_many(lines, time.time_ns())
        counts, base = self.counts, self.base
        counts[base + _RECORDS] += len(lines)
        counts[base + _FRAMES] += frames
        if lines:
            if not counts[base + _FIRST]:
                counts[base + _FIRST] = now_ns
            counts[base + _LAST] = now_ns

    def admit(self) -> None:
        """Count the waiting records the cap allows now; hold the connections while any wait."""
        throttle, loop = self.throttle, asyncio.get_running_loop()
        assert throttle is not None
        self._admitting = None
        now = loop.time()
        while self.waiting:
            entry = self.waiting[0]
            count = throttle.admit(entry.lines, entry.start, now)
            if count:
                lines = entry.lines[entry.start:entry.start + count]
                self.bump(_BYTES, sum(map(len, lines)))
                self._count(lines, 0, round(now * 1e9))
                entry.start += count
            if entry.start < len(entry.lines):
                break
            self.waiting.popleft()
            self.bump(_FRAMES, entry.frames)
            if entry.done is not None:
                entry.done()
        if self.waiting:
            if not self._held_since:
                self._held_since = now
                self._hold(True)
            waiting = self.waiting[0]
            self._admitting = loop.call_later(throttle.wait(waiting.lines[waiting.start]),
                                              self.admit)
        elif self._held_since:
            self.bump(_THROTTLED, round((now - self._held_since) * 1e9))
            self._held_since = 0.0
            self._hold(False)

    def _hold(self, on: bool) -> None:
        for conn in list(self.connections):
            conn.hold(on)

    @property
    def holding(self) -> bool:
        return bool(self.waiting)

    def stop_admitting(self) -> None:
        """At stop: what still waits is not counted (nor acknowledged); its wait is."""
        if self._admitting is not None:
            self._admitting.cancel()
        if self._held_since:
            now = asyncio.get_running_loop().time()
            self.bump(_THROTTLED, round((now - self._held_since) * 1e9))
            self._held_since = 0.0

    def refusing(self, frames: int) -> bool:
        """True when this read's frames include a refuse_every-th one: its connection is closed
        before the acks (its records are counted, so an at-least-once router sends them twice)."""
        every = self.config.refuse_every
        if not every or not frames:
            return False
        before, self.frames_seen = self.frames_seen, self.frames_seen + frames
        if self.frames_seen // every == before // every:
            return False
        self.bump(_REFUSALS)
        return True

    def acked(self, count: int) -> None:
        self.bump(_ACKS, count)

    def reject(self, peer: str, kind: str, problem: object) -> None:
        """A connection or request refused for bad input: counted as malformed, and by kind."""
        self.bump(_MALFORMED)
        self.bump(6 + REJECTIONS.index(kind if kind in REJECTIONS else "malformed"))
        log.warning("sink: closing connection from %s: %s", peer or "?", problem)

    def malformed(self, peer: str, why: str) -> None:  # the HTTP input's
        self.reject(peer, "http", why)

    def refused(self, peer: str) -> None:
        self.bump(_REJECTED)
        log.warning("sink: refused handshake from %s", peer)

    def connected(self) -> None:
        self.bump(_CONNECTIONS)

    def on_pipe(self, pipe: Any, stop: asyncio.Event) -> None:
        """The parent's message: ("seen", path) asks for each stream's bitmap of received seqs
        in a file (Sink.live_seen); anything else, or the pipe closing, means stop."""
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            message = "stop"
        if not (isinstance(message, tuple) and message[0] == "seen"):
            stop.set()
            return
        seen = {n: bytes(s.bits[:(s.high >> 3) + 1]) for n, s in self.ledger.streams.items()}
        with contextlib.suppress(OSError):  # the parent stopped waiting and removed the dir
            with open(message[1] + ".tmp", "wb") as out:
                pickle.dump(seen, out)
            os.replace(message[1] + ".tmp", message[1])

    def expire(self) -> None:
        """Close connections that held an incomplete frame longer than partial_timeout."""
        now = asyncio.get_running_loop().time()
        for conn in list(self.connections):
            since = conn.partial_since
            if since is not None and now - since > self.config.partial_timeout:
                conn.close("timeout", f"a frame still incomplete after "
                           f"{self.config.partial_timeout:g} s")


def _listening(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _expire_every(worker: Worker) -> None:
    while True:
        await asyncio.sleep(min(1.0, worker.config.partial_timeout / 4))
        worker.expire()


async def _drain(worker: Worker, limit: float) -> None:
    """At stop: read what the kernel still holds, finish frames being decoded in steps."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline and (loop.time() - worker.last_read < DRAIN_QUIET or any(
            conn.decoder.more for conn in worker.connections) or worker.holding):
        await asyncio.sleep(DRAIN_QUIET / 2)
    if worker.throttle is not None:
        worker.stop_admitting()


async def _serve(worker: Worker, index: int, port: int, http_port: int | None,
                 pipe: Any) -> None:
    loop = asyncio.get_running_loop()
    config = worker.config

    def factory() -> ForwardConnection:
        worker.connected()
        return ForwardConnection(worker)

    servers = [await loop.create_server(factory, sock=_listening(config.host, port))]
    if config.unix_path and index == 0:
        servers.append(await loop.create_unix_server(factory, config.unix_path))
    runner = (await start_http(worker, _listening(config.host, http_port))
              if http_port is not None else None)
    expiry = asyncio.ensure_future(_expire_every(worker))
    stop = asyncio.Event()
    loop.add_reader(pipe.fileno(), worker.on_pipe, pipe, stop)
    pipe.send(("ready", ""))
    await stop.wait()
    loop.remove_reader(pipe.fileno())
    for server in servers:
        server.close()
    await _drain(worker, max(DRAIN_LIMIT, config.stop_timeout / 2))
    expiry.cancel()
    for conn in list(worker.connections):
        conn.transport.close()
    if runner is not None:
        await runner.cleanup()


def _handover(signum: int, frame: Any) -> None:
    raise Handover()


def run_worker(index: int, config: SinkConfig, port: int, http_port: int | None, pipe: Any,
               counts: Any) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, _handover)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    worker = Worker(index, config, counts)
    note = ""
    try:
        asyncio.run(_serve(worker, index, port, http_port, pipe))
    except Handover:
        note = (f"sink worker {index} was still busy {config.stop_timeout:g} s after the stop; "
                "it handed over what it had counted")
    except Exception as exc:
        note = f"sink worker {index} failed ({type(exc).__name__}: {exc}); its ledger is partial"
    # The pipe also reports the parent's death (EOF wakes the stop reader): then no one
    # is left to send the ledger to.
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    with contextlib.suppress(BrokenPipeError, EOFError, OSError):
        pipe.send((worker.ledger, note))
