"""The app (fixtures/app.py) run as a real subprocess: exact lines, exact tally, clean stops."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_tests._container import line, rotations, tally
from pipeline_tests._ledger.ledger import Ledger, reconcile

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "fixtures" / "app.py"
RUN = "a11ce5ed"
SIZE = 60


def start(state: Path, **env: str) -> subprocess.Popen[bytes]:
    variables = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "PT_RUN_ID": RUN,
                 "PT_STATE_DIR": str(state), "PT_LINE_SIZE": str(SIZE), **env}
    return subprocess.Popen([sys.executable, str(APP)], env=variables, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def seqs_by_stream(output: bytes) -> dict[int, list[int]]:
    """Every stdout line must be one of ours, of exactly SIZE bytes."""
    found: dict[int, list[int]] = {}
    for text in output.split(b"\n")[:-1]:
        parsed = line.parse(text)
        assert parsed is not None and parsed.run_id == RUN and len(text) == SIZE, text
        found.setdefault(parsed.stream, []).append(parsed.seq)
    return found


def summary(state: Path) -> dict:
    return json.loads((state / "app.summary.json").read_text())


def test_count_to_stdout_is_exact(tmp_path: Path) -> None:
    app = start(tmp_path, PT_COUNT="1234")
    out, err = app.communicate()
    assert (app.returncode, err) == (0, b"")
    assert out.endswith(b"\n")
    assert seqs_by_stream(out) == {0: list(range(1234))}
    counters = tally.read_tally(tmp_path)
    assert counters is not None
    assert (counters.emitted, counters.stop_seq, counters.line_size) == ((1234,), (-1,), SIZE)
    assert counters.finished_ns >= counters.started_ns > 0
    assert summary(tmp_path)["emitted"] == [1234]


def test_streams_and_paced_rate(tmp_path: Path) -> None:
    app = start(tmp_path, PT_COUNT="150", PT_STREAMS="3", PT_RATE="3000")
    out, err = app.communicate()
    assert (app.returncode, err) == (0, b"")
    assert seqs_by_stream(out) == {stream: list(range(150)) for stream in range(3)}
    counters = tally.read_tally(tmp_path)
    assert counters is not None and counters.emitted == (150, 150, 150)
    assert counters.requested_rate == 3000


@pytest.mark.parametrize(("streams", "rate"), [(1, "max"), (3, "max"), (2, "4000")])
def test_sigterm_mid_flood_counts_exactly(tmp_path: Path, streams: int, rate: str) -> None:
    app = start(tmp_path, PT_STREAMS=str(streams), PT_RATE=rate)
    assert app.stdout is not None
    first = app.stdout.read1(4096)  # the app is flooding: its handler is installed
    app.send_signal(signal.SIGTERM)
    out, err = app.communicate()
    assert (app.returncode, err) == (0, b"")
    received = seqs_by_stream(first + out)
    counters = tally.read_tally(tmp_path)
    assert counters is not None and counters.stop_signal_ns > 0 and counters.finished_ns > 0
    assert {s: list(range(n)) for s, n in enumerate(counters.emitted) if n} == received
    # A stream whose thread had not started yet may stop at 0; the flooding one did not.
    pairs = list(zip(counters.stop_seq, counters.emitted, strict=True))
    assert all(0 <= stop <= n for stop, n in pairs) and sum(counters.stop_seq) > 0
    assert summary(tmp_path)["stop_signal"] is True


def test_sigkill_leaves_received_within_counted(tmp_path: Path) -> None:
    app = start(tmp_path)
    assert app.stdout is not None
    first = app.stdout.read1(4096)
    app.kill()
    out, _ = app.communicate()
    whole = (first + out)[: (first + out).rfind(b"\n") + 1]  # a write may be cut mid-line
    received = seqs_by_stream(whole)[0]
    counters = tally.read_tally(tmp_path)
    assert counters is not None and counters.finished_ns == 0
    assert received == list(range(len(received)))
    # Counted before written: at most the one batch in flight is counted but not received.
    assert 0 <= counters.emitted[0] - len(received) <= 100


def test_duration_ends_the_flood(tmp_path: Path) -> None:
    app = start(tmp_path, PT_DURATION="0.3", PT_RATE="1000")
    out, err = app.communicate()
    assert (app.returncode, err) == (0, b"")
    counters = tally.read_tally(tmp_path)
    assert counters is not None and counters.stop_seq == (tally.NO_STOP,)
    assert seqs_by_stream(out) == {0: list(range(counters.emitted[0]))}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize("workers", ["2", "all"])
def test_busy_workers_burn_cpu_and_the_counts_stay_exact(tmp_path: Path, workers: str) -> None:
    # 200 lines paced at 200/s: about 1 s, during which the workers compute. Their CPU time
    # reaches this process only once the app reaped them (RUSAGE_CHILDREN counts waited-for
    # descendants), so it also shows none was left behind.
    before = _children_cpu()
    app = start(tmp_path, PT_COUNT="200", PT_RATE="200", PT_BUSY_WORKERS=workers)
    out, err = app.communicate()
    used = _children_cpu() - before
    assert (app.returncode, err) == (0, b"")
    assert seqs_by_stream(out) == {0: list(range(200))}
    expected = 2 if workers == "2" else len(os.sched_getaffinity(0))
    assert summary(tmp_path)["busy_workers"] == expected
    assert used >= 0.3  # an idle app at 200 lines/s uses a few hundredths of a second


def test_busy_workers_end_with_a_sigterm(tmp_path: Path) -> None:
    app = start(tmp_path, PT_RATE="1000", PT_BUSY_WORKERS="2")
    assert app.stdout is not None
    first = app.stdout.read1(4096)
    app.send_signal(signal.SIGTERM)
    out, err = app.communicate(timeout=30)
    assert (app.returncode, err) == (0, b"")
    counters = tally.read_tally(tmp_path)
    assert counters is not None
    assert seqs_by_stream(first + out) == {0: list(range(counters.emitted[0]))}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PT_RATE", "fast", "PT_RATE must be 'max' or total lines per second"),
    ("PT_RUN_ID", "xyz", "PT_RUN_ID must be 8 lowercase hex digits"),
    ("PT_STREAMS", "0", "PT_STREAMS must be a whole number from 1 to 1000, got '0'"),
    ("PT_LINE_SIZE", "10", "PT_LINE_SIZE must be a whole number from 51 to 16383, got '10'"),
    ("PT_OUTPUT", "syslog", "PT_OUTPUT must be one of stdout, file, fluent, got 'syslog'"),
    ("PT_DURATION", "-1", "PT_DURATION must be seconds"),
    ("PT_QUEUE_CIRCULAR", "true", "PT_QUEUE_CIRCULAR=true needs PT_SENDER=async"),
    ("PT_STATE_DIR", "/nonexistent/state", "PT_STATE_DIR=/nonexistent/state is not a writable"),
    ("PT_BUSY_WORKERS", "many", "PT_BUSY_WORKERS must be 'all' (one per CPU) or a whole number "
                                "from 0 to 1024, got 'many'"),
])
def test_bad_value_exits_2_with_one_line(tmp_path: Path, name: str, value: str,
                                         message: str) -> None:
    app = start(tmp_path, **{name: value})
    out, err = app.communicate()
    assert (app.returncode, out) == (2, b"")
    assert err.decode().startswith("app: " + message)
    assert err.count(b"\n") == 1


class ForwardReader:
    """A minimal Forward server on 127.0.0.1 (Message mode, as fluent-logger sends)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.events: list[tuple[str, object, str]] = []
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._read, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _read(self, conn: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        with conn:
            while data := conn.recv(65536):
                unpacker.feed(data)
                for tag, time, record in unpacker:
                    self.events.append((tag, time, record["log"]))

    def close(self) -> list[tuple[str, object, str]]:
        self.server.close()
        for thread in self._threads:
            thread.join(10)  # the app has exited: its sockets are closed, EOF is queued
        return self.events


@pytest.mark.parametrize("sender", ["sync", "async"])
def test_fluent_count_is_exact(tmp_path: Path, sender: str) -> None:
    reader = ForwardReader()
    app = start(tmp_path, PT_OUTPUT="fluent", PT_FLUENT_PORT=str(reader.port), PT_COUNT="300",
                PT_STREAMS="2", PT_SENDER=sender, PT_FLUENT_TAG="app.test")
    out, err = app.communicate()
    events = reader.close()
    assert (app.returncode, out, err) == (0, b"", b"")
    assert {tag for tag, _, _ in events} == {"app.test"}
    assert {time.code for _, time, _ in events} == {0}  # EventTime: nanosecond precision
    ledger = Ledger(RUN)
    ledger.add_many([text for _, _, text in events], recv_ns=0)
    report = reconcile(ledger, [300, 300], [tally.NO_STOP] * 2)
    assert (report.received_distinct, report.lost, report.duplicates) == (600, 0, 0)
    assert summary(tmp_path)["emit_false_total"] == 0


def test_fluent_sigterm_counts_exactly(tmp_path: Path) -> None:
    reader = ForwardReader()
    app = start(tmp_path, PT_OUTPUT="fluent", PT_FLUENT_PORT=str(reader.port))
    while not reader.events:
        threading.Event().wait(0.01)
    app.send_signal(signal.SIGTERM)
    out, err = app.communicate()
    events = reader.close()
    assert (app.returncode, out, err) == (0, b"", b"")
    counters = tally.read_tally(tmp_path)
    assert counters is not None and counters.stop_signal_ns > 0
    assert [line.parse(text).seq for _, _, text in events] == list(range(counters.emitted[0]))


def test_fluent_without_server_counts_refusals(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nobody listens there
    app = start(tmp_path, PT_OUTPUT="fluent", PT_FLUENT_PORT=str(port), PT_COUNT="20")
    out, err = app.communicate()
    assert (app.returncode, out, err) == (0, b"", b"")
    assert summary(tmp_path)["emit_false"] == [20]
    assert summary(tmp_path)["emitted"] == [20]


def test_fluent_into_real_sink(tmp_path: Path) -> None:
    sink_module = pytest.importorskip("pipeline_tests._sink.sink")
    with sink_module.Sink.start(sink_module.SinkConfig(run_id=RUN, workers=2)) as sink:
        app = start(tmp_path, PT_OUTPUT="fluent", PT_FLUENT_PORT=str(sink.port),
                    PT_COUNT="500", PT_STREAMS="2")
        assert app.wait() == 0
        ledger, _ = sink.stop()
    counters = tally.read_tally(tmp_path)
    assert counters is not None
    report = reconcile(ledger, counters.emitted, counters.stop_seq)
    assert (report.emitted, report.received_distinct, report.lost) == (1000, 1000, 0)


@given(st.integers(0, 10**12 - 1000), st.integers(0, 350), st.integers(0, 9999),
       st.integers(0, 10**19 - 1), st.integers(line.MIN_LINE_SIZE, 500))
def test_encode_batch_equals_encode(first: int, count: int, stream: int, emit_ns: int,
                                    size: int) -> None:
    # The app's hot path: line.encode_batch must produce exactly what encode would.
    expected = b"".join(line.encode(RUN, stream, seq, emit_ns, size) + b"\n"
                        for seq in range(first, first + count))
    assert line.encode_batch(RUN, stream, first, count, emit_ns, size) == expected


def _file_seqs(path: Path) -> list[int]:
    found = [line.parse(text) for text in path.read_bytes().split(b"\n")[:-1]]
    return [f.seq for f in found if f is not None]


def test_the_app_rotates_its_file_by_rename_and_records_each_boundary(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    # Batches of 100 lines (6,100 bytes); a new file before a write once one holds 12,000
    # bytes: 200 lines each.
    app = start(tmp_path, PT_OUTPUT="file", PT_LOG_FILE=str(log), PT_COUNT="1000",
                PT_ROTATE_SIZE="12000", PT_ROTATE_FILES="3")
    assert app.wait(30) == 0 and app.stderr is not None and app.stderr.read() == b""
    assert sorted(p.name for p in tmp_path.glob("app.log*")) == [
        "app.log", "app.log.1", "app.log.2"]
    assert rotations.read_rotations(tmp_path, 1) == ((200, 400, 600, 800),)
    # The newest file, then the rotated ones; the oldest beyond three files were deleted.
    assert _file_seqs(log) == list(range(800, 1000))
    assert _file_seqs(tmp_path / "app.log.1") == list(range(600, 800))
    assert _file_seqs(tmp_path / "app.log.2") == list(range(400, 600))
    counters = tally.read_tally(tmp_path)
    assert counters is not None and counters.emitted == (1000,)


def test_with_several_streams_each_new_file_begins_at_the_recorded_seqs(tmp_path: Path) -> None:
    app = start(tmp_path, PT_OUTPUT="file", PT_LOG_FILE=str(tmp_path / "app.log"),
                PT_COUNT="500", PT_STREAMS="2", PT_ROTATE_SIZE="5000", PT_ROTATE_FILES="100")
    assert app.wait(30) == 0
    seqs = rotations.read_rotations(tmp_path, 2)
    assert seqs is not None and len(seqs[0]) == len(seqs[1]) == len(
        list(tmp_path.glob("app.log.*")))
    for index in range(len(seqs[0])):  # app.log.N is the file after the Nth-last rotation
        path = tmp_path / ("app.log" if index == len(seqs[0]) - 1
                           else f"app.log.{len(seqs[0]) - 1 - index}")
        firsts: dict[int, int] = {}
        for text in path.read_bytes().split(b"\n")[:-1]:
            parsed = line.parse(text)
            assert parsed is not None
            firsts.setdefault(parsed.stream, parsed.seq)
        # A stream with no line in this file has its next one in a later file.
        assert all(first == seqs[stream][index] for stream, first in firsts.items())
    assert sum(len(_file_seqs(p)) for p in tmp_path.glob("app.log*")) == 1000
