"""Which `fluentd` log-driver options a given Docker Engine accepts.

Option history was read from moby's sources (daemon/logger/fluentd/fluentd.go `ValidateLogOpt`
and daemon/logger/factory.go `builtInLogOpts`) at each release tag. A daemon refuses an option
it does not know only when the container starts, with a terse message; checking up front lets
us name the option, the release that introduced it and the daemon's own version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline_tests._errors import SetupError


@dataclass(frozen=True)
class LogOpt:
    name: str
    since: str
    # Options that newer engines reject again; None while still accepted.
    removed_in: str | None = None


FLUENTD_LOG_OPTS: tuple[LogOpt, ...] = (
    LogOpt("fluentd-address", "1.8.0"),
    LogOpt("tag", "1.8.0"),
    LogOpt("labels", "1.9.0"),
    LogOpt("env", "1.9.0"),
    LogOpt("fluentd-buffer-limit", "1.11.0"),
    LogOpt("fluentd-retry-wait", "1.11.0"),
    LogOpt("fluentd-max-retries", "1.11.0"),
    LogOpt("fluentd-async-connect", "1.11.0", removed_in="28.0.0"),
    # Generic options every driver accepts (the ring buffer in front of the driver).
    LogOpt("mode", "17.04.0"),
    LogOpt("max-buffer-size", "17.04.0"),
    LogOpt("env-regex", "17.05.0"),
    LogOpt("fluentd-sub-second-precision", "17.12.0"),
    LogOpt("labels-regex", "20.10.0"),
    LogOpt("fluentd-async", "20.10.0"),
    LogOpt("fluentd-request-ack", "20.10.0"),
    LogOpt("fluentd-async-reconnect-interval", "23.0.0"),
    LogOpt("fluentd-write-timeout", "28.2.0"),
    LogOpt("fluentd-read-timeout", "29.0.0"),
)
_BY_NAME = {opt.name: opt for opt in FLUENTD_LOG_OPTS}

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(version: str) -> tuple[int, int, int] | None:
    """`20.10.24+dfsg1` -> (20, 10, 24); `17.03.0-ce` -> (17, 3, 0); `dev` -> None."""
    match = _VERSION.match(version.strip())
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def _accepts(opt: LogOpt, engine: tuple[int, int, int]) -> bool:
    since = parse_version(opt.since)
    removed = parse_version(opt.removed_in) if opt.removed_in else None
    return since is not None and since <= engine and (removed is None or engine < removed)


def driver_options_supported(engine_version: str) -> list[str]:
    """Names of the `fluentd` driver options this engine accepts, in table order.

    An unparseable version (a development build) is taken to accept every current option.
    """
    engine = parse_version(engine_version)
    if engine is None:
        return [opt.name for opt in FLUENTD_LOG_OPTS if opt.removed_in is None]
    return [opt.name for opt in FLUENTD_LOG_OPTS if _accepts(opt, engine)]


def check_log_opts(opts: Mapping[str, str], engine_version: str) -> None:
    """Raise SetupError for the first option (in sorted order) this engine would refuse."""
    engine = parse_version(engine_version)
    for name in sorted(opts):
        opt = _BY_NAME.get(name)
        if opt is None:
            known = ", ".join(sorted(_BY_NAME))
            raise SetupError(
                f"Unknown `fluentd` log-driver option `{name}`. Docker's fluentd driver knows: "
                f"{known}. Fix the option name in the scenario."
            )
        if engine is None or _accepts(opt, engine):
            continue
        if engine < (parse_version(opt.since) or engine):
            raise SetupError(
                f"The `fluentd` log-driver option `{name}` needs Docker Engine {opt.since} or "
                f"newer, but this daemon runs {engine_version}. Upgrade Docker, or drop the "
                "option from the scenario."
            )
        raise SetupError(
            f"The `fluentd` log-driver option `{name}` was removed in Docker Engine "
            f"{opt.removed_in}, and this daemon runs {engine_version}. Drop it from the "
            "scenario (`fluentd-async` replaces it)."
        )
