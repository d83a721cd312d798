"""The sink's HTTP input: JSON, JSON lines or msgpack bodies, as Fluent Bit's and Fluentd's http
outputs send them, into the worker's Ledger. Runs inside a sink worker (worker.py)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any, Protocol

from pipeline_tests._container.forward import Decoder, FrameError
from pipeline_tests._sink.config import Budget, SinkConfig


class Worker(Protocol):
    """What the HTTP input needs of the sink worker it runs in (worker.py)."""

    config: SinkConfig
    budget: Budget

    def malformed(self, peer: str, why: str) -> None: ...

    def take(self, records: list[Any], frames: int,
             done: Callable[[], None] | None = None) -> Any: ...

    def refusing(self, frames: int) -> bool: ...


# JSON is parsed whole: a body may take at most this many objects' worth of containers ({ and [).
def _check_json_size(body: bytes, max_objects: int) -> None:
    containers = body.count(b"{") + body.count(b"[")
    if containers > max_objects:
        raise ValueError(f"{containers:,} JSON objects and arrays in one body, more than "
                         f"{max_objects:,}")


def http_records(body: bytes, content_type: str, max_frame_bytes: int,
                 max_objects: int | None = None, max_entries: int | None = None) -> list:
    """Records of an HTTP body: msgpack stream, JSON array/object, or JSON lines."""
    if "msgpack" in content_type:
        decoder = Decoder(max(max_frame_bytes, len(body) + 1), raw=True,
                          max_entries=max_entries, max_objects=max_objects)
        objects = decoder.objects(body)
        decoder.finish()
    else:
        if max_objects is not None:
            _check_json_size(body, max_objects)
        try:
            doc = json.loads(body)
            objects = doc if isinstance(doc, list) else [doc]
        except ValueError:
            objects = [json.loads(line) for line in body.splitlines() if line.strip()]
    records = []
    for obj in objects:
        if isinstance(obj, list) and len(obj) == 2:
            obj = obj[1]  # [time, record] as Fluent Bit's msgpack format sends it
        if not isinstance(obj, dict):
            raise ValueError(f"expected records (maps), got {type(obj).__name__}")
        records.append(obj)
    return records


async def start_http(worker: Worker, sock: socket.socket) -> Any:
    from aiohttp import ClientPayloadError, web

    async def receive(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except (ConnectionError, ClientPayloadError) as exc:  # the client hung up mid-body
            worker.malformed(str(request.remote), f"HTTP body cut short: {exc or type(exc)}")
            return web.Response(status=400, text="malformed body: cut short\n")
        config = worker.config
        try:
            records = http_records(body, request.content_type, config.max_frame_bytes,
                                   worker.budget.frame_objects // 2, config.max_frame_entries)
        except (ValueError, FrameError, RecursionError) as exc:
            reason = ("JSON nested too deeply" if isinstance(exc, RecursionError)
                      else " ".join(str(exc).split())[:300])
            worker.malformed(str(request.remote), f"HTTP body: {reason}")
            return web.Response(status=400, text=f"malformed body: {reason}\n")
        refuse = worker.refusing(1)
        counted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done() -> None:
            if not counted.done():
                counted.set_result(None)

        worker.take(records, 1, done)
        await counted  # under a throughput cap, once its tokens are there
        if config.latency:
            await asyncio.sleep(config.latency)
        if refuse:  # counted, but the client is told to send it again (sink.refuse_every)
            return web.Response(status=503, text="refused: sink.refuse_every\n")
        return web.Response(status=200)

    app = web.Application(client_max_size=worker.config.max_frame_bytes)
    app.router.add_route("POST", "/{tail:.*}", receive)
    app.router.add_route("PUT", "/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner
