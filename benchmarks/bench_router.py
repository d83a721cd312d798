"""Ingest capacity of the builtin router (fixtures/router.py), in records/s, to a real sink.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_router.py [--records 200000] [--clients 1]

Two inputs, 400-character lines:
- `docker-unix`: Message mode over the unix socket, one event per write, option {} (as Docker's
  fluentd driver sends); frames are encoded before the clock starts, so the client costs little.
- `fluent-logger-tcp`: the real fluent-logger sync sender over TCP (its own cost included).
- `tail-file`: lines appended to the file the router's tail input follows (PT_TAIL_PATH); the
  writer never waits, so only "end-to-end" says how fast the tail reads.
Clients block once the router stops reading, so "ingest" (records / time the clients took) is the
router's pace plus a few hundred KB of socket buffers; "end-to-end" waits until the sink has all.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fluent import sender  # noqa: E402

from pipeline_tests._container import forward as fw  # noqa: E402
from pipeline_tests._container.line import encode, new_run_id  # noqa: E402
from pipeline_tests._sink import Sink, SinkConfig  # noqa: E402

LINE_SIZE = 400


def _docker_client(path: str, run: str, stream: int, count: int,
                   out: multiprocessing.Queue) -> None:
    frames = [fw.encode_message("docker.app", time.time_ns(), {
        "container_id": "c" * 64, "container_name": "/app", "source": "stdout",
        "log": encode(run, stream, seq, time.time_ns(), LINE_SIZE).decode()}, {})
        for seq in range(count)]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    started = time.monotonic()
    for frame in frames:
        conn.sendall(frame)
    conn.close()
    out.put((started, time.monotonic()))


def _fluent_logger_client(port: int, run: str, stream: int, count: int,
                          out: multiprocessing.Queue) -> None:
    lines = [encode(run, stream, seq, time.time_ns(), LINE_SIZE).decode() for seq in range(count)]
    client = sender.FluentSender("app", host="127.0.0.1", port=port)
    started = time.monotonic()
    for line in lines:
        client.emit("out", {"log": line})
    client.close()
    out.put((started, time.monotonic()))


def _file_client(path: str, run: str, stream: int, count: int,
                 out: multiprocessing.Queue) -> None:
    data = b"".join(encode(run, stream, seq, time.time_ns(), LINE_SIZE) + b"\n"
                    for seq in range(count))
    started = time.monotonic()
    with open(path, "ab") as log:
        log.write(data)
    out.put((started, time.monotonic()))


def _measure(name: str, client: Callable, target: object, run: str, first_stream: int,
             clients: int, records: int, sink: Sink) -> None:
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()
    before = sink.live_records()
    total = records * clients
    procs = [ctx.Process(target=client, args=(target, run, first_stream + i, records, out))
             for i in range(clients)]
    for proc in procs:
        proc.start()
    spans = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    ingest = max(end for _, end in spans) - min(start for start, _ in spans)
    while sink.live_records() - before < total:
        time.sleep(0.005)
    end_to_end = time.monotonic() - min(start for start, _ in spans)
    print(f"{name:18} {clients} client(s) {total:>9,} records  ingest {total / ingest:>9,.0f}/s "
          f"({ingest:6.2f} s)  end-to-end {total / end_to_end:>9,.0f}/s ({end_to_end:6.2f} s)",
          flush=True)


def _start_router(state_dir: Path, sink_port: int) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PT_ROUTER_UNIX=str(state_dir / "fluent.sock"),
               PT_ROUTER_PORT="0", PT_SINK_PORT=str(sink_port), PT_STATE_DIR=str(state_dir),
               PT_TAIL_PATH=str(state_dir / "app.log"))
    command = os.environ.get("BENCH_ROUTER_CMD", sys.executable).split()
    proc = subprocess.Popen([*command, str(ROOT / "fixtures" / "router.py")], env=env)
    state: dict = {}
    while not state.get("ready"):
        if proc.poll() is not None:
            raise SystemExit(f"the router exited with {proc.returncode}")
        time.sleep(0.01)
        with suppress(FileNotFoundError, json.JSONDecodeError):
            state = json.loads((state_dir / "router.json").read_text())
    return proc, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records per client")
    parser.add_argument("--clients", type=int, default=1, help="concurrent clients per input")
    args = parser.parse_args()
    run = new_run_id()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, lines of {LINE_SIZE} "
          f"characters, router defaults (flush 1 s, require_ack)", flush=True)
    with tempfile.TemporaryDirectory(prefix="ptb", dir="/tmp") as tmp, \
            Sink.start(SinkConfig(run_id=run)) as sink:
        router, state = _start_router(Path(tmp), sink.port)
        try:
            _measure("docker-unix", _docker_client, state["unix_path"], run, 0, args.clients,
                     args.records, sink)
            _measure("fluent-logger-tcp", _fluent_logger_client, state["tcp_port"], run, 100,
                     args.clients, args.records, sink)
            # One file: several writers would interleave their lines inside it.
            _measure("tail-file", _file_client, str(Path(tmp) / "app.log"), run, 200, 1,
                     args.records, sink)
        finally:
            router.send_signal(signal.SIGTERM)
            router.wait()
        final = json.loads((Path(tmp) / "router.json").read_text())
        ledger, _ = sink.stop()
    print(f"router: received {final['received']:,} acked {final['acked']:,} dropped "
          f"{final['dropped_full'] + final['dropped_at_exit']:,}; sink: {ledger.distinct:,} "
          f"distinct of {ledger.received_total:,}")


if __name__ == "__main__":
    main()
