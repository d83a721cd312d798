"""The latency histogram of a Ledger: fixed log-scale buckets, so workers' histograms merge by
adding arrays, and percentiles come out to about 1%.

Values below 2**_BITS ns are exact; above, 2**(_BITS-1) buckets per power of two (at most 0.8%
apart), up to 2**63 ns. Standard library only, like the ledger.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

_BITS = 8
_HALF = 1 << (_BITS - 1)
BUCKETS = _HALF * (64 - _BITS + 2)
# A batch whose emit times spread over several buckets is counted from at most this many
# samples (see count_sorted): 32 int() parses instead of one per line.
SAMPLES = 32


def new_histogram() -> array:
    return array("q", bytes(8 * BUCKETS))


def bucket(latency_ns: int) -> int:
    if latency_ns < (1 << _BITS):
        return max(latency_ns, 0)
    shift = latency_ns.bit_length() - _BITS
    return _HALF * shift + (latency_ns >> shift)


def bucket_value(index: int) -> float:
    """The middle of the bucket's range, in ns."""
    if index < (1 << _BITS):
        return float(index)
    shift = index // _HALF - 1
    mantissa = index % _HALF + _HALF
    return ((mantissa << shift) + ((mantissa + 1) << shift)) / 2


def count_sorted(histogram: array, times: Sequence[bytes], recv_ns: int) -> None:
    """Count one line per entry of `times` (emit-time fields, 19 digits first, sorted ascending),
    all received at `recv_ns`.

    Every count is exact; the bucket is exact when the batch's extremes share one bucket (a
    flood's batch usually does) or the batch has at most SAMPLES lines. Otherwise the sorted
    batch is cut into SAMPLES strata of `step` consecutive ranks, each counted in its middle
    line's bucket. Only one stratum per batch can straddle any given latency, so for any value
    the number of lines counted below it is off by at most step - 1 per such batch: a percentile
    is off by at most that many ranks summed over batches (tests check this bound).
    """
    count = len(times)
    slowest = bucket(recv_ns - int(times[0][:19]))
    if count == 1 or slowest == bucket(recv_ns - int(times[-1][:19])):
        histogram[slowest] += count
        return
    step = -(-count // SAMPLES)
    for start in range(0, count, step):
        size = min(step, count - start)
        histogram[bucket(recv_ns - int(times[start + size // 2][:19]))] += size


def rank_error(batch_size: int) -> int:
    """The most ranks count_sorted may misplace for one batch of `batch_size` lines."""
    return max(0, -(-batch_size // SAMPLES) - 1)


def quantile_ms(histogram: Sequence[int], quantile: float) -> float | None:
    """The latency at `quantile` (0..1) in ms, to ~1%; None when the histogram is empty."""
    count = sum(histogram)
    if count == 0:
        return None
    # round() first: 0.99 * 100 is 98.99999999999999 in floats, and the rank must be 99.
    rank = max(1, math.ceil(round(quantile * count, 6)))
    seen = 0
    for index, bucket_count in enumerate(histogram):
        seen += bucket_count
        if seen >= rank:
            return bucket_value(index) / 1e6
    return None  # unreachable: rank <= count
