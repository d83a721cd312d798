"""The Forward codec: every mode and time format, chunking, limits, malformed input, handshake."""

from __future__ import annotations

import gzip

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_tests._container import forward as fw

T0 = 1_700_000_000_123_456_789
ENTRIES = [(T0 + i, {"log": f"line {i}", "n": i}) for i in range(5)]
MODES = ["message", "forward", "packed", "packed_str", "compressed", "compressed3"]
FORMATS = ["event", "ext8", "int"]


def _expected_time(time_ns: int, time_format: str) -> int:
    return time_ns // 10**9 * 10**9 if time_format == "int" else time_ns


def _encode(mode: str, entries: list, option: dict | None, time_format: str) -> bytes:
    if mode == "message":
        return b"".join(fw.encode_message("app", t, r, option, time_format) for t, r in entries)
    if mode == "forward":
        return fw.encode_forward("app", entries, option, time_format)
    if mode.startswith("packed"):
        return fw.encode_packed("app", entries, option, mode == "packed_str", time_format)
    return fw.encode_compressed("app", entries, option, 3 if mode == "compressed3" else 1,
                                time_format)


@pytest.mark.parametrize("time_format", FORMATS)
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_and_time_format_decodes(mode: str, time_format: str) -> None:
    data = _encode(mode, ENTRIES, {"chunk": "c1"}, time_format)
    batches = fw.Decoder().batches(data)
    entries = [e for b in batches for e in b.entries]
    assert entries == [(_expected_time(t, time_format), r) for t, r in ENTRIES]
    assert {b.tag for b in batches} == {"app"}
    assert all(b.option["chunk"] == "c1" for b in batches)

    records: list = []
    chunks = fw.Decoder(raw=True).records(data, records)
    assert [r[b"log"] for r in records] == [f"line {i}".encode() for i in range(5)]
    assert chunks == [b"c1"] * len(batches)


def test_ext8_event_time_bytes_are_the_long_form() -> None:
    seconds_nanos = (1_700_000_000).to_bytes(4, "big") + (123_456_789).to_bytes(4, "big")
    assert fw.pack_time(T0, "ext8") == b"\xc7\x08\x00" + seconds_nanos
    assert fw.pack_time(T0, "event") == b"\xd7\x00" + seconds_nanos
    assert fw.event_time_ns(fw.event_time(T0)) == T0
    assert fw.event_time_ns(1_700_000_000) == 1_700_000_000 * 10**9


def test_compressed_with_three_gzip_members_really_has_three() -> None:
    data = fw.encode_compressed("app", ENTRIES, None, members=3)
    blob = msgpack.unpackb(data)[1]
    assert blob.count(b"\x1f\x8b\x08") == 3
    assert gzip.decompress(blob) == fw.pack_entries(ENTRIES)


def test_many_messages_per_read_and_heartbeats_between() -> None:
    one = fw.encode_message("app", T0, {"log": "x"}, {})
    data = msgpack.packb(None) + one * 3 + msgpack.packb(None) + one
    decoder = fw.Decoder()
    records: list = []
    assert decoder.records(data, records) == []
    assert len(records) == 4
    assert decoder.frames == 4


def test_message_without_option_and_nil_record() -> None:
    data = msgpack.packb(["app", 1, {"log": "a"}]) + msgpack.packb(["app", 1, None, {}])
    records: list = []
    fw.Decoder().records(data, records)
    assert records == [{"log": "a"}]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
       st.sampled_from(MODES))
def test_any_split_points_give_the_same_records(cuts: list[int], mode: str) -> None:
    data = _encode(mode, ENTRIES, {"chunk": "k"}, "event") * 2
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    decoder = fw.Decoder()
    records: list = []
    chunks: list = []
    for piece in pieces:
        chunks += decoder.records(piece, records)
    decoder.finish()
    assert records == [r for _, r in ENTRIES] * 2
    assert len(chunks) == (10 if mode == "message" else 2)


def test_frame_over_the_limit_is_refused_even_when_incomplete() -> None:
    decoder = fw.Decoder(max_frame_bytes=1024)
    big = fw.encode_message("app", T0, {"log": "x" * 5000})
    with pytest.raises(fw.FrameError, match="max_frame_bytes"):
        decoder.records(big[:3000], [])


def test_truncated_message_is_reported_at_eof() -> None:
    decoder = fw.Decoder()
    decoder.records(fw.encode_message("app", T0, {"log": "x"})[:-1], [])
    with pytest.raises(fw.FrameError, match="middle of a message"):
        decoder.finish()


MALFORMED = [
    b"\xc1",  # never-used msgpack byte
    msgpack.packb(42),
    msgpack.packb({"log": "not in an array"}),
    msgpack.packb([1, 2, {}]),  # tag not a string
    msgpack.packb(["app"]),
    msgpack.packb(["app", 1]),
    msgpack.packb(["app", 1, [1, 2]]),  # record not a map
    msgpack.packb(["app", 1, {}, 7]),  # option not a map
    msgpack.packb(["app", [[1]]]),  # entry not [time, record]
    msgpack.packb(["app", [[1, "x"]]]),
    msgpack.packb(["app", {"a": 1}]),
    msgpack.packb(["app", b"\x92\x01"]),  # packed entries cut short
    msgpack.packb(["app", b"garbage", {"compressed": "gzip"}]),
    msgpack.packb(["app", gzip.compress(b"\x92\x01")[:-4], {"compressed": "gzip"}]),
    msgpack.packb(["app", b"", {"compressed": "zstd"}]),
    msgpack.packb(["app", [], {}, {}]),
]


@pytest.mark.parametrize("data", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_input_raises_frame_error(data: bytes) -> None:
    with pytest.raises(fw.FrameError):
        fw.Decoder().records(data, [])
    with pytest.raises(fw.FrameError):
        fw.Decoder().batches(data)


def test_zip_bomb_is_refused() -> None:
    bomb = msgpack.packb(["app", gzip.compress(b"\x00" * (2 << 20)), {"compressed": "gzip"}])
    with pytest.raises(fw.FrameError, match="exceed"):
        fw.Decoder(max_frame_bytes=64 * 1024).records(bomb, [])


def test_ack_reply_round_trip() -> None:
    assert fw.ack_chunk(fw.Decoder().objects(fw.ack_reply("abc=="))[0]) == "abc=="
    assert fw.ack_chunk(["not", "an", "ack"]) is None


def test_handshake_with_the_right_key() -> None:
    server = fw.ServerHandshake("secret", hostname="sink", nonce=b"n" * 16)
    client = fw.ClientHandshake("secret", hostname="app", salt=b"s" * 16)
    helo = fw.Decoder().objects(server.helo())[0]
    assert helo == ["HELO", {"nonce": b"n" * 16, "auth": b"", "keepalive": True}]
    ping = fw.Decoder().objects(client.ping(helo))[0]
    pong_bytes, accepted = server.answer(ping)
    assert accepted
    pong = fw.Decoder().objects(pong_bytes)[0]
    assert pong[:4] == ["PONG", True, "", "sink"]
    client.check_pong(pong)


def test_handshake_with_a_wrong_key_is_refused_both_ways() -> None:
    server = fw.ServerHandshake("secret")
    client = fw.ClientHandshake("guess")
    helo = fw.Decoder().objects(server.helo())[0]
    pong_bytes, accepted = server.answer(fw.Decoder().objects(client.ping(helo))[0])
    assert not accepted
    pong = fw.Decoder().objects(pong_bytes)[0]
    assert pong == ["PONG", False, "shared_key mismatch", "", ""]
    with pytest.raises(fw.HandshakeError, match="refused"):
        client.check_pong(pong)
    # A server with another key answers with a digest the client rejects.
    other = fw.ServerHandshake("guess")
    client2 = fw.ClientHandshake("secret")
    ping2 = client2.ping(fw.Decoder().objects(other.helo())[0])
    honest = fw.ServerHandshake("secret", nonce=other.nonce)
    pong2 = fw.Decoder().objects(honest.answer(fw.Decoder().objects(ping2)[0])[0])[0]
    pong2[4] = "0" * 128
    with pytest.raises(fw.HandshakeError, match="digest"):
        client2.check_pong(pong2)


def test_first_leaves_the_rest_buffered() -> None:
    decoder = fw.Decoder(raw=True)
    data = msgpack.packb(["PING", "h", "s", "d", "", ""]) + fw.encode_message("a", T0, {"log": 1})
    found, ping = decoder.first(data)
    assert found and ping[0] == b"PING"
    records: list = []
    decoder.records(b"", records)
    assert records == [{b"log": 1}]


def test_decoded_ext_values_inside_records_round_trip() -> None:
    record = {"t": msgpack.ExtType(5, b"abc")}
    batches = fw.Decoder().batches(fw.encode_message("app", T0, record))
    assert msgpack.unpackb(fw.pack(batches[0].entries[0][1])) == record


def test_fluent_bit_metadata_entries_are_batched_as_records_reads_them() -> None:
    # Fluent Bit 2.1+ (5.1.1 here) sends [[EventTime, {metadata}], record]: the builtin router
    # (batches) takes them as the sink (records) does, not as a malformed frame.
    event = msgpack.ExtType(0, (1_700_000_000).to_bytes(4, "big") + (5).to_bytes(4, "big"))
    data = msgpack.packb(["app", [[[event, {}], {"log": "a"}], [[event, {"k": 1}], {"log": "b"}]],
                          {"chunk": "c1"}])
    (batch,) = fw.Decoder().batches(data)
    assert batch.entries == [(1_700_000_000_000_000_005, {"log": "a"}),
                             (1_700_000_000_000_000_005, {"log": "b"})]
    with pytest.raises(fw.FrameError, match="got list"):
        fw.Decoder().batches(msgpack.packb(["app", [[[event, "x"], {"log": "a"}]]]))
