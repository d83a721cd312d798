"""The pytest plugin from a user's own repository: a passing regression test, a failing one
whose message says what was lost where, an async test, and the command-line options."""

import json

import pytest

pytestmark = pytest.mark.docker
pytest_plugins = ["pytester"]

SUITE = '''
import pytest

SHORT = dict(trials=1, stop_after=1, rate=1000)


def test_direct_tcp_keeps_every_line(log_pipeline):
    results = log_pipeline.run(topology="direct-tcp", **SHORT)
    results.assert_no_loss()
    assert results.cell("direct-tcp/builtin/ecs").lost_max == 0


def test_a_stalled_router_loses_the_tail(log_pipeline):
    # The router is frozen from 0.5 s on; SIGKILL discards what dockerd queued for it.
    results = log_pipeline.run(topology="firelens", trials=1, rate=3000, stop="kill",
                               stop_after=3, overrides={"fault.kind": "router-pause",
                               "fault.at": 0.5, "fault.duration": 30.0})
    results.assert_no_loss()


async def test_from_async_code(log_pipeline):
    results = await log_pipeline.run_async(topology="direct-unix", **SHORT)
    results.assert_no_loss()
'''


def test_plugin_passes_fails_with_the_losses_and_runs_async(pytester: pytest.Pytester,
                                                           image: str) -> None:
    pytester.makepyfile(test_logging_config=SUITE)
    out = pytester.path / "pt-runs"
    result = pytester.runpytest_subprocess("-p", "asyncio", "--asyncio-mode=auto",
                                           f"--pt-out={out}", "-q", timeout=900)
    result.assert_outcomes(passed=2, failed=1)
    text = result.stdout.str()
    runs = sorted(out.iterdir())
    assert len(runs) == 3
    lossy = [json.loads((r / "results.json").read_text()) for r in runs]
    (failed,) = [d for d in lossy if d["trials"][0]["lost"] > 0]
    trial = failed["trials"][0]
    assert trial["lost_at"] == "app->router_in"
    first, last = trial["lost_ranges"][0][1:]
    # What a person needs to act: the trial, lines lost, the hop, the ranges, report.html.
    assert (f"firelens/builtin/kill #1: lost {trial['lost']:,} of {trial['emitted']:,} lines"
            in text)
    assert "at app->router_in" in text
    assert f"lost ranges: stream 0 seq {first}-{last}" in text
    assert f"report: {out / failed['run_id'] / 'report.html'}" in text


def test_plugin_default_max_loss_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_defaults='''
def test_scenario_gets_the_option(log_pipeline):
    assert log_pipeline.scenario(topology="direct-tcp").max_loss == 7
    assert log_pipeline.scenario(topology="direct-tcp", max_loss=0).max_loss == 0
    assert log_pipeline.out.name == "elsewhere"
''')
    result = pytester.runpytest_subprocess("--pt-max-loss=7", "--pt-out=elsewhere", "-q")
    result.assert_outcomes(passed=1)


def test_plugin_names_an_unknown_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_typo='''
def test_typo(log_pipeline):
    log_pipeline.run(topolgy="firelens")
''')
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(failed=1)
    expected = ("E           TypeError: log_pipeline.run() got unknown settings ['topolgy']; "
                "known: line_size, max_loss, rate, router, router_config, router_image, stop, "
                "stop_after, streams, topology, trials")
    assert expected in result.stdout.lines
