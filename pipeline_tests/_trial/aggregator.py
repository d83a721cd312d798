"""Topology `aggregator`'s second tier: a router outside the task (a separate service that
outlives it). The sidecar sends to it, it sends to the sink; it has its own ports, socket
directory and state, and is stopped only when the trial ends (compose down), not by the stop
sequence. See compose/aggregator-<kind>.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline_tests import _routers as routers
from pipeline_tests._scenario.model import Aggregator
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._trial import compose_env

SERVICE = "aggregator"


@dataclass(frozen=True)
class AggregatorTier:
    settings: Aggregator
    ports: routers.RouterPorts  # router: where the sidecar sends; sink: the real sink
    state_dir: Path  # <trial>/aggregator: its counters, config and storage
    env: dict[str, str]  # the ${PT_AGGREGATOR_*} Compose variables


def prepare(scenario: Scenario, trial_dir: Path, sink_port: int) -> AggregatorTier:
    """Ports, config files (in <trial>/aggregator/conf and user, copied into its volumes when
    the trial starts) and Compose variables of the aggregator tier."""
    ports = routers.RouterPorts.free(sink=sink_port)
    state_dir = trial_dir / SERVICE
    state_dir.mkdir(parents=True, exist_ok=True)
    prepared = routers.prepare(scenario.aggregator, state_dir / "conf", ports, SERVICE)
    env = compose_env.aggregator_variables(scenario.aggregator, prepared=prepared, ports=ports)
    return AggregatorTier(scenario.aggregator, ports, state_dir, env)


# What a router logs when it cannot deliver: the builtin router, Fluent Bit, Fluentd.
_ERROR = re.compile(r"error|warn|unavailable|refused|failed|reset|timed? ?out", re.I)
_COMPOSE_PREFIX = re.compile(r"^(?:\x1b\[[0-9;]*[A-Za-z])*[\w.-]+\s+\|\s?")
SHOWN_ERRORS = 5


def sender_errors(sidecar: routers.RouterCounters, taken: int | None,
                  router_log: str) -> tuple[str, ...]:
    """The sidecar's last error lines when the aggregator took in fewer lines than the sidecar
    sent or held (or counted nothing): the router's own words for why the tiers did not talk."""
    sent, held = sidecar.sent, sidecar.received
    delivered = sent is None or (taken is not None and taken >= sent
                                 and (held is None or sent >= held))
    if taken is not None and taken > 0 and delivered:
        return ()
    found = [_COMPOSE_PREFIX.sub("", line).strip() for line in router_log.splitlines()
             if _ERROR.search(line)]
    return tuple(found[-SHOWN_ERRORS:])
