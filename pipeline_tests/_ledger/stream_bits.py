"""The seqs one stream's lines arrived with: one bit per seq in a growing bytearray (100 million
seqs in 12.5 MB, at most 25% slack), the highest seq seen (for reorders), and a set for absurd
seqs beyond the bitmap. Mutable state inside a Ledger; standard library only."""

from __future__ import annotations

# Seqs past this are not put in the bitmap (it would take 128 MB to reach them): a garbage line
# must not make the sink allocate gigabytes. A real stream never gets there; such ids are kept in
# a set and reported as unexpected.
MAX_BITMAP_SEQ = 1 << 30


class StreamBits:
    """Mutable per-stream state: the seqs seen, as bits, and the highest seq seen."""

    __slots__ = ("bits", "high", "far")

    def __init__(self) -> None:
        self.bits = bytearray()
        self.high = -1
        self.far: set[int] = set()  # seqs >= MAX_BITMAP_SEQ

    def grow(self, index: int) -> None:
        # Grow by a quarter at least: amortised O(1), and at most 25% slack (32 MB budget).
        size = len(self.bits)
        self.bits.extend(bytes(max(index + 1 - size, size // 4 + 4096)))

    def add(self, seq: int) -> int:
        """Record one seq; 1 when it arrived after a higher one (reordered), else 0."""
        if seq < MAX_BITMAP_SEQ:
            bits = self.bits
            try:
                bits[seq >> 3] |= 1 << (seq & 7)
            except IndexError:  # rare (amortised growth): cheaper than a length test
                self.grow(seq >> 3)
                bits[seq >> 3] |= 1 << (seq & 7)
        else:
            self.far.add(seq)
        if seq < self.high:
            return 1
        self.high = seq
        return 0

    def add_run(self, first: int, end: int) -> int:
        """Record seqs first..end-1 arriving in that order; the number of them reordered."""
        if (end - 1) >> 3 >= len(self.bits):
            self.grow((end - 1) >> 3)
        bits = self.bits
        full_first, full_end = (first + 7) & ~7, end & ~7
        if full_first < full_end:  # whole bytes at once; the ragged ends bit by bit below
            bits[full_first >> 3:full_end >> 3] = b"\xff" * ((full_end - full_first) >> 3)
            ragged = (*range(first, full_first), *range(full_end, end))
        else:
            ragged = tuple(range(first, end))
        for seq in ragged:
            bits[seq >> 3] |= 1 << (seq & 7)
        # Each seq is below the running highest exactly when it is below the highest before.
        reordered = max(0, min(end, self.high) - first)
        self.high = max(self.high, end - 1)
        return reordered


def add_seqs(streams: list[StreamBits], seqs: list[int]) -> int:
    """Record each seq in its stream; the number of reordered arrivals."""
    return sum(stream.add(seq) for stream, seq in zip(streams, seqs, strict=True))
