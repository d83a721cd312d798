"""The CLI's side of the live view: start and stop the server around a run, hand the run's
events to several consumers, keep the final page up until Ctrl-C, and the sink's own mode."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from pipeline_tests._events import (
    Event,
    OnEvent,
    RunStarted,
    SinkSeen,
    TrialProgress,
    TrialStarted,
)
from pipeline_tests._ledger.lost_ranges import MAP_CELLS, received_ranges
from pipeline_tests._live.state import LiveState


def fan_out(*consumers: OnEvent | None) -> OnEvent:
    """One on_event callable that hands each event to every consumer, in order."""
    chosen = [c for c in consumers if c is not None]

    def each(event: Event) -> None:
        for consumer in chosen:
            consumer(event)

    return each


@contextmanager
def live_view(enabled: bool, port: int, say: Callable[[str], None],
              title: str = "pipeline-tests run", hops: tuple[str, ...] | None = None,
              ) -> Iterator[Any]:
    """The running LiveServer (or None when not enabled); stopped on the way out, Ctrl-C too."""
    if not enabled:
        yield None
        return
    from pipeline_tests._live.server import LiveServer

    state = LiveState(title, hops) if hops else LiveState(title)
    server = LiveServer(state, port)
    say(f"live view: {server.start()}")
    try:
        yield server
    finally:
        server.stop()


def linger(say: Callable[[str], None], autoquit: float | None = None) -> None:
    """Keep serving the final page until Ctrl-C (or SIGTERM), or for `autoquit` seconds."""
    say("live view: the run has ended; the final page stays up "
        + (f"for {autoquit:g} s (--autoquit) or until Ctrl-C" if autoquit is not None
           else "until Ctrl-C"))
    # A shell's background job starts with SIGINT ignored: Ctrl-C (kill -INT) must end it too.
    previous = {sig: signal.signal(sig, signal.default_int_handler)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    until = time.monotonic() + autoquit if autoquit is not None else None
    try:
        while until is None or time.monotonic() < until:
            time.sleep(3600 if until is None else min(1.0, max(0.0, until - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def watch_sink(sink: Any, emit: OnEvent, every: float = 0.2) -> None:
    """`pipeline-tests sink --live`: the sink's counts and loss map as events until Ctrl-C.
    The sink cannot know what was emitted, so each stream's map runs to its highest seq seen."""
    emit(RunStarted("sink", Path("."), 1, 1, ("sink",), hops=("sink",)))
    emit(TrialStarted("sink", 1, 1, 1, 0.0))
    started = time.monotonic()
    while True:
        time.sleep(every)
        elapsed = time.monotonic() - started
        emit(TrialProgress("sink", 1, "receiving", elapsed, 0, sink.live_records()))
        bitmaps = sink.live_seen()
        highest = {s: _highest(bits) for s, bits in bitmaps.items()}
        streams = max(highest, default=-1) + 1
        emitted = tuple(highest.get(s, -1) + 1 for s in range(streams))
        resolution = max(1, max(emitted, default=0) // MAP_CELLS)
        received = tuple((s, a, b) for s in range(streams)
                         for a, b in received_ranges(bitmaps.get(s, b""), emitted[s], resolution))
        emit(SinkSeen("sink", 1, elapsed, emitted, received, resolution))


def _highest(bits: bytes) -> int:
    stripped = bits.rstrip(b"\0")
    return -1 if not stripped else (len(stripped) - 1) * 8 + stripped[-1].bit_length() - 1


def serve_sink_live(config: Any, port: int, say: Callable[[str], None]) -> None:
    """`pipeline-tests sink --live`: the sink alone, its page on 127.0.0.1, until Ctrl-C."""
    from pipeline_tests._sink import Sink

    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with Sink.start(config) as sink, live_view(True, port, say, "pipeline-tests sink",
                                                    ("sink",)) as view:
            say(f"sink listening: forward tcp {config.host}:{sink.port} (Ctrl-C to stop)")
            with suppress(KeyboardInterrupt):
                watch_sink(sink, view)
            ledger, _ = sink.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    say(f"run {ledger.run_id or '-'}: {ledger.received_total:,} lines received, "
        f"{ledger.distinct:,} distinct")
