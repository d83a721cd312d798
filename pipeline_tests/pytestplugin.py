"""The pytest plugin (entry point `pytest11`): a team's own repository holds its logging-config
regression suite.

    def test_our_fluent_bit_config_keeps_every_line(log_pipeline):
        results = log_pipeline.run(topology="firelens", router="fluent-bit",
                                   router_config="ops/fluent-bit.conf", rate=300, trials=3)
        results.assert_no_loss()

    async def test_from_async_code(log_pipeline):          # pytest-asyncio
        results = await log_pipeline.run_async(topology="direct-tcp", trials=1)

Options: --pt-out DIR (where runs go, default <rootdir>/runs) and --pt-max-loss N (what
assert_no_loss() allows when the test does not say; default 0).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pipeline_tests import OnEvent, RunResults, Scenario, load_scenario, run

# Keyword -> the scenario key it sets (what `pipeline-tests run`'s flags set).
_KEYWORDS = {
    "topology": "topologies", "router": "router.kind", "router_image": "router.image",
    "router_config": "router.config", "rate": "workload.rate", "line_size": "workload.line_size",
    "streams": "workload.streams", "trials": "trials", "stop": "stop.sequence",
    "stop_after": "stop.after", "max_loss": "max_loss",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pipeline-tests", "log pipeline reliability (pipeline-tests)")
    group.addoption("--pt-out", metavar="DIR", default=None,
                    help="Directory for the log_pipeline fixture's runs (default: <rootdir>/runs).")
    group.addoption("--pt-max-loss", metavar="N", type=int, default=0,
                    help="Lines a trial may lose before assert_no_loss() fails, when the test "
                         "gives no max_loss (default 0).")


class LogPipeline:
    """What the `log_pipeline` fixture gives a test: `run` and `run_async`."""

    def __init__(self, out: Path, max_loss: int, root: Path) -> None:
        self.out, self.max_loss, self.root = out, max_loss, root

    def scenario(self, scenario: str | Path | Scenario | None = None,
                 overrides: Mapping[str, Any] | None = None, **settings: Any) -> Scenario:
        """The scenario a run would use: a file (relative to the rootdir) or a Scenario, with
        keyword settings (topology, router, router_config, rate, trials, stop, ...) and dotted
        `overrides` (any scenario key, e.g. {"fault.kind": "router-pause"}) applied."""
        if isinstance(scenario, (str, Path)):
            scenario = load_scenario(self._path(scenario))
        base = scenario or Scenario()
        if settings.get("router_config") is not None:
            settings["router_config"] = str(self._path(settings["router_config"]))
        if isinstance(settings.get("topology"), str):
            settings["topology"] = [settings["topology"]]
        unknown = sorted(set(settings) - set(_KEYWORDS))
        if unknown:
            raise TypeError(f"log_pipeline.run() got unknown settings {unknown}; "
                            f"known: {', '.join(sorted(_KEYWORDS))}")
        chosen = base.with_overrides(overrides or {},
                                     **{_KEYWORDS[k]: v for k, v in settings.items()})
        if chosen.max_loss is None:
            chosen = dataclasses.replace(chosen, max_loss=self.max_loss)
        return chosen

    def run(self, scenario: str | Path | Scenario | None = None, *,
            overrides: Mapping[str, Any] | None = None, on_event: OnEvent | None = None,
            pull: bool = False, **settings: Any) -> RunResults:
        """Run the scenario into the run directory (--pt-out); see `scenario` for arguments."""
        chosen = self.scenario(scenario, overrides, **settings)
        return run(chosen, self.out, on_event=on_event, pull=pull)

    async def run_async(self, scenario: str | Path | Scenario | None = None, *,
                        overrides: Mapping[str, Any] | None = None,
                        on_event: OnEvent | None = None, pull: bool = False,
                        **settings: Any) -> RunResults:
        """The same run in a worker thread, so the test's event loop keeps running."""
        chosen = self.scenario(scenario, overrides, **settings)
        return await asyncio.to_thread(run, chosen, self.out, on_event=on_event, pull=pull)

    def _path(self, path: str | Path) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.root / path


@pytest.fixture
def log_pipeline(request: pytest.FixtureRequest) -> LogPipeline:
    """Runs pipeline-tests scenarios from a test; see pipeline_tests.pytestplugin."""
    config = request.config
    out = config.getoption("--pt-out")
    root = Path(config.rootpath)
    return LogPipeline(Path(out).resolve() if out else root / "runs",
                       int(config.getoption("--pt-max-loss")), root)
