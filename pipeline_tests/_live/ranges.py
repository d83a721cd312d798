"""The loss map's ranges: which seqs of a stream arrived, from the sink's bitmap of them."""

from __future__ import annotations

from pipeline_tests._ledger.lost_ranges import lost_ranges

MAP_CELLS = 1000  # the loss map's resolution: seqs per stream are folded to about this many


def received_ranges(bits: bytes, emitted: int, resolution: int = 1) -> list[tuple[int, int]]:
    """Inclusive (first, last) ranges of seqs 0..emitted-1 whose bit is set; gaps shorter than
    `resolution` are folded into the received ranges around them."""
    ranges: list[tuple[int, int]] = []
    start = 0
    for gap in lost_ranges(0, bytearray(bits), emitted):
        if gap.last - gap.first + 1 < resolution and gap.first > 0 and gap.last < emitted - 1:
            continue
        if gap.first > start:
            ranges.append((start, gap.first - 1))
        start = gap.last + 1
    if start < emitted:
        ranges.append((start, emitted - 1))
    return ranges
