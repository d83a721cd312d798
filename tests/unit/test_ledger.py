"""The ledger must be exact: every report is compared with a naive set-based model."""

from __future__ import annotations

import math
import pickle
import random
from dataclasses import dataclass, field

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_tests._container import line
from pipeline_tests._container.tally import NO_STOP
from pipeline_tests._ledger import latency
from pipeline_tests._ledger.ledger import MAX_BITMAP_SEQ, Ledger, LedgerReport, LostRange, reconcile
from pipeline_tests._ledger.wire import ledger_bytes, ledger_from

RUN = "0badcafe"
OTHER = "feedf00d"
SIZE = 80
MS = 1_000_000


def ours(stream: int, seq: int, emit_ns: int = 0, run: str = RUN) -> bytes:
    return line.encode(run, stream, seq, emit_ns, SIZE)


# --- examples with exact numbers ---------------------------------------------------------------


def test_loss_duplicate_and_stop_example() -> None:
    ledger = Ledger(RUN)
    arrivals = [0, 1, 2, 6, 7, 7, 7, 9, 8]  # 3-5 lost, 7 three times (two duplicates)
    ledger.add_many([ours(0, seq) for seq in arrivals], recv_ns=5 * MS)
    report = reconcile(ledger, emitted=[10], stop_seq=[4])
    assert report == LedgerReport(
        emitted=10, received_total=9, received_distinct=7, lost=3, duplicates=2, reordered=1,
        lost_ranges=(LostRange(0, 3, 5),), lost_before_stop=1, lost_after_stop=2,
        latency_p50_ms=report.latency_p50_ms, latency_p99_ms=report.latency_p99_ms, foreign=0,
        unparsable=0, unexpected=0)
    assert report.latency_p50_ms == pytest.approx(5.0, rel=0.005)
    assert reconcile(ledger, [10], [6]).lost_before_stop == 3
    assert reconcile(ledger, [10], [NO_STOP]).lost_after_stop == 0


def test_block_lost_at_the_end_after_stop() -> None:
    # The FireLens shape: one unbroken block at the end, partly emitted after SIGTERM.
    ledger = Ledger(RUN)
    ledger.add_many([ours(0, seq) for seq in range(900)], recv_ns=0)
    report = reconcile(ledger, emitted=[1000], stop_seq=[950])
    assert report.lost_ranges == (LostRange(0, 900, 999),)
    assert (report.lost, report.lost_before_stop, report.lost_after_stop) == (100, 50, 50)
    assert (report.received_distinct, report.duplicates, report.reordered) == (900, 0, 0)


def test_loss_and_duplicate_in_two_workers_do_not_cancel() -> None:
    first, second = Ledger(RUN), Ledger(RUN)
    first.add_many([ours(0, seq) for seq in (0, 1, 2)], recv_ns=0)
    second.add_many([ours(0, seq) for seq in (2, 4)], recv_ns=0)  # 3 lost, 2 duplicated
    first.merge(second)
    report = reconcile(first, [5], [NO_STOP])
    assert (report.received_total, report.received_distinct) == (5, 4)
    assert (report.lost, report.duplicates, report.lost_ranges) == (1, 1, (LostRange(0, 3, 3),))


def test_several_streams_and_ranges() -> None:
    ledger = Ledger(RUN)
    ledger.add_many([ours(0, seq) for seq in range(20) if seq not in (0, 8, 9, 19)], 0)
    ledger.add_many([ours(2, seq) for seq in (1, 0)], 0)
    report = reconcile(ledger, emitted=[20, 3, 2], stop_seq=[9, NO_STOP, 0])
    assert report.lost_ranges == (LostRange(0, 0, 0), LostRange(0, 8, 9), LostRange(0, 19, 19),
                                  LostRange(1, 0, 2))
    assert (report.lost, report.lost_before_stop, report.lost_after_stop) == (7, 5, 2)
    assert report.reordered == 1


def test_foreign_unparsable_and_unexpected() -> None:
    ledger = Ledger(RUN)
    good = ours(0, 1)
    ledger.add_many([
        good, good.decode(), ours(0, 1, run=OTHER), b"", b"hello", good[:49],
        good.replace(b":000000000001:", b":-00000000001:"),  # int() would take it as -1
        good[:16] + b"x" + good[17:],  # separator replaced
        ours(0, 7),  # never emitted: unexpected
        ours(3, 0),  # a stream the app does not have
        ours(0, MAX_BITMAP_SEQ + 5),  # far away: no bitmap growth, still unexpected
    ], recv_ns=0)
    assert (ledger.foreign, ledger.unparsable, ledger.received_total) == (1, 5, 5)
    assert ledger.streams[0].bits == bytearray(ledger.streams[0].bits)  # stays small
    assert len(ledger.streams[0].bits) < 10_000
    report = reconcile(ledger, [2], [NO_STOP])
    assert (report.received_total, report.received_distinct, report.duplicates) == (2, 1, 1)
    assert (report.unexpected, report.lost, report.lost_ranges) == (3, 1, (LostRange(0, 0, 0),))


def test_run_id_adopted_from_first_valid_line() -> None:
    ledger = Ledger()
    ledger.add_many([b"noise", ours(0, 0, run=OTHER), ours(0, 1)], 0)
    assert (ledger.run_id, ledger.received_total, ledger.foreign, ledger.unparsable) == (
        OTHER, 1, 1, 1)


def test_empty_ledger_reports_everything_lost() -> None:
    report = reconcile(Ledger(RUN), [3, 0], [1, NO_STOP])
    assert report.lost_ranges == (LostRange(0, 0, 2),)
    assert (report.lost, report.lost_before_stop, report.lost_after_stop) == (3, 1, 2)
    assert (report.latency_p50_ms, report.latency_p99_ms) == (None, None)


def test_latency_percentiles() -> None:
    ledger = Ledger(RUN)
    for seq in range(100):
        ledger.add(ours(0, seq, emit_ns=10**18), recv_ns=10**18 + (seq + 1) * MS)
    report = reconcile(ledger, [100], [NO_STOP])
    assert report.latency_p50_ms == pytest.approx(50.0, rel=0.005)
    assert report.latency_p99_ms == pytest.approx(99.0, rel=0.005)


def test_merge_refuses_other_run() -> None:
    with pytest.raises(ValueError, match="cannot merge"):
        Ledger(RUN).merge(Ledger(OTHER))


def test_pickled_ledger_keeps_counting() -> None:
    ledger = Ledger(RUN)
    ledger.add_many([ours(0, seq) for seq in (0, 2)], 0)
    copy = pickle.loads(pickle.dumps(ledger))
    copy.add_many([ours(0, 1), ours(0, 2)], 0)
    report = reconcile(copy, [3], [NO_STOP])
    assert (report.received_total, report.received_distinct, report.duplicates) == (4, 3, 1)
    assert (report.reordered, report.lost) == (1, 0)


def test_ledger_bytes_round_trip_keeps_every_figure() -> None:
    ledger = Ledger(RUN)
    far = MAX_BITMAP_SEQ + 5
    ledger.add_many([ours(0, seq, emit_ns=seq) for seq in (0, 2, 2, 1)], 10_000_000)
    ledger.add_many([ours(3, 7), ours(3, far), ours(0, 4, run=OTHER), b"junk"], 5)
    copy = ledger_from(ledger_bytes(ledger))
    for report in (reconcile(ledger, [5, 0, 0, 9], [NO_STOP] * 4),
                   reconcile(copy, [5, 0, 0, 9], [NO_STOP] * 4)):
        assert (report.received_total, report.received_distinct, report.duplicates,
                report.reordered, report.lost) == (5, 4, 1, 1, 10)
    assert (copy.foreign, copy.unparsable, copy.streams[3].far) == (1, 1, {far})
    assert (copy.latency_ms(0.5), copy.latency_ms(0.99)) == (
        ledger.latency_ms(0.5), ledger.latency_ms(0.99))
    copy.add_many([ours(0, 3)], 0)  # and it keeps counting
    assert reconcile(copy, [5], [NO_STOP]).received_distinct == 4


@pytest.mark.parametrize("data", [b"", b"\x93\x01\x02", msgpack.packb({"run_id": "x"}),
                                  msgpack.packb({"run_id": None, "received_total": 0,
                                                 "foreign": 0, "unparsable": 0,
                                                 "reordered": 0, "streams": {},
                                                 "latency": b"\x00" * 8})])
def test_bytes_that_are_no_ledger_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="^not a ledger: "):
        ledger_from(data)


def test_many_ids_few_ranges() -> None:
    ledger = Ledger(RUN)
    lines = line.encode_batch(RUN, 0, 0, 300_000, 0, line.MIN_LINE_SIZE).splitlines()
    missing = {5, 6, 7, 8, 9, 10, 11, 12, 13, 150_000, 299_999}
    ledger.add_many([text for seq, text in enumerate(lines) if seq not in missing], 0)
    report = reconcile(ledger, [300_000], [NO_STOP])
    assert report.lost_ranges == (LostRange(0, 5, 13), LostRange(0, 150_000, 150_000),
                                  LostRange(0, 299_999, 299_999))
    assert report.lost == 11


# --- property test against a naive model ---------------------------------------------------------


@dataclass
class Model:
    emitted: list[int]
    stop_seq: list[int]
    arrivals: dict[int, list[int]] = field(default_factory=dict)  # stream -> seqs, any order
    latencies: list[int] = field(default_factory=list)
    rank_slack: int = 0  # ranks a sampled batch may misplace: latency.count_sorted's bound
    reordered: int = 0
    foreign: int = 0
    unparsable: int = 0

    def expected(self) -> dict[str, object]:
        distinct = unexpected = total = 0
        ranges: list[LostRange] = []
        before = after = 0
        for stream in sorted(set(range(len(self.emitted))) | set(self.arrivals)):
            count = self.emitted[stream] if stream < len(self.emitted) else 0
            seen = set(self.arrivals.get(stream, []))
            total += len(self.arrivals.get(stream, []))
            distinct += len({seq for seq in seen if seq < count})
            unexpected += len({seq for seq in seen if seq >= count})
            missing = [seq for seq in range(count) if seq not in seen]
            stop = self.stop_seq[stream] if stream < len(self.stop_seq) else NO_STOP
            before += sum(1 for seq in missing if stop == NO_STOP or seq < stop)
            after += sum(1 for seq in missing if stop != NO_STOP and seq >= stop)
            for seq in missing:
                if ranges and ranges[-1].stream == stream and ranges[-1].last == seq - 1:
                    ranges[-1] = LostRange(stream, ranges[-1].first, seq)
                else:
                    ranges.append(LostRange(stream, seq, seq))
        all_distinct = sum(len(set(seqs)) for seqs in self.arrivals.values())
        return dict(emitted=sum(self.emitted), received_total=total - unexpected,
                    received_distinct=distinct, lost=sum(self.emitted) - distinct,
                    duplicates=total - all_distinct, reordered=self.reordered,
                    lost_ranges=tuple(ranges), lost_before_stop=before, lost_after_stop=after,
                    foreign=self.foreign, unparsable=self.unparsable, unexpected=unexpected)

    def quantile_ms(self, quantile: float, slack: int = 0) -> tuple[float, float] | None:
        """The exact quantile's value at rank r - slack and at rank r + slack, in ms."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(round(quantile * len(ordered), 6)))
        low, high = max(1, rank - slack), min(len(ordered), rank + slack)
        return max(ordered[low - 1], 0) / MS, max(ordered[high - 1], 0) / MS


def _garbage(rng: random.Random, valid: bytes) -> bytes | str:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 70))
    if kind == 1:
        return valid[:rng.randrange(0, 50)]
    if kind == 2:  # one byte of the prefix replaced by a non-digit, non-separator byte
        spot = rng.choice([0, 1, 2, 11, 16, 20, 29, 35, 49])
        return valid[:spot] + rng.choice([b"-", b" ", b"_", b"+", b"a"]) + valid[spot + 1:]
    if kind == 3:
        text = valid.decode()  # a lone surrogate in the seq: replaced by "?" on encoding
        return text[:20] + "\udcff" + text[21:]
    return "日本語" * rng.randrange(20)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Model, list[Ledger]]:
    # A seeded Random: hypothesis's own randoms() costs ~0.1 ms a call, too slow per line here.
    rng = random.Random(draw(st.integers(0, 2**32)))
    streams = draw(st.integers(1, 3))
    emitted = [draw(st.integers(0, 150)) for _ in range(streams)]
    stop_seq = [draw(st.sampled_from([NO_STOP, 0, count // 2, count])) for count in emitted]
    model = Model(emitted, stop_seq)
    loss, dup = draw(st.floats(0, 1)), draw(st.floats(0, 0.5))
    sent: list[tuple[int, int]] = []
    for stream, count in enumerate(emitted):
        for seq in range(count):
            if rng.random() >= loss:
                sent.extend([(stream, seq)] * (1 + (rng.random() < dup) * rng.randrange(1, 3)))
    for _ in range(draw(st.integers(0, 3))):  # should never happen, must be reported anyway
        sent.append((rng.randrange(streams + 1), rng.randrange(150, 400)))
    shuffle = draw(st.sampled_from(["none", "some", "all"]))
    if shuffle == "all":
        rng.shuffle(sent)
    elif shuffle == "some" and len(sent) > 1:
        for _ in range(len(sent) // 4):
            a, b = rng.randrange(len(sent)), rng.randrange(len(sent))
            sent[a], sent[b] = sent[b], sent[a]
    workers = [Ledger(RUN) for _ in range(draw(st.integers(1, 4)))]
    highest: dict[tuple[int, int], int] = {}
    batch: dict[int, list[bytes | str]] = {index: [] for index in range(len(workers))}
    clock = 10**18
    for stream, seq in sent:
        worker = rng.randrange(len(workers))
        emit_ns = clock - rng.randrange(0, 10**9)
        text = ours(stream, seq, emit_ns)
        batch[worker].append(text.decode() if rng.random() < 0.3 else text)
        model.arrivals.setdefault(stream, []).append(seq)
        if seq < highest.get((worker, stream), -1):
            model.reordered += 1
        highest[(worker, stream)] = max(seq, highest.get((worker, stream), -1))
        if rng.random() < 0.1:
            batch[worker].append(ours(stream, seq, run=OTHER))
            model.foreign += 1
        if rng.random() < 0.1:
            batch[worker].append(_garbage(rng, text))
            model.unparsable += 1
        if rng.random() < 0.2:  # flush: several add_many calls, each with its own recv time
            _flush(workers[worker], batch[worker], clock, rng, model)
            clock += rng.randrange(0, 10**8)
    for index, lines in batch.items():
        _flush(workers[index], lines, clock, rng, model)
    return model, [pickle.loads(pickle.dumps(worker)) for worker in workers]


def _flush(ledger: Ledger, lines: list[bytes | str], recv_ns: int, rng: random.Random,
           model: Model) -> None:
    for text in lines:
        parsed = line.parse(text)
        if parsed is not None and parsed.run_id == RUN:
            model.latencies.append(recv_ns - parsed.emit_ns)
    if rng.random() < 0.5:
        model.rank_slack += latency.rank_error(len(lines))
        ledger.add_many(list(lines), recv_ns)
    else:
        for text in lines:
            ledger.add(text, recv_ns)
    lines.clear()


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_report_matches_naive_model(case: tuple[Model, list[Ledger]]) -> None:
    model, workers = case
    merged = workers[0]
    for worker in workers[1:]:
        merged.merge(worker)
    report = reconcile(merged, model.emitted, model.stop_seq)
    expected = model.expected()
    assert {name: getattr(report, name) for name in expected} == expected
    assert sum(r.last - r.first + 1 for r in report.lost_ranges) == report.lost
    # Latency: every line counted exactly; a percentile within its documented bound (exact
    # ranks when no batch was sampled), to the histogram's bucket precision.
    assert sum(merged.latency) == len(model.latencies)
    for got, quantile in ((report.latency_p50_ms, 0.5), (report.latency_p99_ms, 0.99)):
        bound = model.quantile_ms(quantile, model.rank_slack)
        if bound is None:
            assert got is None
        else:
            assert bound[0] * 0.995 - 1e-6 <= got <= bound[1] * 1.005 + 1e-6


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 300), st.integers(1, 40)),
                min_size=1, max_size=8))
def test_batch_fast_paths_equal_line_by_line(batches: list[tuple[int, int, int]]) -> None:
    # Runs of consecutive seqs (a flood's batches) take add_run; mixed batches a per-seq loop.
    fast, slow = Ledger(RUN), Ledger(RUN)
    for stream, first, count in batches:
        lines = line.encode_batch(RUN, stream, first, count, 7, SIZE).splitlines()
        mixed = lines + [ours(stream ^ 1, first)] if count % 2 else lines
        fast.add_many(mixed, recv_ns=10)
        for text in mixed:
            slow._add_each([text], recv_ns=10)  # the reference: one line at a time
    emitted = [400] * 4
    assert reconcile(fast, emitted, [NO_STOP] * 4) == reconcile(slow, emitted, [NO_STOP] * 4)
    assert fast.reordered == slow.reordered and fast.distinct == slow.distinct


def _corrupt(lines: list[bytes], spot: int, kind: int) -> list[bytes | str]:
    bad: list[bytes | str] = list(lines)
    text = lines[spot]
    if kind == 0:
        bad[spot] = text[:35] + b"a" + text[36:]  # a letter in the emit time
    elif kind == 1:
        bad[spot] = text[:49] + b"x" + text[50:]  # no separator after the emit time
    elif kind == 2:
        bad[spot] = text.decode()  # a str line among bytes
    elif kind == 3:
        bad[spot] = text[:28] + b"9" + text[29:]  # a seq out of the run
    elif kind == 4:
        bad[spot] = text[:49]  # too short
    else:
        bad[spot] = ours(0, 0, run=OTHER)  # another run's line
    return bad


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 500), st.integers(1, 60), st.data())
def test_one_bad_line_in_a_flood_batch_is_counted_like_line_by_line(
        first: int, count: int, data: st.DataObject) -> None:
    lines = line.encode_batch(RUN, 0, first, count, 7, SIZE).splitlines()
    bad = _corrupt(lines, data.draw(st.integers(0, count - 1)), data.draw(st.integers(0, 5)))
    fast, slow = Ledger(RUN), Ledger(RUN)
    for ledger in (fast, slow):
        ledger.add(ours(0, 1000), 10)  # the stream is known: the flood path is tried
    fast.add_many(bad, recv_ns=10)
    for text in bad:
        slow.add(text, recv_ns=10)
    emitted = [1200]
    assert reconcile(fast, emitted, [NO_STOP]) == reconcile(slow, emitted, [NO_STOP])
    assert (fast.reordered, fast.foreign, fast.unparsable) == (
        slow.reordered, slow.foreign, slow.unparsable)


def test_flood_batch_with_spread_emit_times_counts_every_line() -> None:
    ledger = Ledger(RUN)
    ledger.add(ours(0, 0, emit_ns=10**18), 10**18)  # learn the stream
    lines = [ours(0, seq, emit_ns=10**18 + seq * MS) for seq in range(1, 1001)]
    ledger.add_many(lines, recv_ns=10**18 + 1001 * MS)  # latencies 1..1000 ms, one batch
    report = reconcile(ledger, [1001], [NO_STOP])
    assert (report.received_distinct, report.lost, sum(ledger.latency)) == (1001, 0, 1001)
    # 1000 lines, 32 samples: strata of 32 ranks, so p50 is within 31 ranks (ms) of 500 ms.
    assert latency.rank_error(1000) == 31
    assert 469 * 0.995 <= report.latency_p50_ms <= 531 * 1.005
