"""The errors pipeline-tests raises: one base, so a caller can catch them all, and a branch per
kind of cause. Every message is one paragraph: what is wrong and what to do. The CLI prints it
and exits 2, without a traceback.

    PipelineTestsError
    +-- InputError        a scenario, flag or file given to pipeline-tests is wrong
    +-- SetupError        the machine is not ready: Docker, Compose, an image, the install
    |   +-- ImageMissing  an image a trial needs is not present (and could not be pulled)
    +-- TrialFailed       one trial could not be carried out (the run records it and goes on)
"""

from __future__ import annotations


class PipelineTestsError(Exception):
    """Base of every error pipeline-tests raises on purpose."""


class InputError(PipelineTestsError):
    """Bad input: a scenario file, a flag, a router config file, a run directory."""


class SetupError(PipelineTestsError):
    """The environment: no Docker daemon, no Compose v2, a log-driver option the engine lacks."""


class ImageMissing(SetupError):
    """An image a trial needs is absent and was not (or could not be) pulled."""


class InstallError(SetupError):
    """pipeline-tests' own files (compose/, fixtures/) are missing from the install."""


class TrialFailed(PipelineTestsError):
    """One trial could not be carried out; `reason` says why, in one paragraph."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
