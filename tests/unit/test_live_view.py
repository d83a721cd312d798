"""The live view without Docker: the sink's live bitmaps, the loss-map ranges, the state the
events fold into, and the server (HTTP, server-sent events, the no-JavaScript table)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from pipeline_tests._container.line import encode
from pipeline_tests._events import (
    RunFinished,
    RunStarted,
    SinkSeen,
    StopStep,
    TrialFinished,
    TrialProgress,
    TrialStarted,
)
from pipeline_tests._ledger.lost_ranges import received_ranges
from pipeline_tests._live.page import static_tables
from pipeline_tests._live.server import LiveServer
from pipeline_tests._live.session import fan_out, linger
from pipeline_tests._live.state import LiveState
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.trial_result import TrialResult
from pipeline_tests._sink import Sink, SinkConfig

RUN = "a1b2c3d4"
CELL = "firelens/builtin/ecs"


def _bits(seqs: list[int], size: int) -> bytes:
    out = bytearray((size + 7) // 8)
    for seq in seqs:
        out[seq >> 3] |= 1 << (seq & 7)
    return bytes(out)


def test_received_ranges_exact_and_folded() -> None:
    bits = _bits([*range(0, 10), *range(12, 20), 25], 30)
    assert received_ranges(bits, 30) == [(0, 9), (12, 19), (25, 25)]
    # A gap narrower than the resolution is folded in; the open tail never is.
    assert received_ranges(bits, 30, resolution=3) == [(0, 19), (25, 25)]
    assert received_ranges(b"", 5) == []
    assert received_ranges(_bits(list(range(5)), 5), 5) == [(0, 4)]


def test_sink_live_seen_merges_workers() -> None:
    lines = [(0, seq) for seq in (0, 1, 2, 5)] + [(1, seq) for seq in (3, 9)]
    with Sink.start(SinkConfig(run_id=RUN, workers=2)) as sink:
        for stream, seq in lines:  # one connection per line: both workers get some
            with socket.create_connection(("127.0.0.1", sink.port), timeout=10) as conn:
                record = {"log": encode(RUN, stream, seq, time.time_ns(), 120)}
                conn.sendall(msgpack.packb(["app", int(time.time()), record, {}]))
        deadline = time.monotonic() + 30
        while sink.live_records() < len(lines) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen = sink.live_seen(timeout=5.0)
        ledger, _ = sink.stop()
    assert seen == {0: _bits([0, 1, 2, 5], 6), 1: _bits([3, 9], 10)}
    assert ledger.distinct == len(lines)  # the query left the ledger whole


def _result(trial: int, lost: int) -> TrialResult:
    emitted = 1000
    return TrialResult(
        topology="firelens", router="builtin", stop="ecs", trial=trial, line_run_id=RUN,
        emitted=emitted, received_distinct=emitted - lost, received_total=emitted - lost,
        lost=lost, duplicates=0, reordered=0,
        lost_ranges=((0, emitted - lost, emitted - 1),) if lost else (), lost_before_stop=lost,
        lost_after_stop=0, latency_p50_ms=1.0, latency_p99_ms=2.0, requested_rate=None,
        achieved_rate=500.0, blocked_s=0.0,
        hops={"app": emitted, "router_in": emitted, "router_out": emitted,
              "sink": emitted - lost},
        lost_at="router_out->sink" if lost else "none", foreign=0, unparsable=0,
        malformed_frames=0, app_exit_code=0, app_killed=False, router_killed=False,
        seconds=3.0, emitted_by_stream=(emitted,), stop_seq=(emitted,), cell=CELL)


def _events(run_dir: Path) -> list:
    result = _result(1, 40)
    return [
        RunStarted("r1", run_dir, 1, 1, (CELL,)),
        TrialStarted(CELL, 1, 1, 1, 2.0),
        TrialProgress(CELL, 1, "flooding", 0.5, 300, 250, 280, 260),
        TrialProgress(CELL, 1, "flooding", 0.6, 330, 270, None, None),  # not yet a sample
        TrialProgress(CELL, 1, "flooding", 1.0, 600, 550, 590, 560),
        StopStep(CELL, 1, "app", "SIGTERM", 2.0),
        StopStep(CELL, 1, "app", "exited", 2.25),
        SinkSeen(CELL, 1, 2.3, (1000,), ((0, 0, 959),), 1),
        TrialFinished(result),
        RunFinished(RunResults("r1", run_dir, {"scenario": {"max_loss": 0}}, (result,))),
    ]


def test_state_folds_the_events(tmp_path: Path) -> None:
    state = LiveState()
    for event in _events(tmp_path):
        state.apply(event)
    version, snap = state.snapshot()
    assert version == 10
    (view,) = snap["views"]
    assert view["samples"] == [[0.5, 300, 280, 260, 250], [1.0, 600, 590, 560, 550]]
    assert view["steps"] == [{"container": "app", "action": "SIGTERM", "t": 2.0},
                             {"container": "app", "action": "exited", "t": 2.25}]
    assert view["map"] == {"emitted": [1000], "resolution": 1, "received": [[0, 0, 959]]}
    assert view["counts"] == {"app": 1000, "router_in": 1000, "router_out": 1000, "sink": 960}
    assert snap["run"]["status"] == "finished" and snap["run"]["done"] == 1
    assert snap["summary"]["passed"] is False
    assert snap["summary"]["verdict"] == f"lost more than 0 lines in: {CELL}"
    assert snap["trials"][0]["lost"] == 40 and snap["trials"][0]["emitted"] == 1000
    assert snap["summary"]["cells"][0]["lost_max"] == 40


def test_events_of_another_trial_are_ignored() -> None:
    state = LiveState()
    state.apply(TrialStarted(CELL, 2, 1, 1, 2.0))
    state.apply(TrialProgress(CELL, 1, "flooding", 0.5, 1, 1))
    state.apply(StopStep(CELL, 1, "app", "SIGTERM", 2.0))
    assert state.version == 1


def test_fan_out_calls_each_consumer_in_order() -> None:
    seen: list[str] = []
    fan_out(lambda e: seen.append("a"), None, lambda e: seen.append("b"))(
        StopStep(CELL, 1, "app", "SIGTERM", 1.0))
    assert seen == ["a", "b"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(LiveState(), 0)
    live.start()
    yield live
    live.stop()


def _get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.headers["Content-Type"], reply.read().decode()


def _read_event(stream: object) -> dict:
    data = b""
    while not data.endswith(b"\n\n"):
        data += stream.readline()  # type: ignore[attr-defined]
    return json.loads(data.removeprefix(b"data: "))


def test_server_pushes_states_and_serves_the_page(server: LiveServer, tmp_path: Path) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(server.url + "events", timeout=10) as stream:
        assert _read_event(stream)["run"]["status"] == "waiting"
        events = _events(tmp_path)
        for event in events:
            server(event)
        while (state := _read_event(stream))["summary"] is None:
            pass
    assert state["trials"][0]["lost"] == 40
    kind, page = _get(server.url)
    assert kind.startswith("text/html")
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert "<td>1,000</td><td>960</td><td>40</td>" in page  # the table without JavaScript
    assert "http" not in page.replace(server.url, "").replace("http-equiv", "")  # no CDN
    kind, script = _get(server.url + "static/live.js")
    assert kind.startswith("text/javascript") and "EventSource" in script
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(server.url + "report.html")
    assert missing.value.code == 404
    (tmp_path / "report.html").write_text("<p>the report</p>")
    assert _get(server.url + "report.html")[1] == "<p>the report</p>"


def test_server_stops_with_a_viewer_connected(tmp_path: Path) -> None:
    live = LiveServer(LiveState(), 0)
    url = live.start()
    stream = urllib.request.urlopen(url + "events", timeout=10)
    _read_event(stream)
    live.stop()
    assert stream.read() == b""  # the stream was closed, not left hanging
    stream.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def test_a_two_tier_run_shows_the_aggregator_hops_from_the_one_hop_list(tmp_path: Path) -> None:
    cell = "aggregator/builtin>builtin/ecs"
    state = LiveState()
    hops = ("app", "router_in", "router_out", "aggregator_in", "aggregator_out", "sink")
    for event in [RunStarted("r1", tmp_path, 1, 1, (cell,), hops),
                  TrialStarted(cell, 1, 1, 1, 2.0),
                  TrialProgress(cell, 1, "flooding", 0.5, 300, 240, 290, 280, 270, 250)]:
        state.apply(event)
    _, snap = state.snapshot()
    assert snap["run"]["hops"] == list(hops)
    (view,) = snap["views"]
    assert view["counts"] == {"app": 300, "router_in": 290, "router_out": 280,
                              "aggregator_in": 270, "aggregator_out": 250, "sink": 240}
    assert view["samples"] == [[0.5, 300, 290, 280, 270, 250, 240]]
    assert "<th>aggregator in</th><th>aggregator out</th><th>sink received</th>" in \
        static_tables(snap)


def test_autoquit_keeps_the_final_page_up_that_long_then_returns() -> None:
    said: list[str] = []
    started = time.monotonic()
    linger(said.append, autoquit=0.3)
    assert time.monotonic() - started >= 0.3
    assert said == ["live view: the run has ended; the final page stays up for 0.3 s "
                    "(--autoquit) or until Ctrl-C"]


def test_autoquit_needs_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline_tests._cli import main

    with pytest.raises(SystemExit) as done:
        main(["run", "--autoquit", "5", "--out", str(tmp_path / "runs")])
    assert done.value.code == 2
    assert " ".join(capsys.readouterr().out.split()) == (
        "error: --autoquit says how long the live view's final page stays up; it needs "
        "--live. Add --live, or drop --autoquit.")
    assert not (tmp_path / "runs").exists()


def test_the_live_state_says_which_cells_are_decided_and_what_remains(tmp_path: Path) -> None:
    from pipeline_tests._events import CellProgress, CellsProgress

    state = LiveState()
    state.apply(RunStarted("r1", tmp_path, 20, 20, (CELL, "other")))
    state.apply(CellsProgress((CellProgress(CELL, 2, 0, "loses", "decided at 95%"),
                               CellProgress("other", 1, 9, "undecided", "")), 9, 0.95))
    _, snapshot = state.snapshot()
    run = snapshot["run"]
    assert (run["left"], run["confidence"]) == (9, 0.95)
    assert run["stopped"] == {
        CELL: {"trials": 2, "left": 0, "answer": "loses", "stopped": "decided at 95%"},
        "other": {"trials": 1, "left": 9, "answer": "undecided", "stopped": ""}}
