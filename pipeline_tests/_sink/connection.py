"""One Forward connection of a sink worker: decode, count, acknowledge, within the worker's memory
budget. Reading pauses while its acks are not read (write backpressure), while a big frame is
decoded in steps, during read_delay, for `latency` per frame read (its acks wait as long) and while
the worker's throughput cap holds records. See worker.py for the worker it belongs to."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from pipeline_tests._container.forward import Decoder, FrameError, ServerHandshake, ack_reply
from pipeline_tests._sink.config import WRITE_HIGH, Budget, SinkConfig

log = logging.getLogger("pipeline_tests._sink.sink")

STEP_RECORDS = 20_000  # records decoded before other connections get their turn


class Owner(Protocol):
    """What a connection needs of its worker (worker.py)."""

    config: SinkConfig
    budget: Budget
    connections: set[ForwardConnection]
    held: int
    last_read: float

    @property
    def holding(self) -> bool: ...

    def take(self, records: list, frames: int,
             done: Callable[[], None] | None = None) -> None: ...
    def refusing(self, frames: int) -> bool: ...
    def reject(self, peer: str, kind: str, problem: object) -> None: ...
    def acked(self, count: int) -> None: ...
    def refused(self, peer: str) -> None: ...


class ForwardConnection(asyncio.Protocol):
    """One Forward connection: a frame is counted and acknowledged whole, or not at all."""

    def __init__(self, worker: Owner) -> None:
        self.worker = worker
        config = worker.config
        self.decoder = Decoder(config.max_frame_bytes, raw=True,
                               max_entries=config.max_frame_entries,
                               max_objects=worker.budget.frame_objects, step=STEP_RECORDS)
        self.handshake = (ServerHandshake(config.shared_key, config.hostname)
                          if config.shared_key else None)
        self.transport: Any = None
        self.peer = ""
        self.held = 0  # this connection's part of worker.held
        self.partial_since: float | None = None  # loop time its incomplete frame began
        self._paused: set[str] = set()
        self._delayed = 0  # bytes of acks held back by ack_delay and latency
        self._acks_after = 0.0  # loop time before which no ack is sent (latency)
        self._deferred: list[bytes] | None = None  # acks of the read being decoded (latency)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.peer = str(transport.get_extra_info("peername") or "unix socket")
        worker = self.worker
        if len(worker.connections) >= worker.budget.connections:
            worker.reject(self.peer, "connections", f"more than {worker.budget.connections} "
                          "connections at once (max_memory bounds them)")
            transport.abort()
            return
        worker.connections.add(self)
        transport.set_write_buffer_limits(high=WRITE_HIGH)
        if worker.holding:
            self.hold(True)
        if self.handshake:
            transport.write(self.handshake.helo())

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.connections.discard(self)
        self._hold(0)

    def pause_writing(self) -> None:  # acks not read: read no more from this client
        self._pause("write")

    def resume_writing(self) -> None:
        self._resume("write")

    def _pause(self, why: str) -> None:
        if not self._paused and not self.transport.is_closing():
            self.transport.pause_reading()
        self._paused.add(why)

    def _resume(self, why: str) -> None:
        self._paused.discard(why)
        if not self._paused and not self.transport.is_closing():
            self.transport.resume_reading()

    def hold(self, on: bool) -> None:
        """The worker's throughput cap holds records (on) or let the last through (off)."""
        if on:
            self._pause("cap")
            return
        self._resume("cap")
        if self.decoder.more and "step" in self._paused:
            asyncio.get_running_loop().call_soon(self._step)

    def data_received(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.worker.last_read = loop.time()
        if self.handshake:
            if not self._shake(data):
                return
            data = b""  # already fed; whatever followed the PING is still buffered
        self._decode_timed(data)
        self.worker.last_read = loop.time()  # decoding a big read counts as reading
        if self.worker.config.read_delay and not self.transport.is_closing():
            self._pause("delay")
            loop.call_later(self.worker.config.read_delay, self._resume, "delay")

    def _decode_timed(self, data: bytes) -> None:
        """Decode; with `latency`, each frame completed takes that long: the connection reads
        nothing more meanwhile and the frames' acks are sent once it is over."""
        latency = self.worker.config.latency
        if not latency:
            self._decode(data)
            return
        frames, self._deferred = self.decoder.frames, []
        self._decode(data)
        done, deferred, self._deferred = self.decoder.frames - frames, self._deferred, None
        if done and not self.transport.is_closing():
            loop = asyncio.get_running_loop()
            self._acks_after = loop.time() + done * latency
            self._pause("latency")
            loop.call_later(done * latency, self._resume, "latency")
        for replies in deferred:
            self._send_ack(replies)

    def _decode(self, data: bytes) -> None:
        worker, decoder = self.worker, self.decoder
        records: list = []
        chunks: list = []
        frames = decoder.frames
        try:
            decoder.records(data, records, chunks)
        except FrameError as exc:
            # Complete frames before the bad one were really sent: count and acknowledge them.
            self._count(records, decoder.frames - frames, chunks)
            self.close(exc.kind, exc)
            return
        self._count(records, decoder.frames - frames, chunks)
        self._hold(decoder.held)
        if decoder.more:
            self._pause("step")
            asyncio.get_running_loop().call_soon(self._step)
        elif worker.held > worker.budget.partial and self.held:
            self.close("budget", f"incomplete frames of all connections take more than "
                       f"{worker.budget.partial:,} bytes (max_memory bounds them)")

    def _step(self) -> None:
        self.worker.last_read = asyncio.get_running_loop().time()  # busy counts as reading
        if "cap" in self._paused:
            return  # hold(False) steps on
        if not self.transport.is_closing():
            self._decode_timed(b"")
            if not self.decoder.more:
                self._resume("step")
        self.worker.last_read = asyncio.get_running_loop().time()

    def _count(self, records: list, frames: int, chunks: list) -> None:
        refuse = self.worker.refusing(frames)
        if records or frames:
            done = functools.partial(self._ack, chunks) if chunks and not refuse else None
            self.worker.take(records, frames, done)
        if refuse:  # counted, then hung up on before any of this read's acks
            self._hold(0)
            self.transport.close()

    def _hold(self, held: int) -> None:
        self.worker.held += held - self.held
        self.held = held
        if not held:
            self.partial_since = None
        elif self.partial_since is None:
            self.partial_since = asyncio.get_running_loop().time()

    def close(self, kind: str, problem: object) -> None:
        self.worker.reject(self.peer, kind, problem)
        self._hold(0)
        self.transport.close()  # acks already written are still sent

    def _shake(self, data: bytes) -> bool:
        """Handle the PING; True once the client is accepted and `data` may hold more."""
        try:
            found, ping = self.decoder.first(data)
        except FrameError as exc:
            self.close(exc.kind, exc)
            return False
        if not found:
            return False
        pong, accepted = self.handshake.answer(ping)  # type: ignore[union-attr]
        self.transport.write(pong)
        if not accepted:
            self.worker.refused(self.peer)
            self.transport.close()
            return False
        self.handshake = None
        return True

    def _ack(self, chunks: list) -> None:
        if self.transport.is_closing():
            return
        replies = b"".join([ack_reply(chunk) for chunk in chunks])
        self.worker.acked(len(chunks))
        if self._deferred is not None:
            self._deferred.append(replies)  # sent once the read's latency is known
        else:
            self._send_ack(replies)

    def _send_ack(self, replies: bytes) -> None:
        loop = asyncio.get_running_loop()
        delay = self.worker.config.ack_delay + max(0.0, self._acks_after - loop.time())
        if delay > 0:
            self._delayed += len(replies)  # held back, they count as unread acks
            if self._delayed > WRITE_HIGH:
                self._pause("delayed")
            loop.call_later(delay, self._write, replies)
        else:
            self.transport.write(replies)

    def _write(self, data: bytes) -> None:
        self._delayed -= len(data)
        if not self.transport.is_closing():
            self.transport.write(data)
            if self._delayed <= WRITE_HIGH:
                self._resume("delayed")

    def eof_received(self) -> bool:
        try:
            self.decoder.finish()
        except FrameError as exc:
            self.worker.reject(self.peer, exc.kind, exc)
        return False
