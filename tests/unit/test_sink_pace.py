"""A slow destination: the sink's throughput cap, per-frame latency and refusals, with real
sockets. The checks read the sink's own counts and clock (SinkStats), never the test's."""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.error
import urllib.request

import pytest
from test_sink import read_objects

from pipeline_tests._container import forward as fw
from pipeline_tests._container.line import encode
from pipeline_tests._ledger.ledger import Ledger
from pipeline_tests._results.build import sink_pace
from pipeline_tests._scenario.model import SinkDelays
from pipeline_tests._sink import Sink, SinkConfig, SinkStats
from pipeline_tests._sink.throttle import Throttle, burst

RUN = "a1b2c3d4"


def _frame(first: int, count: int, chunk: str, size: int = 120) -> bytes:
    entries = [(time.time_ns(), {"log": encode(RUN, 0, seq, time.time_ns(), size).decode()})
               for seq in range(first, first + count)]
    return fw.encode_packed("app", entries, {"chunk": chunk, "size": count})


def _send_acked(config: SinkConfig, frames: int, per: int) -> tuple[Ledger, SinkStats]:
    """`frames` frames of `per` records on one connection, all sent at once; every ack read."""
    with Sink.start(config) as sink:
        conn = socket.create_connection(("127.0.0.1", sink.port), timeout=60)
        for index in range(frames):
            conn.sendall(_frame(index * per, per, f"c{index}"))
        acks = read_objects(conn, frames)
        conn.close()
        assert acks == [{"ack": f"c{index}"} for index in range(frames)]
        return sink.stop()


def test_a_records_cap_holds_on_the_sinks_own_clock_and_counts_stay_exact() -> None:
    cap, frames, per = 2000, 40, 100  # 4,000 records sent at once: 2 s at the cap
    ledger, stats = _send_acked(SinkConfig(run_id=RUN, max_records_per_s=cap), frames, per)
    assert (ledger.distinct, ledger.received_total, stats.records) == (4000, 4000, 4000)
    assert stats.frames == frames and stats.acks == frames
    active = (stats.last_ns - stats.first_ns) / 1e9
    assert stats.records <= burst(cap) + cap * active + 1e-6  # the bucket's exact bound
    assert stats.records / active <= cap * 1.1
    assert stats.throttled_ns > 0  # records had to wait: the cap was what set the pace
    pace = sink_pace(stats, SinkDelays(max_records_per_s=cap))
    assert pace["max_records_per_s"] == cap and pace["burst_records"] == 200.0
    assert pace["records"] == 4000 and pace["records_per_s"] <= cap * 1.1
    assert pace["bytes"] is None and pace["unknown"] == {
        "bytes": "counted only under sink.max_bytes_per_s"}


def test_a_bytes_cap_counts_the_bytes_of_the_lines() -> None:
    cap = 200_000  # bytes/s of 120-byte lines: 1,666 lines/s
    ledger, stats = _send_acked(SinkConfig(run_id=RUN, max_bytes_per_s=cap), 30, 100)
    assert ledger.distinct == 3000 and stats.record_bytes == 3000 * 120
    active = (stats.last_ns - stats.first_ns) / 1e9
    assert stats.record_bytes <= burst(cap) + cap * active + 1e-6
    pace = sink_pace(stats, SinkDelays(max_bytes_per_s=cap))
    assert pace["bytes"] == 360_000 and pace["bytes_per_s"] <= cap * 1.1


def test_the_throttle_never_lets_more_through_than_burst_plus_cap_times_elapsed() -> None:
    rng = random.Random(7)
    throttle, cap = Throttle(500.0, None), 500.0
    now, counted, first = 100.0, 0, None
    for _ in range(2000):
        lines = [b"x" * 10] * rng.randint(1, 300)
        start = 0
        while start < len(lines):
            taken = throttle.admit(lines, start, now)
            if taken:
                first = now if first is None else first
                counted += taken
                start += taken
                assert counted <= burst(cap) + cap * (now - first) + 1e-9
            else:
                now += throttle.wait(lines[start])
        now += rng.random() * 0.01
    assert counted / (now - first) <= cap * 1.01


def test_a_line_longer_than_the_bytes_burst_passes_on_a_full_bucket() -> None:
    throttle = Throttle(None, 100.0)  # burst: 10 bytes
    line = [b"y" * 50]
    assert throttle.admit(line, 0, 0.0) == 1  # the bucket owes 40 bytes now
    assert throttle.admit(line, 0, 0.1) == 0
    assert throttle.wait(line[0]) == pytest.approx(0.4)  # -30 now, full (10) 0.4 s later
    assert throttle.admit(line, 0, 0.5) == 1


def test_latency_delays_each_frame_on_the_sinks_clock() -> None:
    latency, frames = 0.1, 6
    with Sink.start(SinkConfig(run_id=RUN, latency=latency)) as sink:
        conn = socket.create_connection(("127.0.0.1", sink.port), timeout=30)
        decoder = fw.Decoder()
        for index in range(frames):  # one request at a time, as a router waiting for acks
            conn.sendall(_frame(index * 10, 10, f"c{index}"))
            assert read_objects(conn, 1, decoder) == [{"ack": f"c{index}"}]
        conn.close()
        ledger, stats = sink.stop()
    assert ledger.distinct == 60 and stats.acks == frames
    # Frame k+1 was sent only after frame k's ack, which came `latency` after frame k was read.
    assert (stats.last_ns - stats.first_ns) / 1e9 >= (frames - 1) * latency


def _resend_until_acked(port: int, frames: int, per: int) -> int:
    """An at-least-once client: each frame is sent again, on a new connection, until its ack
    arrives. Returns the number of resends."""
    resends, conn, decoder = 0, None, fw.Decoder()
    for index in range(frames):
        while True:
            if conn is None:
                conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                decoder = fw.Decoder()
            conn.sendall(_frame(index * per, per, f"c{index}"))
            if read_objects(conn, 1, decoder) == [{"ack": f"c{index}"}]:
                break
            conn.close()
            conn, resends = None, resends + 1
    if conn is not None:
        conn.close()
    return resends


def test_refusals_are_resent_and_counted_as_duplicates_exactly() -> None:
    with Sink.start(SinkConfig(run_id=RUN, refuse_every=3)) as sink:
        resends = _resend_until_acked(sink.port, 10, 50)
        ledger, stats = sink.stop()
    # Frames read: 1 2 [3] 3' 4 [5... every third read is refused; 10 frames need 14 reads.
    assert (resends, stats.refusals, stats.frames) == (4, 4, 14)
    # Each refused frame arrived twice: 4 x 50 duplicates, no line lost.
    assert (ledger.distinct, ledger.received_total) == (500, 700)


def test_http_refusals_answer_503_after_counting() -> None:
    with Sink.start(SinkConfig(run_id=RUN, http_port=0, refuse_every=2)) as sink:
        statuses = []
        for seq in range(4):
            body = json.dumps({"log": encode(RUN, 0, seq, time.time_ns(), 80).decode()}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{sink.http_port}/app", body,
                                             {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        ledger, stats = sink.stop()
    assert statuses == [200, 503, 200, 503] and ledger.distinct == 4 and stats.refusals == 2
