"""The sink with real sockets and real fluent-logger clients."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from fluent import asyncsender, sender

from pipeline_tests._container import forward as fw
from pipeline_tests._container.line import encode
from pipeline_tests._errors import InputError
from pipeline_tests._sink import Sink, SinkConfig

RUN = "a1b2c3d4"
OTHER = "99999999"
N = 2000


def _line(seq: int, run: str = RUN, stream: int = 0, size: int = 120) -> str:
    return encode(run, stream, seq, time.time_ns(), size).decode()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink.start(SinkConfig(run_id=RUN)) as running:
        yield running


def _connect(sink: Sink) -> socket.socket:
    return socket.create_connection(("127.0.0.1", sink.port), timeout=10)


def _wait_records(sink: Sink, count: int) -> None:
    # Waiting for a count, not a duration: the assert that follows is exact.
    deadline = time.monotonic() + 30
    while sink.live_records() < count and time.monotonic() < deadline:
        time.sleep(0.01)


def read_objects(conn: socket.socket, count: int, decoder: fw.Decoder | None = None) -> list:
    """`count` objects from `conn` (fewer if it closes); pass the connection's decoder when
    reading it more than once."""
    decoder, out = decoder or fw.Decoder(), []
    while len(out) < count:
        data = conn.recv(65536)
        if not data:
            break
        out += decoder.objects(data)
    return out


def test_sync_fluent_logger_lines_are_counted_exactly(sink: Sink) -> None:
    client = sender.FluentSender("app", host="127.0.0.1", port=sink.port)
    for seq in range(N):
        assert client.emit("out", {"log": _line(seq)})
    client.close()
    _wait_records(sink, N)
    ledger, stats = sink.stop()
    assert (ledger.distinct, ledger.received_total, ledger.foreign) == (N, N, 0)
    assert (stats.records, stats.frames, stats.malformed, stats.connections) == (N, N, 0, 1)


def test_async_fluent_logger_lines_are_counted_exactly(sink: Sink) -> None:
    client = asyncsender.FluentSender("app", host="127.0.0.1", port=sink.port)
    for seq in range(N):
        assert client.emit("out", {"message": _line(seq)})
    _wait_records(sink, N)
    client.close()
    ledger, stats = sink.stop()
    assert (ledger.distinct, ledger.received_total, stats.records) == (N, N, N)


@pytest.mark.parametrize("mode", ["message", "forward", "packed", "packed_str", "compressed3"])
def test_every_mode_over_a_socket_with_acks(sink: Sink, mode: str) -> None:
    entries = [(time.time_ns(), {"log": _line(seq)}) for seq in range(50)]
    if mode == "message":
        frames = [fw.encode_message("t", t, r, {"chunk": f"c{i}"}, "ext8")
                  for i, (t, r) in enumerate(entries)]
    elif mode == "forward":
        frames = [fw.encode_forward("t", entries, {"chunk": "c0"})]
    elif mode.startswith("packed"):
        frames = [fw.encode_packed("t", entries, {"chunk": "c0"}, as_str=mode == "packed_str")]
    else:
        frames = [fw.encode_compressed("t", entries, {"chunk": "c0"}, members=3)]
    with _connect(sink) as conn:
        conn.sendall(msgpack.packb(None) + b"".join(frames) + msgpack.packb(None))
        replies = read_objects(conn, len(frames))
    assert [fw.ack_chunk(r) for r in replies] == [f"c{i}" for i in range(len(frames))]
    ledger, stats = sink.stop()
    assert (ledger.distinct, stats.records, stats.frames, stats.acks) == (50, 50, len(frames),
                                                                          len(frames))


def test_malformed_frame_closes_only_its_connection(sink: Sink) -> None:
    good = sender.FluentSender("app", host="127.0.0.1", port=sink.port)
    for seq in range(100):
        assert good.emit("out", {"log": _line(seq)})
    with _connect(sink) as bad:
        bad.sendall(fw.encode_message("t", 1, {"log": _line(10_000)}) + b"\xc1" + b"more")
        assert bad.recv(10) == b""  # closed by the sink
    for seq in range(100, 200):
        assert good.emit("out", {"log": _line(seq)})
    good.close()
    _wait_records(sink, 201)
    ledger, stats = sink.stop()
    assert (ledger.distinct, stats.malformed, stats.connections) == (201, 1, 2)


def test_oversized_and_truncated_frames_count_as_malformed() -> None:
    with Sink.start(SinkConfig(run_id=RUN, max_frame_bytes=4096)) as sink:
        with _connect(sink) as big:
            big.sendall(fw.encode_message("t", 1, {"log": "x" * 10_000}))
            assert big.recv(10) == b""
        with _connect(sink) as cut:
            cut.sendall(fw.encode_message("t", 1, {"log": _line(0)})[:-3])
            cut.shutdown(socket.SHUT_WR)
            assert cut.recv(10) == b""
        ledger, stats = sink.stop()
    assert (ledger.received_total, stats.malformed) == (0, 2)


def test_foreign_and_unparsable_lines_are_told_apart(sink: Sink) -> None:
    client = sender.FluentSender("app", host="127.0.0.1", port=sink.port)
    for seq in range(10):
        client.emit("out", {"log": _line(seq)})
        client.emit("out", {"log": _line(seq, run=OTHER)})
    client.emit("out", {"log": "hello"})
    client.emit("out", {"other": "no line field"})
    client.close()
    _wait_records(sink, 22)
    ledger, _ = sink.stop()
    assert (ledger.distinct, ledger.foreign, ledger.unparsable) == (10, 10, 2)


def test_handshake_with_shared_key() -> None:
    with Sink.start(SinkConfig(run_id=RUN, shared_key="s3cret")) as sink:
        for key, accepted in [("s3cret", True), ("wrong", False)]:
            with _connect(sink) as conn:
                client = fw.ClientHandshake(key)
                conn.sendall(client.ping(read_objects(conn, 1)[0]))
                pong = read_objects(conn, 1)[0]
                if accepted:
                    client.check_pong(pong)
                    conn.sendall(fw.encode_message("t", 1, {"log": _line(0)}, {"chunk": "z"}))
                    assert fw.ack_chunk(read_objects(conn, 1)[0]) == "z"
                else:
                    with pytest.raises(fw.HandshakeError, match="shared_key mismatch"):
                        client.check_pong(pong)
                    assert conn.recv(10) == b""
        ledger, stats = sink.stop()
    assert (ledger.distinct, stats.rejected, stats.malformed) == (1, 1, 0)


def _post(port: int, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/logs", data=body,
                                     headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_input_json_json_lines_and_msgpack() -> None:
    with Sink.start(SinkConfig(run_id=RUN, http_port=0)) as sink:
        assert sink.http_port
        array = json.dumps([{"date": 1.5, "log": _line(seq)} for seq in range(10)]).encode()
        lines = b"".join(json.dumps({"message": _line(seq)}).encode() + b"\n"
                         for seq in range(10, 20))
        packed = b"".join(msgpack.packb([1, {"log": _line(seq)}]) for seq in range(20, 25))
        packed += b"".join(msgpack.packb({b"log": _line(seq).encode()}) for seq in range(25, 30))
        assert _post(sink.http_port, array, "application/json") == 200
        assert _post(sink.http_port, lines, "application/x-ndjson") == 200
        assert _post(sink.http_port, packed, "application/msgpack") == 200
        assert _post(sink.http_port, b"{not json", "application/json") == 400
        ledger, stats = sink.stop()
    assert (ledger.distinct, stats.records, stats.malformed) == (30, 30, 1)


def test_unix_socket_and_two_workers(tmp_path: Path) -> None:
    path = str(tmp_path / "fluent.sock")
    with Sink.start(SinkConfig(run_id=RUN, unix_path=path, workers=2)) as sink:
        clients = [sender.FluentSender("app", host="127.0.0.1", port=sink.port)
                   for _ in range(8)]
        clients.append(sender.FluentSender("app", host=f"unix://{path}"))
        for seq in range(900):
            assert clients[seq % 9].emit("out", {"log": _line(seq, stream=seq % 9)})
        for client in clients:
            client.close()
        _wait_records(sink, 900)
        ledger, stats = sink.stop()
    assert (ledger.distinct, ledger.received_total, stats.connections) == (900, 900, 9)
    assert not Path(path).exists()


def test_port_in_use_is_a_user_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=f"port 127.0.0.1:{port} is already in use"):
            Sink.start(SinkConfig(port=port))


def test_stop_is_idempotent(sink: Sink) -> None:
    first = sink.stop()
    assert sink.stop() is first
