"""What a running trial reports for the live view and the progress bars: the hop counts
(app, router in/out, aggregator in/out in two tiers, sink) as TrialProgress, and the sink's
loss map as SinkSeen.

The counts (the app's tally, the sink's count, the routers' counters) come from the sink's
live.json (the sink container keeps the others' small files in it: SinkContainer.mirror), the
loss map from its seen.msgpack: both from one copy of the sink's state directory, at most every
sink_container.COPY_EVERY seconds. Each copy goes through the engine and competes with the app
and the router for the same cores, and the run's own pace must not depend on who watches."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from pipeline_tests import _routers as routers
from pipeline_tests._container.tally import FILENAME as TALLY_FILE
from pipeline_tests._container.tally import read_tally
from pipeline_tests._events import OnEvent, SinkSeen, TrialProgress
from pipeline_tests._ledger.lost_ranges import MAP_CELLS, received_ranges
from pipeline_tests._scenario.model import Router

PERIOD = 2.0  # seconds between the router's counters and the sink's bitmaps (loss map)


class LiveSink(Protocol):
    """What the probe asks the sink (an in-process Sink, or the trial's sink container)."""

    def live_records(self) -> int: ...

    def live_seen(self, timeout: float = 0.5) -> dict[int, bytes]: ...


class Pull(Protocol):
    """Copies a volume of the trial (or files in it) into the trial's directory; its path."""

    def __call__(self, volume: str, *names: str, fresh: bool = False) -> Path: ...


def _no_pull(volume: str, *names: str, fresh: bool = False) -> Path:
    raise NotImplementedError("give the probe the trial's pull")


class TrialProbe:
    """Call `tick(phase, elapsed)` while a trial runs; it emits the events."""

    def __init__(self, directory: Path, sink: LiveSink, router: Router,
                 ports: routers.RouterPorts, label: str, trial: int, emit: OnEvent,
                 pull: Pull = _no_pull,
                 aggregator: tuple[Router, routers.RouterPorts] | None = None) -> None:
        self.directory, self.sink, self.router, self.ports = directory, sink, router, ports
        self.label, self.trial, self.emit, self.pull = label, trial, emit, pull
        self.aggregator = aggregator  # the second tier's settings and ports, if there is one
        self._router_counts = self._aggregator_counts = routers.RouterCounters(None, None)
        self._last_slow = 0.0

    def tick(self, phase: str, elapsed: float) -> None:
        tally = read_tally(self.pull("app", TALLY_FILE))
        slow = phase != "starting" and time.monotonic() - self._last_slow >= PERIOD
        if slow:
            self._last_slow = time.monotonic()
            self._router_counts = routers.counters(self.router, self.pull("router"), self.ports)
            if self.aggregator is not None:
                settings, ports = self.aggregator
                self._aggregator_counts = routers.counters(settings, self.pull("aggregator"),
                                                           ports)
        counts, second = self._router_counts, self._aggregator_counts
        self.emit(TrialProgress(self.label, self.trial, phase, elapsed,
                                tally.emitted_total if tally else 0, self.sink.live_records(),
                                counts.received, counts.sent, second.received, second.sent))
        if slow and tally is not None:
            self._seen(elapsed, tally.emitted)

    def _seen(self, elapsed: float, emitted: tuple[int, ...]) -> None:
        bitmaps = self.sink.live_seen()
        resolution = max(1, max(emitted, default=0) // MAP_CELLS)
        received = tuple((stream, first, last) for stream, n in enumerate(emitted)
                         for first, last in received_ranges(bitmaps.get(stream, b""), n,
                                                            resolution))
        self.emit(SinkSeen(self.label, self.trial, elapsed, emitted, received, resolution))
