"""A sink worker process: Forward input over TCP and a unix socket into the worker's Ledger,
counters in shared memory, the ledger sent back over a pipe at stop. See sink.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import time
from typing import Any

from pipeline_tests._container.forward import Decoder, FrameError, ServerHandshake, ack_reply
from pipeline_tests._ledger.ledger import Ledger
from pipeline_tests._sink.config import SinkConfig
from pipeline_tests._sink.http import start_http

log = logging.getLogger("pipeline_tests._sink.sink")

DRAIN_QUIET = 0.05  # at stop: seconds without a read before connections are closed
DRAIN_LIMIT = 2.0
# Per-worker slots in the shared counter array, in SinkStats field order.
STAT_FIELDS = ("connections", "frames", "records", "malformed", "acks", "rejected")
_CONNECTIONS, _FRAMES, _RECORDS, _MALFORMED, _ACKS, _REJECTED = range(len(STAT_FIELDS))


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
    """One process's state: its ledger and its slots in the shared counters."""

    def __init__(self, index: int, config: SinkConfig, counts: Any) -> None:
        self.config = config
        self.ledger = Ledger(config.run_id)
        self.counts = counts
        self.base = index * len(STAT_FIELDS)
        self.protocols: set[_ForwardProtocol] = set()
        self.last_read = 0.0  # loop time of the latest read

    def bump(self, slot: int, n: int = 1) -> None:
        self.counts[self.base + slot] += n

    def take(self, records: list, frames: int) -> None:
        lines = lines_of(records)
        self.ledger.add_many(lines, time.time_ns())
        counts, base = self.counts, self.base
        counts[base + _RECORDS] += len(lines)
        counts[base + _FRAMES] += frames

    def malformed(self, peer: str, problem: object) -> None:
        self.bump(_MALFORMED)
        log.warning("sink: closing connection from %s: %s", peer or "?", problem)

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


class _ForwardProtocol(asyncio.Protocol):
    """One Forward connection: decode, count, acknowledge; never close after a good read."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        config = worker.config
        self.decoder = Decoder(config.max_frame_bytes, raw=True)
        self.handshake = (ServerHandshake(config.shared_key, config.hostname)
                          if config.shared_key else None)
        self.transport: Any = None
        self.peer = ""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.peer = str(transport.get_extra_info("peername") or "unix socket")
        self.worker.protocols.add(self)
        self.worker.bump(_CONNECTIONS)
        if self.handshake:
            transport.write(self.handshake.helo())

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.protocols.discard(self)

    def data_received(self, data: bytes) -> None:
        worker = self.worker
        worker.last_read = asyncio.get_running_loop().time()
        records: list = []
        try:
            if self.handshake:
                if not self._shake(data):
                    return
                data = b""  # already fed; whatever followed the PING is still buffered
            frames = self.decoder.frames
            chunks = self.decoder.records(data, records)
        except FrameError as exc:
            # Complete messages before the bad one were really sent: count them.
            worker.take(records, 0)
            worker.malformed(self.peer, exc)
            self.transport.close()
            return
        worker.take(records, self.decoder.frames - frames)
        if chunks:
            self._ack(chunks)
        if worker.config.read_delay:
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(worker.config.read_delay, self._resume)

    def _shake(self, data: bytes) -> bool:
        """Handle the PING; True once the client is accepted and `data` may hold more."""
        found, ping = self.decoder.first(data)
        if not found:
            return False
        pong, accepted = self.handshake.answer(ping)  # type: ignore[union-attr]
        self.transport.write(pong)
        if not accepted:
            self.worker.bump(_REJECTED)
            log.warning("sink: refused handshake from %s", self.peer)
            self.transport.close()
            return False
        self.handshake = None
        return True

    def _ack(self, chunks: list) -> None:
        replies = b"".join(ack_reply(chunk) for chunk in chunks)
        self.worker.bump(_ACKS, len(chunks))
        if self.worker.config.ack_delay:
            loop = asyncio.get_running_loop()
            loop.call_later(self.worker.config.ack_delay, self._write, replies)
        else:
            self.transport.write(replies)

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def _resume(self) -> None:
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        try:
            self.decoder.finish()
        except FrameError as exc:
            self.worker.malformed(self.peer, exc)
        return False


def _listening(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _serve(worker: Worker, index: int, port: int, http_port: int | None,
                 pipe: Any) -> None:
    loop = asyncio.get_running_loop()
    config = worker.config
    factory = lambda: _ForwardProtocol(worker)  # noqa: E731
    servers = [await loop.create_server(factory, sock=_listening(config.host, port))]
    if config.unix_path and index == 0:
        servers.append(await loop.create_unix_server(factory, config.unix_path))
    runner = (await start_http(worker, _listening(config.host, http_port))
              if http_port is not None else None)
    stop = asyncio.Event()
    loop.add_reader(pipe.fileno(), worker.on_pipe, pipe, stop)
    pipe.send(("ready", ""))
    await stop.wait()
    loop.remove_reader(pipe.fileno())
    for server in servers:
        server.close()
    # Bytes already in the kernel's buffers are still read: wait for a quiet moment.
    deadline = loop.time() + DRAIN_LIMIT
    while loop.time() < deadline and loop.time() - worker.last_read < DRAIN_QUIET:
        await asyncio.sleep(DRAIN_QUIET / 2)
    for protocol in list(worker.protocols):
        protocol.transport.close()
    if runner is not None:
        await runner.cleanup()


def run_worker(index: int, config: SinkConfig, port: int, http_port: int | None, pipe: Any,
                counts: Any) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    worker = Worker(index, config, counts)
    try:
        asyncio.run(_serve(worker, index, port, http_port, pipe))
        # The pipe also reports the parent's death (EOF wakes the stop reader): then no one
        # is left to send the ledger to.
        pipe.send(worker.ledger)
    except (BrokenPipeError, EOFError):
        pass
    except Exception as exc:
        with contextlib.suppress(OSError):
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))
