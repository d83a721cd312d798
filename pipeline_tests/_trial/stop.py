"""Stop sequences: how the task ends, the way ECS or Kubernetes would end it.

- ecs: SIGTERM the app; SIGKILL it after stop_timeout; the router (FireLens sidecar) gets
  SIGTERM only after the app exited (`router_gap` seconds later), and SIGKILL its own
  stopTimeout (`router_stop_timeout`, default stop_timeout) after that. The ECS agent stops a
  container only once every container that depends on it is known stopped
  (agent/engine/dependencygraph/graph.go `verifyShutdownOrder`); app containers depend on the
  FireLens container, so it is stopped last, as soon as the agent has seen the app's exit.
- all-at-once: a Kubernetes pod: every container SIGTERM together, SIGKILL after the grace.
- kill: SIGKILL the app, then stop the router as ECS would.
- router-first: the misordered shutdown: the router gets SIGTERM (SIGKILL after stop_timeout)
  and only once it is gone does the app get SIGTERM.
- none: let the app run to completion, then stop the router as ECS would.
- pod-delete: a Kubernetes pod deleted, seen from a node agent: SIGTERM the app (SIGKILL after
  stop_timeout), then remove its container, and with it the log file Docker kept; the router
  outlives the pod by `drain` seconds, then gets SIGTERM.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, cast

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from pipeline_tests._results.timeline import Timeline
from pipeline_tests._scenario.model import Stop

# (container: "app" | "router" | "aggregator", action: "SIGTERM" | "SIGKILL" | "exited")
OnStep = Callable[[str, str], None]


class _Watched:
    """A container that reports each signal it was sent and its exit, as they happen."""

    def __init__(self, container: Container, role: str, on_step: OnStep) -> None:
        self._inner, self._role, self._on_step, self._gone = container, role, on_step, False

    def kill(self, signal: str) -> None:
        self._inner.kill(signal=signal)
        self._on_step(self._role, signal)

    def reload(self) -> None:
        try:
            self._inner.reload()
        except NotFound:
            self._exited()
            raise
        if self._inner.status in ("exited", "dead"):
            self._exited()

    def _exited(self) -> None:
        if not self._gone:
            self._gone = True
            self._on_step(self._role, "exited")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _signal(container: Container, name: str) -> None:
    # Already gone is exactly what a stop wants.
    with contextlib.suppress(NotFound, APIError):
        container.kill(signal=name)


def _running(container: Container) -> bool:
    try:
        container.reload()
    except NotFound:
        return False
    return container.status in ("created", "running", "restarting", "paused")


def _wait_exit(container: Container, timeout: float, tick: Callable[[], None]) -> bool:
    """True when the container exited within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(container):
            return True
        tick()
        time.sleep(0.1)
    return not _running(container)


def _terminate(container: Container, timeout: float, tick: Callable[[], None]) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True when SIGKILL was needed."""
    _signal(container, "SIGTERM")
    if _wait_exit(container, timeout, tick):
        return False
    _signal(container, "SIGKILL")
    _wait_exit(container, 10.0, tick)
    return True


def terminate(container: Container, role: str, timeout: float,
              tick: Callable[[], None] = lambda: None, on_step: OnStep | None = None) -> bool:
    """SIGTERM one container now (SIGKILL after `timeout`), reporting its steps as `role`;
    True when SIGKILL was needed."""
    if on_step is not None:
        container = cast(Container, _Watched(container, role, on_step))
    return _terminate(container, timeout, tick)


def router_timeout(stop: Stop) -> float:
    """The router's own stopTimeout (ECS: per container), else the task's."""
    return stop.stop_timeout if stop.router_stop_timeout is None else stop.router_stop_timeout


def _wait(seconds: float, tick: Callable[[], None]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tick()
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))


def _exit_code(container: Container) -> int:
    try:
        container.reload()
        return int(container.attrs["State"]["ExitCode"])
    except NotFound:
        return -1


def _pod_delete(stop: Stop, app: Container, router: Container,
                tick: Callable[[], None]) -> Timeline:
    signal_ns = time.time_ns()
    app_killed = _terminate(app, stop.stop_timeout, tick)
    app_exit_ns, exit_code = time.time_ns(), _exit_code(app)
    with contextlib.suppress(NotFound, APIError):
        app.remove(force=True)
    _wait_exit(router, stop.drain, tick)  # a node agent outlives the pod
    router_signal_ns = time.time_ns()
    router_killed = _terminate(router, router_timeout(stop), tick)
    return Timeline(signal_ns, app_exit_ns, exit_code, app_killed, router_signal_ns,
                    time.time_ns(), router_killed)


def run_stop(stop: Stop, app: Container, router: Container,
             tick: Callable[[], None] = lambda: None, on_step: OnStep | None = None) -> Timeline:
    """Carry out `stop.sequence` now; `tick` is called while waiting (progress display),
    `on_step` at each signal sent and each container's exit, as it happens (the live view)."""
    if on_step is not None:
        app = cast(Container, _Watched(app, "app", on_step))
        router = cast(Container, _Watched(router, "router", on_step))
    if stop.sequence == "pod-delete":
        return _pod_delete(stop, app, router, tick)
    signal_ns = time.time_ns()
    if stop.sequence == "all-at-once":
        _signal(router, "SIGTERM")
        router_signal_ns = time.time_ns()
        app_killed = _terminate(app, stop.stop_timeout, tick)
        app_exit_ns = time.time_ns()
        router_killed = not _wait_exit(router, router_timeout(stop), tick)
        if router_killed:
            _signal(router, "SIGKILL")
            _wait_exit(router, 10.0, tick)
        return Timeline(signal_ns, app_exit_ns, _exit_code(app), app_killed, router_signal_ns,
                        time.time_ns(), router_killed)
    if stop.sequence == "router-first":
        router_killed = _terminate(router, router_timeout(stop), tick)
        router_exit_ns = time.time_ns()
        app_signal_ns = time.time_ns()
        app_killed = _terminate(app, stop.stop_timeout, tick)
        return Timeline(app_signal_ns, time.time_ns(), _exit_code(app), app_killed, signal_ns,
                        router_exit_ns, router_killed)
    if stop.sequence == "kill":
        _signal(app, "SIGKILL")
        _wait_exit(app, 10.0, tick)
        app_killed = True
    elif stop.sequence == "none":
        signal_ns = 0
        app_killed = not _wait_exit(app, stop.after + stop.stop_timeout, tick)
        if app_killed:
            _signal(app, "SIGKILL")
            _wait_exit(app, 10.0, tick)
    else:
        app_killed = _terminate(app, stop.stop_timeout, tick)
    app_exit_ns = time.time_ns()
    _wait(stop.router_gap, tick)  # ECS signals the router once it has seen the app stop
    router_signal_ns = time.time_ns()
    router_killed = _terminate(router, router_timeout(stop), tick)
    return Timeline(signal_ns, app_exit_ns, _exit_code(app), app_killed, router_signal_ns,
                    time.time_ns(), router_killed)
