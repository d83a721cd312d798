"""Router faults in the middle of a flood: restart, pause (stalled for a while), kill.

A `FaultPlan` is a value; `step` is called on every tick of the flood and does what is due,
returning the new plan, so the trial loop stays one straight line.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from pipeline_tests._scenario.model import Fault


@dataclass(frozen=True)
class FaultPlan:
    fault: Fault
    started: bool = False
    finished: bool = False


def step(plan: FaultPlan, elapsed: float, router: Container) -> FaultPlan:
    """Carry out what is due at `elapsed` seconds into the flood."""
    fault = plan.fault
    if fault.kind == "none" or plan.finished or elapsed < fault.at:
        return plan
    with contextlib.suppress(NotFound, APIError):
        if not plan.started:
            if fault.kind == "router-pause":
                # SIGSTOP, not `docker pause`: the same stall without the cgroup freezer.
                router.kill(signal="SIGSTOP")
                return replace(plan, started=True)
            if fault.kind == "router-restart":
                router.restart(timeout=0)
            elif fault.kind == "router-kill":
                router.kill()
            return replace(plan, started=True, finished=True)
        if elapsed < fault.at + fault.duration:
            return plan
        router.kill(signal="SIGCONT")
    return replace(plan, finished=True)


def undo(plan: FaultPlan, router: Container) -> None:
    """A router still paused when the flood ends must run again before the stop sequence."""
    if plan.fault.kind == "router-pause" and plan.started and not plan.finished:
        with contextlib.suppress(NotFound, APIError):
            router.kill(signal="SIGCONT")
