"""One trial: one run of one (topology, router, stop sequence), from `compose up` to the result.

    sink up -> configs into the volumes -> router up and ready -> app floods -> stop sequence at
    `stop.after` -> drain window -> sink stops -> ledger(emitted by app, received by sink)
    -> TrialResult

A trial is self-contained on its engine: every container (the sink included) is a service of
the trial's Compose project, and its state lives in the project's volumes (_docker/volumes.py).
The tester drives the engine only through its API and copies what it measures into the trial's
directory under runs/<run-id>/, so a trial runs the same on this machine and on any other engine.
Everything the trial creates is removed in a `finally` (`compose down --volumes`), so Ctrl-C or
a failure in the middle leaks nothing.
"""

from pipeline_tests._trial.measure import save_result
from pipeline_tests._trial.spec import TrialSpec
from pipeline_tests._trial.trial import run_trial

__all__ = ["TrialSpec", "run_trial", "save_result"]
