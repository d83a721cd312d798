"""The sink under attack: one fuzz test per class of hostile input the issue-13 fuzzing found.
Each asserts exact counts, and the sink's memory bound from outside (RSS of its processes)."""

from __future__ import annotations

import contextlib
import gzip
import os
import random
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import msgpack
import pytest
from fluent import sender

from pipeline_tests._container import forward as fw
from pipeline_tests._container.line import encode
from pipeline_tests._sink import Sink, SinkConfig

RUN = "a1b2c3d4"
BOUND = 512 * 1024 * 1024  # SinkConfig's default max_memory
SEED = 1313


def _line(seq: int) -> str:
    return encode(RUN, 0, seq, time.time_ns(), 120).decode()


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as status:
            for row in status:
                if row.startswith("VmRSS:"):
                    total += int(row.split()[1]) * 1024
    return total


@contextmanager
def _peak_rss(sink: Sink) -> Iterator[list[int]]:
    """The highest RSS of the sink's worker processes, sampled every 20 ms meanwhile."""
    pids, peak, done = [p.pid for p in sink._procs], [0], threading.Event()  # noqa: SLF001

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss(pids))
            time.sleep(0.02)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def _good(sink: Sink, first: int, count: int) -> None:
    client = sender.FluentSender("app", host="127.0.0.1", port=sink.port)
    for seq in range(first, first + count):
        assert client.emit("out", {"log": _line(seq)})
    client.close()


def _wait(predicate: object, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def _send_until_closed(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        try:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            replies = b""
            while chunk := conn.recv(65536):
                replies += chunk
            return replies
        except OSError:
            return b""


def _bombs(rng: random.Random) -> list[tuple[bytes, str]]:
    """Compressed PackedForward frames of a few KiB inflating into millions of objects."""
    tiny = msgpack.packb([0, {}])
    nested = msgpack.packb([0, {f"k{i}": [[]] * 90_000 for i in range(60)}])
    deep_map = msgpack.packb([0, {"k": [{}] * 99_000}]) * 40
    out = []
    for blob, kind in [(tiny * rng.randint(2_000_000, 4_000_000), "entries"),
                       (nested, "expansion"), (deep_map, "expansion")]:
        packed = gzip.compress(blob, 9)
        out.append((msgpack.packb(["t", packed, {"compressed": "gzip", "chunk": "x"}]), kind))
    return out


def test_compressed_bombs_are_refused_within_the_memory_bound() -> None:
    bombs = _bombs(random.Random(SEED))
    with Sink.start(SinkConfig(run_id=RUN)) as sink, _peak_rss(sink) as peak:
        for frame, _ in bombs:
            assert _send_until_closed(sink.port, frame) == b""  # closed, no ack
        _good(sink, 0, 500)
        _wait(lambda: sink.live_records() >= 500)
        ledger, stats = sink.stop()
    assert (ledger.distinct, stats.records, stats.acks) == (500, 500, 0)
    assert stats.rejections["entries"] == 1 and stats.rejections["expansion"] == 2
    assert peak[0] < BOUND, peak[0]


def test_worker_busy_at_stop_finishes_and_a_stuck_one_is_marked() -> None:
    frame = fw.encode_packed("t", [(1, {"x": 1})] * 19_999)
    with Sink.start(SinkConfig(run_id=RUN)) as sink:
        _good(sink, 0, 20_000)
        _wait(lambda: sink.live_records() >= 20_000)
        with socket.create_connection(("127.0.0.1", sink.port)) as busy:
            busy.sendall(frame * 30)  # 600,000 records queued when the stop comes
            ledger, stats = sink.stop()
    assert (ledger.distinct, ledger.unparsable) == (20_000, 19_999 * 30)
    assert (stats.ledger_complete, stats.ledger_note) == (True, "")
    with Sink.start(SinkConfig(run_id=RUN, stop_timeout=1)) as sink:
        _good(sink, 0, 100)
        _wait(lambda: sink.live_records() >= 100)
        os.kill(sink._procs[0].pid, signal.SIGSTOP)  # noqa: SLF001
        ledger, stats = sink.stop()
    assert (stats.ledger_complete, stats.ledger_note) == (False,
                                                          "sink worker 0 returned no ledger")


def test_partial_frames_are_bounded_in_total_and_in_time() -> None:
    head = b"\x93\xa1t\xc6" + (8 << 20).to_bytes(4, "big")  # [tag, bin of 8 MiB ...
    rng = random.Random(SEED)
    conns = []
    with Sink.start(SinkConfig(run_id=RUN, partial_timeout=2)) as sink, _peak_rss(sink) as peak:
        for _ in range(150):
            conn = socket.create_connection(("127.0.0.1", sink.port))
            # Closed over the budget while still sending is what the test wants.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.sendall(head + rng.randbytes(rng.randint(1 << 20, 2 << 20)))
            conns.append(conn)
        _good(sink, 0, 300)
        _wait(lambda: sum(sink.stats().rejections[k] for k in ("budget", "timeout")) >= 150)
        ledger, stats = sink.stop()
    for conn in conns:
        conn.close()
    assert (ledger.distinct, stats.records) == (300, 300)
    assert stats.rejections["budget"] + stats.rejections["timeout"] == 150
    assert stats.rejections["budget"] > 0 and stats.rejections["timeout"] > 0
    assert peak[0] < BOUND, peak[0]


def test_a_client_that_does_not_read_its_acks_is_no_longer_read() -> None:
    frame = fw.encode_message("t", 1, {"log": "x"}, {"chunk": "c" * 40})
    sent = [0]
    with Sink.start(SinkConfig(run_id=RUN)) as sink, _peak_rss(sink) as peak:
        conn = socket.create_connection(("127.0.0.1", sink.port))
        conn.settimeout(3)
        try:
            while sent[0] < 2_000_000:  # until the sink stops reading: sendall times out
                conn.sendall(frame * 1000)
                sent[0] += 1000
        except TimeoutError:
            pass
        assert sink.stats().acks < sent[0]
        conn.settimeout(30)
        acks = 0
        conn.shutdown(socket.SHUT_WR)
        decoder = fw.Decoder()
        while data := conn.recv(1 << 20):
            acks += len(decoder.objects(data))
        conn.close()
        ledger, stats = sink.stop()
    assert acks <= sent[0] and stats.acks == acks and stats.records == acks
    assert peak[0] < BOUND, peak[0]


def _bad_times(rng: random.Random) -> list[bytes]:
    bodies = [b"\xd6\x00" + rng.randbytes(4), b"\xc7\x07\x00" + rng.randbytes(7),
              b"\xc7\x09\x00" + rng.randbytes(9), b"\xd7\x01" + rng.randbytes(8),
              b"\xc7\x08\x05" + rng.randbytes(8)]
    rec = msgpack.packb({"log": _line(99)})
    frames = []
    for t in bodies:
        frames.append(b"\x94\xa1t" + t + rec + b"\x80")  # Message mode
        frames.append(b"\x92\xa1t\x91\x92" + t + rec)  # Forward mode
        entry = b"\x92" + t + rec
        frames.append(b"\x92\xa1t\xc4" + bytes([len(entry)]) + entry)  # PackedForward
    return frames


def test_wrong_event_times_are_rejected_after_the_good_frame_is_acked() -> None:
    frames = _bad_times(random.Random(SEED))
    with Sink.start(SinkConfig(run_id=RUN)) as sink:
        for seq, bad in enumerate(frames):
            good = fw.encode_message("t", time.time_ns(), {"log": _line(seq)}, {"chunk": f"g{seq}"})
            replies = fw.Decoder().objects(_send_until_closed(sink.port, good + bad))
            assert [fw.ack_chunk(r) for r in replies] == [f"g{seq}"]
        ledger, stats = sink.stop()
    assert (ledger.distinct, stats.records, stats.acks) == (len(frames), len(frames), len(frames))
    assert stats.rejections["event_time"] == len(frames)


def test_a_rejected_frame_after_good_ones_counts_nothing_and_good_acks_go_out() -> None:
    rng = random.Random(SEED)
    cases = []
    for seq in range(60):
        good = [fw.encode_message("t", 1, {"log": _line(seq * 10 + k)}, {"chunk": f"c{k}"})
                for k in range(rng.randint(1, 5))]
        record = msgpack.packb({"log": _line(10_000 + seq)})
        bad = rng.choice([b"\x94\xa1t\x01" + record + b"\x05",  # option not a map
                          b"\x93\xa1t\x91\x92\x01" + record + b"\x05",
                          b"\x92\xa1t\x92\x92\x01" + record + b"\x92\x01\x05"])  # record not a map
        cases.append((good, bad))
    with Sink.start(SinkConfig(run_id=RUN)) as sink:
        for good, bad in cases:
            replies = fw.Decoder().objects(_send_until_closed(sink.port, b"".join(good) + bad))
            assert [fw.ack_chunk(r) for r in replies] == [f"c{k}" for k in range(len(good))]
        ledger, stats = sink.stop()
    total = sum(len(good) for good, _ in cases)
    assert (ledger.distinct, stats.records, stats.acks, stats.malformed) == (total, total, total,
                                                                             60)


def _post(port: int, body: bytes, content_type: str) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/logs", data=body,
                                     headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_http_malformed_bodies_get_a_400_with_one_line() -> None:
    rng = random.Random(SEED)
    bodies = [(b"[" * rng.randint(100_000, 400_000), "application/json"),
              (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
              (b"[{}" + b",{}" * 3_000_000 + b"]", "application/json"),
              (rng.randbytes(5000), "application/json"),
              (b"\x91" * 100_000, "application/msgpack"),
              (b'"just a string"', "application/json"),
              (msgpack.packb([1, 2]) + b"\xc1", "application/msgpack")]
    with Sink.start(SinkConfig(run_id=RUN, http_port=0)) as sink:
        assert sink.http_port
        for body, content_type in bodies:
            status, text = _post(sink.http_port, body, content_type)
            assert status == 400 and text.startswith("malformed body: "), (status, text[:200])
            assert text.count("\n") == 1 and "Traceback" not in text
        _, stats = sink.stop()
    assert (stats.malformed, stats.rejections["http"], stats.records) == (7, 7, 0)


def test_an_http_client_that_hangs_up_mid_body_is_one_malformed_body(
        capfd: pytest.CaptureFixture[str]) -> None:
    with Sink.start(SinkConfig(run_id=RUN, http_port=0)) as sink:
        assert sink.http_port
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", sink.http_port)) as conn:
                conn.sendall(b"POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                             b"\r\nContent-Length: 100000\r\n\r\n" + b"[" * 1000)
        status, _ = _post(sink.http_port, b'[{"log": "x"}]', "application/json")
        _, stats = sink.stop()
    err = capfd.readouterr().err
    assert (status, stats.malformed, stats.rejections["http"], stats.records) == (200, 3, 3, 1)
    assert "Traceback" not in err and err.count("HTTP body cut short") == 3, err


def test_a_routers_big_chunks_sent_in_pieces_are_all_counted() -> None:
    # Fluent Bit's forward output: Forward-mode chunks of ~2 MB ([tag, [[time, record]...],
    # {chunk, size}]) written 64 KiB at a time; the budget must not take them for an attack.
    def chunk(first: int, n: int) -> bytes:
        entries = [[msgpack.ExtType(0, (1_700_000_000).to_bytes(4, "big") + bytes(4)),
                    {"log": encode(RUN, 0, first + i, 1, 400), "container_id": "c" * 64,
                     "source": "stdout"}] for i in range(n)]
        return msgpack.packb(["app-firelens-x", entries, {"chunk": f"c{first}", "size": n}])

    with Sink.start(SinkConfig(run_id=RUN)) as sink:
        conn = socket.create_connection(("127.0.0.1", sink.port))
        for first in range(0, 80_000, 4_000):
            frame = chunk(first, 4_000)
            for i in range(0, len(frame), 65_536):
                conn.sendall(frame[i:i + 65_536])
        _wait(lambda: sink.stats().records >= 80_000)
        conn.close()
        ledger, stats = sink.stop()
    assert (ledger.distinct, stats.records, stats.frames, stats.malformed) == (
        80_000, 80_000, 20, 0)
    assert sum(stats.rejections.values()) == 0


def test_fluent_bit_entries_with_metadata_are_counted_and_bad_times_still_refused() -> None:
    # Fluent Bit 2.1+ (5.1.1 here): each entry is [[EventTime, {metadata}], record].
    good = msgpack.ExtType(0, (1_700_000_000).to_bytes(4, "big") + bytes(4))
    frames = [msgpack.packb(["fb", [[[good, {}], {"log": encode(RUN, 0, i, 1, 100)}]
                                    for i in range(first, first + 50)], {"chunk": "c"}])
              for first in (0, 50)]
    bad = msgpack.packb(["fb", [[[msgpack.ExtType(0, bytes(7)), {}], {"log": "x"}]]])
    decoder = fw.Decoder(raw=True)
    out: list = []
    assert decoder.records(frames[0] + frames[1], out) == [b"c", b"c"]
    assert len(out) == 100
    with pytest.raises(fw.FrameError) as err:
        fw.Decoder(raw=True).records(bad, [])
    assert (err.value.kind, str(err.value)) == (
        "event_time", "event time must be EventTime (ext type 0 of exactly 8 bytes), got ext "
        "type 0 of 7 bytes")
