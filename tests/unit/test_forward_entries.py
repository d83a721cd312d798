"""PackedForward and Forward entries: the column-at-a-time checks agree with checking each entry,
and packed entries cut anywhere but between two entries are refused."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_tests._container import forward as fw
from pipeline_tests._container import forward_entries as fe

EVENT = slice(0, bytes(8))  # EventTime as the decoder's ext_hook gives it
TIMES = [1, 1.5, EVENT, slice(0, bytes(7)), slice(0, bytes(9)), slice(1, bytes(8)),
         [EVENT, {}], [EVENT, 1], [slice(0, bytes(7)), {}], b"t", None, True]
VALUES = st.one_of(st.sampled_from(TIMES), st.just({"log": b"x"}), st.just({}),
                   st.none(), st.integers(-3, 3), st.binary(max_size=3))
ENTRY = st.one_of(st.lists(VALUES, max_size=3),
                  st.tuples(st.sampled_from(TIMES), st.just({b"log": b"y"})).map(list),
                  st.dictionaries(st.integers(0, 2), VALUES, max_size=2), st.binary(max_size=3),
                  st.integers(0, 2))


def _outcome(check: object, entries: list) -> tuple:
    try:
        records = check(entries)  # type: ignore[operator]
    except fw.FrameError as exc:
        return ("error", exc.kind, str(exc))
    return ("records", [id(r) for r in records])


@settings(max_examples=400, deadline=None)
@given(st.lists(ENTRY, max_size=6))
def test_columns_agree_with_one_entry_at_a_time(entries: list) -> None:
    assert _outcome(fe.records_of, entries) == _outcome(fe._records_one_by_one, entries)


@pytest.mark.parametrize("entries", [
    [[5], [{}, 7, {}]],  # two bad entries whose items line up as two good ones
    [[EVENT, {}, {}]],
    [[EVENT]],
    [b"ab"],
    [[EVENT, {}], [slice(0, bytes(7)), {}]],
    [[EVENT, {}], [slice(3, bytes(8)), {}]],
    [[1, {}], [[slice(0, bytes(9)), {}], {}]],
])
def test_entries_that_only_line_up_are_refused(entries: list) -> None:
    with pytest.raises(fw.FrameError):
        fe.records_of(entries)


def test_good_entries_of_every_time_kind_give_their_records() -> None:
    records = [{b"log": bytes([i])} for i in range(5)]
    entries = [[EVENT, records[0]], [1, records[1]], [2.5, records[2]],
               [[EVENT, {b"m": 1}], records[3]], [EVENT, None], [EVENT, records[4]]]
    assert fe.records_of(entries) == records


def test_packed_entries_cut_anywhere_but_between_entries_are_refused() -> None:
    ext = msgpack.ExtType(5, b"q")  # an ext inside a record is no time: kept as it is
    parts = [fw.pack_entries([(1_700_000_000_000_000_001, {"log": "a" * 20, "x": ext})]),
             msgpack.packb([1, None]),  # a nil record: dropped
             fw.pack_entries([(1_700_000_000_000_000_002, {"log": "b"})], "ext8")]
    blob = b"".join(parts)
    # records at each entry boundary: none, then a, a (the nil dropped), a and b
    ends = [len(b"".join(parts[:i])) for i in range(4)]
    expected = dict(zip(ends, [0, 1, 1, 2], strict=True))
    for cut in range(len(blob) + 1):
        decoder, out = fw.Decoder(raw=True), []
        frame = msgpack.packb(["app", blob[:cut], {"chunk": "c"}])
        if cut in expected:
            assert decoder.records(frame, out) == [b"c"]
            assert [r[b"log"][:1] for r in out] == [b"a", b"b"][:expected[cut]]
        else:
            with pytest.raises(fw.FrameError, match="middle of an entry"):
                decoder.records(frame, out)
            assert out == []
