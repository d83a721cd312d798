"""When each step of a trial's stop sequence happened: what the stop (_trial/stop.py) measured,
as the results read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timeline:
    """When each step of the stop sequence happened (time.time_ns, 0 = never)."""

    signal_ns: int  # first signal to the app (SIGTERM, or SIGKILL for `kill`)
    app_exit_ns: int
    app_exit_code: int
    app_killed: bool  # needed SIGKILL after stop_timeout (or `kill`)
    router_signal_ns: int
    router_exit_ns: int
    router_killed: bool
