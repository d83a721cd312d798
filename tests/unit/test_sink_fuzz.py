"""Random and mutated frames thrown at the decoder and at a running sink, next to a good client."""

from __future__ import annotations

import random
import socket
import threading
import time

import msgpack
from fluent import sender

from pipeline_tests._container import forward as fw
from pipeline_tests._container.line import encode
from pipeline_tests._ledger.ledger import Ledger
from pipeline_tests._sink import Sink, SinkConfig, lines_of

RUN = "a1b2c3d4"
# Differs from RUN at every position: no handful of byte mutations turns one into the other.
FUZZ_RUN = "99999999"
FRAMES = 100_000
PER_CONNECTION = 50
GOOD_LINES = 5000
SEED = 20240611


def _seeds(rng: random.Random) -> list[bytes]:
    now = time.time_ns()
    entries = [(now, {"log": encode(FUZZ_RUN, 1, i, now, 80).decode()}) for i in range(3)]
    record = entries[0][1]
    return [
        fw.encode_message("t", now, record, {}),
        fw.encode_message("t", now, record, {"chunk": "abc"}, "ext8"),
        fw.encode_message("t", now, record, None, "int"),
        fw.encode_forward("t", entries, {"chunk": "f"}),
        fw.encode_packed("t", entries),
        fw.encode_packed("t", entries, as_str=True),
        fw.encode_compressed("t", entries, members=2),
        msgpack.packb(None),
        msgpack.packb({b"log": b"x"}),
        b"\xdb\xff\xff\xff\xff",  # str of 4 GiB declared
        b"\xdd\x00\x00\xff\xff",  # array of 65535 elements declared
    ]


def _mutate(frame: bytes, rng: random.Random) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if action == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif action == 1:
            del data[at:]
        elif action == 2:
            data[at:at] = rng.randbytes(rng.randint(1, 8))
        elif action == 3 and data:
            data[min(at, len(data) - 1)] = rng.choice(b"\xc0\xc1\xc4\xd7\xc7\xdc\xde\x90\x80")
        elif action == 4:
            del data[at:at + rng.randint(1, 8)]
        else:
            data += rng.randbytes(rng.randint(0, 16))
    return bytes(data)


def _frames(count: int) -> list[bytes]:
    rng = random.Random(SEED)
    seeds = _seeds(rng)
    frames = []
    for _ in range(count):
        if rng.random() < 0.15:
            frames.append(rng.randbytes(rng.randint(1, 40)))
        else:
            frames.append(_mutate(rng.choice(seeds), rng))
    return frames


def test_decoder_and_ledger_path_raise_only_frame_error_on_100k_frames() -> None:
    # The same path as a sink worker's, in process, so any other exception fails the test.
    outcomes = {"ok": 0, "frame_error": 0}
    ledger = Ledger(RUN)
    for frame in _frames(FRAMES):
        decoder = fw.Decoder(max_frame_bytes=64 * 1024, raw=True)
        records: list = []
        try:
            decoder.records(frame, records)
            decoder.finish()
            outcomes["ok"] += 1
        except fw.FrameError:
            outcomes["frame_error"] += 1
        ledger.add_many(lines_of(records), time.time_ns())
    assert outcomes["ok"] + outcomes["frame_error"] == FRAMES
    assert ledger.received_total == 0
    assert outcomes["ok"] > 1000 and outcomes["frame_error"] > 1000


def _throw(port: int, batches: list[bytes]) -> None:
    for batch in batches:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            try:
                conn.sendall(batch)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):  # until the sink closes: ours or its own doing
                    pass
            except OSError:
                pass  # reset by the sink after a bad frame: expected


def test_sink_survives_100k_bad_frames_and_counts_the_good_client_exactly() -> None:
    frames = _frames(FRAMES)
    batches = [b"".join(frames[i:i + PER_CONNECTION]) for i in range(0, FRAMES, PER_CONNECTION)]
    with Sink.start(SinkConfig(run_id=RUN, max_frame_bytes=64 * 1024)) as sink:
        threads = [threading.Thread(target=_throw, args=(sink.port, batches[k::4]))
                   for k in range(4)]
        for thread in threads:
            thread.start()
        good = sender.FluentSender("app", host="127.0.0.1", port=sink.port)
        for seq in range(GOOD_LINES):
            assert good.emit("out", {"log": encode(RUN, 0, seq, time.time_ns(), 200).decode()})
        for thread in threads:
            thread.join()
        # Still serving after the storm.
        assert good.emit("out", {"log": encode(RUN, 0, GOOD_LINES, time.time_ns(), 200).decode()})
        good.close()
        deadline = time.monotonic() + 30
        while sink.stats().connections < len(batches) + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        ledger, stats = sink.stop()
    assert (ledger.distinct, ledger.received_total) == (GOOD_LINES + 1, GOOD_LINES + 1)
    assert stats.connections == len(batches) + 1
    assert stats.malformed > len(batches) // 2
