"""Fluent Bit's exact hop counts at the end of a trial, from its /api/v2/metrics and its log.

Fluent Bit rebuilds its metrics once a second (the metrics exporter's timer) and serves the last
copy; a copy carries the time it was built (the timestamp of `fluentbit_uptime`). On SIGTERM it
logs `[engine] pausing all inputs..` and pauses them in the same engine thread: from then on its
inputs' counts cannot change. So `router_in` is exact when

1. a copy built *after* that line was read (the router stayed up a full rebuild after pausing:
   always so when it still had chunks to flush), or
2. the router stopped cleanly, with nothing left: `service has stopped (0 pending tasks)` and no
   `pending chunk count` in that last check, no warning or error from an output or the engine,
   and the only filter and output are pipeline-tests' own (no filter of the user's can drop a
   record): every record its inputs accepted was then delivered, and the sink counted those
   (RouterCounters.received_at_sink; the last copy's count must not exceed the sink's).

`router_out` is always counted where the router's output delivers: at the sink.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pipeline_tests._routers import logs
from pipeline_tests._routers.kind import RouterCounters

SNAPSHOT_METRIC = "fluentbit_uptime"
_LINE = re.compile(r"^(\S+Z) (fluentbit_[a-z_]+)(?:\{([^}]*)\})? = (\S+)$")
_LOG = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$")
PAUSE, STOPPED, PENDING = ("[engine] pausing all inputs", "[engine] service has stopped",
                           "[engine] pending chunk count")
BENIGN_WARNINGS = ("service will shutdown",)
SAME_CHECK_NS = 200_000_000  # lines of one shutdown check are logged within this of each other


@dataclass(frozen=True)
class Snapshot:
    built_ns: int  # when Fluent Bit built this copy of its metrics
    inputs: dict[str, int]  # input alias -> records
    filters: frozenset[str]
    outputs: frozenset[str]


@dataclass(frozen=True)
class Shutdown:
    paused_ns: int | None  # when it logged that it paused its inputs (None: it never did)
    clean: bool  # stopped with nothing pending, no warning or error
    why_not_clean: str


def parse_snapshot(text: str) -> Snapshot | None:
    built, inputs, filters, outputs = None, {}, set(), set()
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            continue
        stamp, metric, labels, value = match.groups()
        name = _label(labels or "", "name")
        if metric == SNAPSHOT_METRIC:
            built = _ns(stamp)
        elif metric == "fluentbit_input_records_total" and name:
            inputs[name] = int(float(value))
        elif metric.startswith("fluentbit_filter_") and name:
            filters.add(name)
        elif metric.startswith("fluentbit_output_") and name:
            outputs.add(name)
    if built is None:
        return None
    return Snapshot(built, inputs, frozenset(filters), frozenset(outputs))


def parse_shutdown(log: str) -> Shutdown:
    """From the router's log as `docker compose logs --timestamps` saved it."""
    lines = [(_ns(m.group(1)), m.group(2)) for raw in log.splitlines()
             if (m := _LOG.search(raw)) is not None]
    paused = next((ns for ns, text in lines if PAUSE in text), None)
    stops = [i for i, (_, text) in enumerate(lines) if STOPPED in text]
    if not stops:
        return Shutdown(paused, False, "it never logged that it stopped (killed?)")
    last = stops[-1]
    stop_ns, stop_text = lines[last]
    if "(0 pending tasks)" not in stop_text:
        return Shutdown(paused, False, f"it stopped with tasks pending: {_tail(stop_text)}")
    if any(PENDING in text and stop_ns - ns < SAME_CHECK_NS for ns, text in lines[:last]):
        return Shutdown(paused, False, "it stopped with chunks still pending")
    problem = next((text for _, text in lines if _is_problem(text)), None)
    if problem is not None:
        return Shutdown(paused, False, f"it logged: {_tail(problem)}")
    return Shutdown(paused, True, "")


def router_counters(last: Snapshot | None, shutdown: Shutdown, ours: frozenset[str],
                    filter_alias: str, sink_alias: str) -> RouterCounters:
    """The counts for a trial, from the last copy read and the log (see the module's doc)."""
    if last is None:
        return RouterCounters(None, None, "its /api/v2/metrics never answered", "",
                              sent_at_sink=True)
    received = sum(count for name, count in last.inputs.items() if name in ours)
    if shutdown.paused_ns is not None and last.built_ns > shutdown.paused_ns:
        return RouterCounters(received, None, sent_at_sink=True)
    why = (f"its last metrics read were built {_seconds(shutdown.paused_ns - last.built_ns)} "
           "before it paused its inputs (they are rebuilt once a second)"
           if shutdown.paused_ns is not None else "it never paused its inputs")
    if not shutdown.clean:
        return RouterCounters(None, None, f"{why}, and {shutdown.why_not_clean}",
                              sent_at_sink=True)
    others = (last.filters - {filter_alias}) | (last.outputs - {sink_alias})
    if others:
        return RouterCounters(None, None, f"{why}, and filters or outputs other than "
                              f"pipeline-tests' ({', '.join(sorted(others))}) may drop records",
                              sent_at_sink=True)
    return RouterCounters(None, None, received_at_sink=True, received_floor=received,
                          sent_at_sink=True)


def problems(log: str) -> list[str]:
    """Its warnings and errors (not the warning every stop logs), as it wrote them."""
    return [text for text in logs.messages(log) if _is_problem(text)]


def _is_problem(text: str) -> bool:
    if "[error]" in text:
        return True
    return "[ warn]" in text and not any(benign in text for benign in BENIGN_WARNINGS)


def _label(labels: str, key: str) -> str:
    match = re.search(rf'{key}="([^"]*)"', labels)
    return match.group(1) if match else ""


def _ns(stamp: str) -> int:
    """RFC 3339 UTC with up to nanoseconds -> epoch ns."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:.2f} s"


def _tail(text: str) -> str:
    return text.strip()[-160:]
