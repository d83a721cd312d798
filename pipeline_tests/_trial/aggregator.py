"""Topology `aggregator`'s second tier: a router outside the task (a separate service that
outlives it). The sidecar sends to it, it sends to the sink; it has its own ports, socket
directory and state. The stop sequence ends the task, not the aggregator: that ends on its own,
once the task has ended and the sink drained (`end`), so each tier ends at its own time and is
counted from its own state and log. See compose/aggregator-<kind>.yaml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_tests import _routers as routers
from pipeline_tests._scenario.model import Aggregator, Stop
from pipeline_tests._scenario.scenario import Scenario
from pipeline_tests._trial import compose_env
from pipeline_tests._trial.stop import OnStep, router_timeout, terminate

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


def end(container: Any, stop: Stop, tick: Callable[[], None], on_step: OnStep) -> None:
    """The second tier's own end, once the task has ended and the sink drained: SIGTERM, and
    SIGKILL after the router's stop timeout. Its log then holds its stop (pause, flush, exit)
    and its counters are final, so it is counted from its own state and log."""
    terminate(container, SERVICE, router_timeout(stop), tick, on_step)
