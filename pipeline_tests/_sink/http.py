"""The sink's HTTP input: JSON, JSON lines or msgpack bodies, as Fluent Bit's and Fluentd's http
outputs send them, into the worker's Ledger. Runs inside a sink worker (worker.py)."""

from __future__ import annotations

import json
import socket
from typing import Any, Protocol

from pipeline_tests._container.forward import Decoder, FrameError
from pipeline_tests._sink.config import SinkConfig


class Worker(Protocol):
    """What the HTTP input needs of the sink worker it runs in (worker.py)."""

    config: SinkConfig

    def malformed(self, peer: str, why: str) -> None: ...

    def take(self, records: list[Any], frames: int) -> Any: ...


def http_records(body: bytes, content_type: str, max_frame_bytes: int) -> list:
    """Records of an HTTP body: msgpack stream, JSON array/object, or JSON lines."""
    if "msgpack" in content_type:
        decoder = Decoder(max(max_frame_bytes, len(body) + 1), raw=True)
        objects = decoder.objects(body)
        decoder.finish()
    else:
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
    from aiohttp import web

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            records = http_records(body, request.content_type, worker.config.max_frame_bytes)
        except (ValueError, FrameError) as exc:
            worker.malformed(str(request.remote), f"HTTP body: {exc}")
            return web.Response(status=400, text=f"malformed body: {exc}\n")
        worker.take(records, 1)
        return web.Response(status=200)

    app = web.Application(client_max_size=worker.config.max_frame_bytes)
    app.router.add_route("POST", "/{tail:.*}", receive)
    app.router.add_route("PUT", "/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner
