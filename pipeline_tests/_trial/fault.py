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
    started_at: float = 0.0  # seconds into the flood


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
                return replace(plan, started=True, started_at=elapsed)
            if fault.kind == "router-restart":
                router.restart(timeout=0)
            elif fault.kind == "router-kill":
                router.kill()
            return replace(plan, started=True, finished=True, started_at=elapsed)
        if elapsed < fault.at + fault.duration:
            return plan
        router.kill(signal="SIGCONT")
    return replace(plan, finished=True)


def as_asked(plan: FaultPlan, stopped_at: float) -> str:
    """Empty when the fault happened as the scenario asked; else what happened instead (the
    flood ended `stopped_at` seconds in: the stop sequence began)."""
    fault = plan.fault
    if fault.kind == "none":
        return ""
    pause = fault.kind == "router-pause"
    asked = (f"the {fault.kind} of the {fault.target} asked at {fault.at:g} s"
             + (f" for {fault.duration:g} s" if pause else ""))
    if not plan.started:
        return f"{asked} never happened: the stop came at {stopped_at:.1f} s"
    if pause and not plan.finished:
        return (f"{asked} lasted {stopped_at - plan.started_at:.1f} s: the stop came at "
                f"{stopped_at:.1f} s and ended it")
    return ""


def undo(plan: FaultPlan, router: Container) -> None:
    """A router still paused when the flood ends must run again before the stop sequence."""
    if plan.fault.kind == "router-pause" and plan.started and not plan.finished:
        with contextlib.suppress(NotFound, APIError):
            router.kill(signal="SIGCONT")
