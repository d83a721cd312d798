"""The live view's web server: aiohttp on 127.0.0.1, in a thread of its own with its own loop.

    /             the page (its table works without JavaScript: a meta refresh reloads it)
    /events       server-sent events: the whole state as JSON, PUSH_PERIOD apart while it changes
    /state.json   the same state, once
    /static/...   the page's JavaScript and CSS, shipped inside the package (no CDN)
    /report.html  the run's report, once the run has written it

The run's thread only calls `LiveServer.__call__` (LiveState.apply: a few dict updates). The
server serialises each new state once and writes the same bytes to every viewer; a slow viewer
only delays its own stream (it gets the newest state when it catches up, never a backlog)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from functools import partial
from importlib import resources

from aiohttp import web

from pipeline_tests._errors import InputError
from pipeline_tests._events import Event
from pipeline_tests._live.page import render_page
from pipeline_tests._live.state import LiveState

PUSH_PERIOD = 0.125  # seconds: 8 pushes a second while the run moves
STATIC = ("live.js", "live.css")
_TYPES = {"js": "text/javascript", "css": "text/css"}


class _Hub:
    """The newest serialised state, and a condition its viewers wait on (server loop only)."""

    def __init__(self, state: LiveState) -> None:
        self.state, self.version, self.payload = state, -1, b"{}"
        self.changed = asyncio.Condition()
        self.closing = False
        self.pushes = 0

    async def publish_forever(self) -> None:
        while not self.closing:
            if self.state.version != self.version:
                version, snapshot = self.state.snapshot()
                self.payload = json.dumps(snapshot, separators=(",", ":")).encode()
                self.version, self.pushes = version, self.pushes + 1
                async with self.changed:
                    self.changed.notify_all()
            await asyncio.sleep(PUSH_PERIOD)

    async def close(self) -> None:
        self.closing = True
        async with self.changed:
            self.changed.notify_all()


class LiveServer:
    """Start with `start()` (returns the URL), call with each event, `stop()` at the end."""

    def __init__(self, state: LiveState, port: int = 0) -> None:
        self.state, self.port, self.url = state, port, ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pipeline-tests-live",
                                        daemon=True)
        self._hub: _Hub | None = None
        self._runner: web.AppRunner | None = None
        self._publisher: asyncio.Task[None] | None = None

    def __call__(self, event: Event) -> None:
        self.state.apply(event)

    @property
    def pushes(self) -> int:
        return self._hub.pushes if self._hub else 0

    def start(self) -> str:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        except OSError as err:
            self.stop()
            raise InputError(f"The live view cannot listen on 127.0.0.1:{self.port} ({err}). "
                             "Choose another --port (0 picks a free one).") from None
        return self.url

    async def _start(self) -> None:
        self._hub = _Hub(self.state)
        app = web.Application()
        app.add_routes([web.get("/", self._page), web.get("/events", self._events),
                        web.get("/state.json", self._json), web.get("/report.html", self._report),
                        web.get("/static/{name}", self._static),
                        web.get("/favicon.ico", _no_icon)])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = getattr(site, "_server", None)
        self.port = server.sockets[0].getsockname()[1] if server else self.port
        self.url = f"http://127.0.0.1:{self.port}/"
        self._publisher = asyncio.get_running_loop().create_task(self._hub.publish_forever())

    def stop(self) -> None:
        """Close every viewer's stream and the listener; idempotent."""
        if self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._stop(), self._loop)
            future.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    async def _stop(self) -> None:
        if self._hub is not None:
            await self._hub.close()
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        if self._runner is not None:
            await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        _, snapshot = self.state.snapshot()
        return web.Response(text=render_page(snapshot), content_type="text/html")

    async def _json(self, request: web.Request) -> web.Response:
        _, snapshot = self.state.snapshot()
        return web.json_response(snapshot)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        hub = self._hub
        assert hub is not None
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        sent = -2
        try:
            while not hub.closing:
                if hub.version != sent:
                    sent = hub.version
                    await response.write(b"data: " + hub.payload + b"\n\n")
                async with hub.changed:
                    await hub.changed.wait_for(partial(_moved, hub, sent))
        except ConnectionResetError:  # the viewer closed its tab
            pass
        return response

    async def _report(self, request: web.Request) -> web.StreamResponse:
        path = self.state.run_dir / "report.html" if self.state.run_dir else None
        if path is None or not path.is_file():
            return web.Response(status=404, text="report.html is written when the run ends.")
        return web.FileResponse(path)

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        text = resources.files("pipeline_tests._live").joinpath("static").joinpath(name).read_text()
        return web.Response(text=text, content_type=_TYPES[name.rsplit(".", 1)[1]])


def _moved(hub: _Hub, sent: int) -> bool:
    return hub.version != sent or hub.closing


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)
