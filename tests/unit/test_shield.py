"""A Ctrl-C during a trial's cleanup: the cleanup finishes, then the run stops."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from pipeline_tests._trial.trial import _shielded


@pytest.fixture(autouse=True)
def _ctrl_c_raises() -> Iterator[None]:
    """Python's own Ctrl-C handler, whatever this process inherited (a background job
    started without job control inherits SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_cleanup_is_raised_after_it() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt), _shielded():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the signal arrives here, and is held
        finished.append("cleanup")
    assert finished == ["cleanup"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_quiet_cleanup_raises_nothing() -> None:
    with _shielded():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
