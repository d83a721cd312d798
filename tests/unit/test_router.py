"""The builtin router (fixtures/router.py) as a subprocess, between real clients and a real sink."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from fluent import sender
from test_sink import read_objects

from pipeline_tests._container import forward as fw
from pipeline_tests._container.line import encode
from pipeline_tests._ledger.ledger import reconcile
from pipeline_tests._sink import Sink, SinkConfig

ROOT = Path(__file__).resolve().parents[2]
ROUTER = ROOT / "fixtures" / "router.py"
RUN = "0badcafe"
N = 1500
WAIT = 30.0  # a deadline against hangs, never a measured duration


def _line(seq: int, size: int = 200) -> str:
    return encode(RUN, 0, seq, time.time_ns(), size).decode()


def _docker_record(seq: int) -> dict:
    return {"container_id": "c" * 64, "container_name": "/app", "source": "stdout",
            "log": _line(seq)}


def _wait(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RouterProc:
    """One router subprocess with its state directory."""

    def __init__(self, env: dict[str, str], state_dir: Path) -> None:
        self.state_dir = state_dir
        self.stderr_path = state_dir / "router.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, str(ROUTER)], env=env, stderr=err,
                                         stdout=subprocess.DEVNULL)

    def state(self) -> dict:
        try:
            return json.loads((self.state_dir / "router.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def ready(self) -> bool:
        # The pid tells this process's state from what a previous one left in the directory.
        return self.state().get("ready") is True and self.state().get("pid") == self.proc.pid

    def wait_ready(self) -> RouterProc:
        _wait(lambda: self.ready() or self.proc.poll() is not None)
        assert self.ready(), (f"exit {self.proc.poll()}, state {self.state()}, pid "
                              f"{self.proc.pid}, stderr {self.stderr_path.read_text()!r}")
        return self

    def wait_count(self, counter: str, value: int) -> None:
        _wait(lambda: self.state().get(counter, -1) >= value)

    def stop(self, sig: int = signal.SIGTERM) -> dict:
        self.proc.send_signal(sig)
        assert self.proc.wait(WAIT) == 0, self.stderr_path.read_text()
        return self.state()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Short, so the unix socket path stays under 107 bytes.
    with tempfile.TemporaryDirectory(prefix="ptr", dir="/tmp") as tmp:
        yield Path(tmp)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink.start(SinkConfig(run_id=RUN)) as running:
        yield running


@pytest.fixture
def start(state_dir: Path) -> Iterator[Callable[..., RouterProc]]:
    started: list[RouterProc] = []

    def _start(sink_port: int, **settings: str) -> RouterProc:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT),
               "PT_ROUTER_UNIX": str(state_dir / "fluent.sock"), "PT_ROUTER_PORT": "0",
               "PT_SINK_PORT": str(sink_port), "PT_STATE_DIR": str(state_dir),
               "PT_FLUSH_INTERVAL": "0.05", **settings}
        router = RouterProc(env, state_dir)
        started.append(router)
        return router.wait_ready()

    yield _start
    for router in started:
        router.kill()


def _send_fluent_logger(port: int, seqs: range) -> None:
    client = sender.FluentSender("app", host="127.0.0.1", port=port)
    for seq in seqs:
        assert client.emit("out", {"log": _line(seq)})
    client.close()


def _unix_client(router: RouterProc) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(router.state()["unix_path"])
    conn.settimeout(WAIT)
    return conn


def _send_docker_frames(conn: socket.socket, seqs: range) -> None:
    # Like Docker's fluentd driver: Message mode, one event per write, option map always present.
    for seq in seqs:
        conn.sendall(fw.encode_message("docker.app", time.time_ns(), _docker_record(seq), {}))


def _lines(sink: Sink) -> tuple[int, int]:
    ledger, _ = sink.stop()
    return ledger.distinct, ledger.received_total


def _counts(state: dict, *names: str) -> tuple[int, ...]:
    return tuple(state[name] for name in names)


def test_fluent_logger_over_tcp_delivers_every_line(sink: Sink, start: Callable) -> None:
    router = start(sink.port)
    _send_fluent_logger(router.state()["tcp_port"], range(N))
    router.wait_count("acked", N)
    final = router.stop()
    assert _lines(sink) == (N, N)
    assert _counts(final, "received", "forwarded", "acked", "resent", "dropped_full",
                   "dropped_at_exit", "connections", "malformed", "buffered") == (
        N, N, N, 0, 0, 0, 1, 0, 0)
    assert (final["state"], final["ready"]) == ("exited", True)


def test_a_cost_per_record_spends_that_much_cpu_and_delivers_every_line(
        sink: Sink, start: Callable) -> None:
    # 500 records at 1 ms of CPU each: at least 0.5 s of the router's own CPU time, whatever
    # the machine's load (CPU time, not wall time); the counts stay exact.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    router = start(sink.port, PT_COST_PER_RECORD="1000")
    _send_fluent_logger(router.state()["tcp_port"], range(500))
    router.wait_count("acked", 500)
    final = router.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert used >= 0.5
    assert _lines(sink) == (500, 500)
    assert _counts(final, "received", "acked", "dropped_full", "dropped_at_exit") == (
        500, 500, 0, 0)


def test_docker_frames_over_the_unix_socket(sink: Sink, start: Callable,
                                            state_dir: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(state_dir / "fluent.sock"))  # left behind by a killed router
    stale.close()
    router = start(sink.port, PT_ROUTER_PORT="")
    path = state_dir / "fluent.sock"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
    assert router.state()["tcp_port"] is None
    with _unix_client(router) as conn:
        _send_docker_frames(conn, range(N - 3))
        conn.sendall(fw.pack(None))  # a heartbeat
        frame = fw.encode_message("docker.app", time.time_ns(), _docker_record(N - 3), {})
        conn.sendall(frame[:7])  # a message split across reads
        router.wait_count("received", N - 3)
        conn.sendall(frame[7:])
        # fluentd-request-ack: the router answers each chunk id once it holds the record.
        for seq, chunk in ((N - 2, "Y2h1bmsx"), (N - 1, "Y2h1bmsy")):
            record = _docker_record(seq)
            conn.sendall(fw.encode_message("docker.app", time.time_ns(), record, {"chunk": chunk}))
        assert read_objects(conn, 2) == [{"ack": "Y2h1bmsx"}, {"ack": "Y2h1bmsy"}]
    router.wait_count("acked", N)
    final = router.stop()
    assert _lines(sink) == (N, N)
    assert _counts(final, "received", "acked", "dropped_at_exit", "connections") == (N, N, 0, 1)
    assert not path.exists()


def test_sigterm_flushes_the_buffer_at_shutdown(sink: Sink, start: Callable) -> None:
    router = start(sink.port, PT_FLUSH_INTERVAL="3600")
    _send_fluent_logger(router.state()["tcp_port"], range(N))
    router.wait_count("received", N)
    assert _counts(router.state(), "forwarded", "buffered") == (0, N)
    final = router.stop()
    assert _lines(sink) == (N, N)
    assert _counts(final, "received", "acked", "dropped_at_exit") == (N, N, 0)


def test_sigterm_without_flush_at_shutdown_drops_the_buffer(sink: Sink, start: Callable) -> None:
    router = start(sink.port, PT_FLUSH_INTERVAL="3600", PT_FLUSH_AT_SHUTDOWN="false")
    _send_fluent_logger(router.state()["tcp_port"], range(N))
    router.wait_count("received", N)
    final = router.stop(signal.SIGINT)
    assert _lines(sink) == (0, 0)
    assert _counts(final, "received", "forwarded", "acked", "dropped_at_exit") == (N, 0, 0, N)
    assert final["received"] == final["acked"] + final["dropped_at_exit"] + final["dropped_full"]


def test_a_full_buffer_drops_new_records(sink: Sink, start: Callable) -> None:
    router = start(sink.port, PT_FLUSH_INTERVAL="3600", PT_BUFFER_LIMIT="100")
    _send_fluent_logger(router.state()["tcp_port"], range(300))
    router.wait_count("received", 300)
    final = router.stop()
    ledger, _ = sink.stop()
    assert (ledger.distinct, ledger.received_total) == (100, 100)
    assert _counts(final, "received", "acked", "dropped_full", "dropped_at_exit") == (
        300, 100, 200, 0)


def test_a_malformed_frame_closes_only_its_connection(sink: Sink, start: Callable) -> None:
    router = start(sink.port)
    port = router.state()["tcp_port"]
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as good, \
            socket.create_connection(("127.0.0.1", port), timeout=WAIT) as bad:
        _send_docker_frames(good, range(10))
        bad.sendall(fw.pack("not a forward message"))
        assert bad.recv(1024) == b""  # closed by the router
        router.wait_count("malformed", 1)
        _send_docker_frames(good, range(10, 20))
    router.wait_count("acked", 20)
    final = router.stop()
    assert _lines(sink) == (20, 20)
    assert _counts(final, "received", "acked", "malformed", "connections") == (20, 20, 1, 2)


def test_grace_bounds_the_shutdown_flush_when_the_sink_is_down(start: Callable) -> None:
    router = start(_free_port(), PT_GRACE="0.5")
    _send_fluent_logger(router.state()["tcp_port"], range(100))
    router.wait_count("received", 100)
    final = router.stop()
    assert _counts(final, "received", "forwarded", "acked", "dropped_at_exit",
                   "sink_connects") == (100, 0, 0, 100, 0)


def test_a_record_that_cannot_be_packed_again_is_counted(sink: Sink, start: Callable) -> None:
    router = start(sink.port)
    with _unix_client(router) as conn:
        _send_docker_frames(conn, range(10))
        # [tag, 1, {"log": <str of invalid UTF-8>}, {}]: decodable, not always re-encodable.
        conn.sendall(b"\x94\xaadocker.app\x01\x81\xa3log\xa2\xff\xfe\x80")
    router.wait_count("received", 11)
    final = router.stop()
    assert _lines(sink)[0] == 10
    assert final["acked"] + final["dropped_unencodable"] == 11
    assert final["dropped_at_exit"] == 0


def test_at_least_once_waits_for_a_sink_that_starts_late(start: Callable) -> None:
    port = _free_port()
    router = start(port)
    _send_fluent_logger(router.state()["tcp_port"], range(N))
    router.wait_count("received", N)
    assert router.state()["sink_connects"] == 0
    with Sink.start(SinkConfig(run_id=RUN, port=port)) as late:
        router.wait_count("acked", N)
        final = router.stop()
        assert _lines(late) == (N, N)
    assert _counts(final, "received", "acked", "dropped_at_exit", "sink_connects") == (N, N, 0, 1)


def test_a_restarted_router_goes_on_from_its_previous_counters(sink: Sink,
                                                                start: Callable) -> None:
    first = start(sink.port)
    _send_fluent_logger(first.state()["tcp_port"], range(100))
    first.wait_count("acked", 100)
    assert _counts(first.stop(), "received", "acked", "starts") == (100, 100, 1)
    second = start(sink.port)
    _send_fluent_logger(second.state()["tcp_port"], range(100, 150))
    second.wait_count("acked", 150)
    final = second.stop()
    assert _lines(sink) == (150, 150)
    assert _counts(final, "received", "acked", "dropped_at_exit", "connections", "starts") == \
        (150, 150, 0, 2, 2)


def test_tail_input_reads_the_app_log_file_line_by_line(sink: Sink, start: Callable,
                                                      state_dir: Path) -> None:
    log = state_dir / "app.log"
    router = start(sink.port, PT_TAIL_PATH=str(log), PT_ROUTER_UNIX="", PT_ROUTER_PORT="")
    text = "".join(_line(seq) + "\n" for seq in range(N))
    half = len(text) // 2 + 7  # the cut falls inside a line: it waits for its newline
    with open(log, "a") as app:
        app.write(text[:half])
        app.flush()
        router.wait_count("received", text[:half].count("\n"))
        assert router.state()["received"] == text[:half].count("\n")
        app.write(text[half:])
    router.wait_count("acked", N)
    final = router.stop()
    assert _lines(sink) == (N, N)
    assert _counts(final, "received", "acked", "dropped_at_exit", "connections") == (N, N, 0, 0)


def test_tail_follows_dockers_json_file_even_once_deleted(sink: Sink, start: Callable,
                                                        state_dir: Path) -> None:
    router = start(sink.port, PT_TAIL_PATH=str(state_dir / "*-json.log"), PT_TAIL_FORMAT="docker")
    entries = [json.dumps({"log": _line(seq) + "\n", "stream": "stdout",
                           "time": "2026-11-23T12:00:00.000000000Z"}) + "\n" for seq in range(N)]
    log = state_dir / ("c" * 64 + "-json.log")
    with open(log, "a") as dockerd:
        dockerd.write("".join(entries[:100]))
        dockerd.flush()
        router.wait_count("received", 100)
        # The container is removed: its log file goes, but an open descriptor reads on.
        dockerd.write("".join(entries[100:]))
        dockerd.flush()
        log.unlink()
    router.wait_count("acked", N)
    final = router.stop()
    assert _lines(sink) == (N, N)
    assert _counts(final, "received", "acked", "dropped_at_exit") == (N, N, 0)


@pytest.mark.parametrize(("pause", "delivered"), [("true", 0), ("false", N)])
def test_a_tail_reads_on_during_grace_only_without_pause_on_stop(
        sink: Sink, start: Callable, state_dir: Path, pause: str, delivered: int) -> None:
    log = state_dir / "app.log"
    router = start(sink.port, PT_TAIL_PATH=str(log), PT_PAUSE_ON_STOP=pause)
    router.proc.send_signal(signal.SIGTERM)
    _wait(lambda: router.state().get("state") in ("stopping", "exited"))
    # Written after the router began to stop: only a tail still reading can deliver it.
    log.write_text("".join(_line(seq) + "\n" for seq in range(N)))
    assert router.proc.wait(WAIT) == 0
    assert _lines(sink) == (delivered, delivered)
    assert _counts(router.state(), "received", "acked") == (delivered, delivered)


def test_at_most_once_counts_forwarded_only(sink: Sink, start: Callable) -> None:
    router = start(sink.port, PT_REQUIRE_ACK="false")
    _send_fluent_logger(router.state()["tcp_port"], range(N))
    router.wait_count("forwarded", N)
    _wait(lambda: sink.live_records() >= N)
    final = router.stop()
    assert _lines(sink) == (N, N)
    assert _counts(final, "received", "forwarded", "acked", "dropped_at_exit") == (N, N, 0, 0)


def test_shared_key_handshake_with_the_sink(start: Callable) -> None:
    with Sink.start(SinkConfig(run_id=RUN, shared_key="s3cret")) as secured:
        router = start(secured.port, PT_SHARED_KEY="s3cret")
        _send_fluent_logger(router.state()["tcp_port"], range(100))
        router.wait_count("acked", 100)
        final = router.stop()
        assert _lines(secured) == (100, 100)
    assert _counts(final, "acked", "sink_connects") == (100, 1)


def test_without_pause_on_stop_open_connections_are_read_during_grace(
        sink: Sink, start: Callable) -> None:
    router = start(sink.port, PT_PAUSE_ON_STOP="false", PT_GRACE="30")
    with _unix_client(router) as conn:
        _send_docker_frames(conn, range(100))
        router.wait_count("received", 100)
        router.proc.send_signal(signal.SIGTERM)
        _wait(lambda: router.state().get("state") == "stopping")
        _send_docker_frames(conn, range(100, 200))
        router.wait_count("received", 200)
    assert router.proc.wait(WAIT) == 0
    assert _lines(sink) == (200, 200)
    assert _counts(router.state(), "received", "acked", "dropped_at_exit") == (200, 200, 0)


def test_pause_on_stop_reads_nothing_after_sigterm(start: Callable) -> None:
    # A slow-acking sink keeps the router in its shutdown flush while the client writes more.
    with Sink.start(SinkConfig(run_id=RUN, ack_delay=0.5)) as slow:
        router = start(slow.port, PT_FLUSH_INTERVAL="3600", PT_GRACE="30")
        with _unix_client(router) as conn:
            _send_docker_frames(conn, range(100))
            router.wait_count("received", 100)
            router.proc.send_signal(signal.SIGTERM)
            _wait(lambda: router.state().get("state") != "running")
            # The router may have exited already: either way nothing more is read.
            with suppress(OSError):
                _send_docker_frames(conn, range(100, 200))
            assert router.proc.wait(WAIT) == 0
        assert _lines(slow) == (100, 100)
    assert _counts(router.state(), "received", "acked", "dropped_at_exit") == (100, 100, 0)


@pytest.mark.parametrize(("settings", "message"), [
    ({"PT_SINK_PORT": ""}, "PT_SINK_PORT is required: the port of the sink's Forward input"),
    ({"PT_SINK_PORT": "70000"}, "PT_SINK_PORT must be an integer from 1 to 65535, got '70000'"),
    ({"PT_FLUSH_INTERVAL": "soon"}, "PT_FLUSH_INTERVAL must be a number of seconds > 0, "
                                    "got 'soon'"),
    ({"PT_GRACE": "-1"}, "PT_GRACE must be a number of seconds >= 0, got '-1'"),
    ({"PT_ROTATE_WAIT": "-1"}, "PT_ROTATE_WAIT must be a number of seconds >= 0, got '-1'"),
    ({"PT_REQUIRE_ACK": "maybe"}, "PT_REQUIRE_ACK must be true or false, got 'maybe'"),
    ({"PT_BUFFER_LIMIT": "0"}, "PT_BUFFER_LIMIT must be an integer from 1 to 1099511627776, "
                               "got '0'"),
    ({"PT_TAIL_FORMAT": "syslog"}, "PT_TAIL_FORMAT must be one of raw, docker, got 'syslog'"),
    ({"PT_ROUTER_UNIX": "", "PT_ROUTER_PORT": ""},
     "PT_ROUTER_UNIX, PT_ROUTER_PORT and PT_TAIL_PATH are all empty: no input"),
])
def test_a_bad_setting_exits_2_with_one_line(state_dir: Path, settings: dict,
                                              message: str) -> None:
    env = {"PYTHONPATH": str(ROOT), "PT_ROUTER_UNIX": str(state_dir / "fluent.sock"),
           "PT_ROUTER_PORT": "0", "PT_SINK_PORT": "24224", "PT_STATE_DIR": str(state_dir),
           **settings}
    done = subprocess.run([sys.executable, str(ROUTER)], env=env, capture_output=True,
                          text=True, timeout=WAIT)
    assert (done.returncode, done.stderr) == (2, f"router: {message}\n")
    assert not (state_dir / "router.json").exists()


def _append(path: Path, seqs: range) -> None:
    with open(path, "a") as out:
        out.write("".join(_line(seq) + "\n" for seq in seqs))


def test_the_tail_follows_rename_rotations_without_losing_a_line(
        sink: Sink, start: Callable, state_dir: Path) -> None:
    log = state_dir / "app.log"
    router = start(sink.port, PT_TAIL_PATH=str(log), PT_ROUTER_UNIX="", PT_ROUTER_PORT="")
    for first in range(0, 1000, 200):  # five files of 200 lines, each renamed away when full
        _append(log, range(first, first + 150))
        router.wait_count("received", first + 150)
        _append(log, range(first + 150, first + 200))  # written just before the rename
        os.replace(log, state_dir / f"app.log.{first}")
    _append(log, range(1000, 1100))
    router.wait_count("acked", 1100)
    final = router.stop()
    assert _lines(sink) == (1100, 1100)
    assert _counts(final, "received", "acked", "tail_rotations") == (1100, 1100, 5)


@pytest.mark.parametrize("rotate_wait", ["5", "0"])
def test_a_file_rotated_away_and_deleted_while_the_tail_stalled_is_lost_exactly(
        sink: Sink, start: Callable, state_dir: Path, rotate_wait: str) -> None:
    """The tail holds file A; while it is stopped (SIGSTOP), A is renamed to app.log.1, B is
    written and renamed over app.log.1 (A deleted, only the tail's descriptor keeps it), C is
    written at the path. Resumed, the tail reads on in A (its rest is one read, so rotate_wait
    0 reads it too), then opens the file at the path, C: B is lost, exactly the lines between
    two boundaries."""
    log, rotated = state_dir / "app.log", state_dir / "app.log.1"
    router = start(sink.port, PT_TAIL_PATH=str(log), PT_ROUTER_UNIX="", PT_ROUTER_PORT="",
                   PT_ROTATE_WAIT=rotate_wait)
    _append(log, range(0, 100))
    router.wait_count("received", 100)
    router.proc.send_signal(signal.SIGSTOP)
    _append(log, range(100, 200))  # A's rest
    os.replace(log, rotated)
    _append(log, range(200, 300))  # B
    os.replace(log, rotated)
    _append(log, range(300, 400))  # C
    router.proc.send_signal(signal.SIGCONT)
    router.wait_count("acked", 300)
    final = router.stop()
    ledger, _ = sink.stop()
    report = reconcile(ledger, [400], [-1])
    assert [(r.first, r.last) for r in report.lost_ranges] == [(200, 299)]
    assert _counts(final, "received", "acked", "tail_rotations") == (300, 300, 1)

