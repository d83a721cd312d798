"""What each router tier said went wrong, from its own log: its warnings and errors grouped by
kind (the message with its numbers and ids blanked out, so one repeated failure is one kind),
each with how often it was logged and its first example.

A trial keeps them per tier (`router`: the sidecar, `aggregator`: the second tier); a cell's
merge says in how many trials each kind was logged. The verdict, the terminal, report.html and
junit.xml show them: a pair of tiers that cannot talk shows its cause, not only a loss.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

SHOWN_KINDS = 8  # per tier and trial: the commonest kinds (the rest are counted in `others`)
MAX_EXAMPLE = 300  # characters of an example kept
_IDS = re.compile(r"\b[0-9a-f]{8,}\b|0x[0-9a-f]+", re.I)
_NUMBERS = re.compile(r"\d+")
# Fluentd prints the event it is warning about ("skip invalid event: host=... tag=... time=[...]
# record={...}"): the event's values vary per line, so they are blanked too.
_EVENT_VALUES = re.compile(r'\b(host|tag)="[^"]*"|\btime=\[[^\]]*\]|\brecord=\{.*\}')


@dataclass(frozen=True)
class LogError:
    tier: str  # router | aggregator
    kind: str  # the message with numbers and ids blanked: what repeats
    count: int  # lines of this kind (summed over a cell's trials)
    first: str  # its first example, as logged (without time stamps)
    trials: int = 1  # in a cell: the trials that logged it

    def as_json(self) -> dict[str, Any]:
        return {"tier": self.tier, "kind": self.kind, "count": self.count, "first": self.first,
                "trials": self.trials}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogError:
        return cls(str(data["tier"]), str(data["kind"]), int(data["count"]),
                   str(data["first"]), int(data.get("trials", 1)))


def kind_of(message: str) -> str:
    events_blanked = _EVENT_VALUES.sub(lambda m: m.group(0).split("=", 1)[0] + "=…", message)
    return _NUMBERS.sub("N", _IDS.sub("ID", events_blanked))


def summarise(tier: str, messages: Sequence[str],
              shown: int = SHOWN_KINDS) -> tuple[LogError, ...]:
    """One LogError per kind, commonest first (ties: first logged first); beyond `shown` kinds
    the rest become one entry, kind `others`, so a trial's result stays small."""
    counts: dict[str, int] = {}
    firsts: dict[str, str] = {}
    for message in messages:
        kind = kind_of(message)
        counts[kind] = counts.get(kind, 0) + 1
        firsts.setdefault(kind, message[:MAX_EXAMPLE])
    ranked = sorted(counts, key=lambda kind: -counts[kind])  # stable: first logged wins ties
    found = [LogError(tier, kind, counts[kind], firsts[kind]) for kind in ranked[:shown]]
    rest = ranked[shown:]
    if rest:
        found.append(LogError(tier, "others", sum(counts[k] for k in rest), firsts[rest[0]]))
    return tuple(found)


def merged(per_trial: Iterable[Sequence[LogError]]) -> list[LogError]:
    """A cell's kinds over its trials: counts summed, the trials that logged each, the first
    trial's example; commonest first within each tier, the aggregator's before the sidecar's
    (downstream first: a sender's retries follow from what its receiver did)."""
    cell: dict[tuple[str, str], LogError] = {}
    for errors in per_trial:
        for error in errors:
            key = (error.tier, error.kind)
            known = cell.get(key)
            cell[key] = error if known is None else replace(
                known, count=known.count + error.count, trials=known.trials + 1)
    return sorted(cell.values(), key=lambda e: (e.tier != "aggregator", -e.count))


class Logged(Protocol):
    """A trial's result as far as its log errors go (TrialResult)."""

    @property
    def label(self) -> str: ...

    @property
    def log_errors(self) -> tuple[LogError, ...]: ...


def log_error_rows(results: Sequence[Logged]) -> list[tuple[str, int, LogError]]:
    """(cell label, its trials, one merged kind) for every kind any cell's trials logged, in
    the run's order of cells."""
    cells: dict[str, list[Logged]] = {}
    for result in results:
        cells.setdefault(result.label, []).append(result)
    return [(label, len(group), error) for label, group in cells.items()
            for error in merged(r.log_errors for r in group)]


def tier_name(tier: str, topology: str) -> str:
    """How the verdict names a tier: the sidecar and the aggregator, or the router alone."""
    if tier == "aggregator":
        return "the aggregator"
    return "the sidecar" if topology == "aggregator" else "the router"


def shown(error: LogError, width: int = 160) -> str:
    """An example as a line of a report shows it: up to the first line break the router
    escaped into it (Fluentd's `\\n` in an error message), at most `width` characters."""
    text = error.first.split("\\n", 1)[0].rstrip()
    return text if len(text) <= width else text[:width - 1] + "…"
