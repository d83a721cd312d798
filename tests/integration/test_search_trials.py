"""A search on the real engine: FireLens into the builtin router held to 0.05 CPU. The fixed
grid (tests/integration/test_limits.py, README "Production-sized tasks") lost about 40% at
10,000 lines/s and nothing at 300; the search between them must bracket the boundary inside
that range, each end decided, and say so in results.json and report.html."""

from pathlib import Path

import pytest

import pipeline_tests as pt
from pipeline_tests._report.files import write_reports

pytestmark = pytest.mark.docker
LOSSY, SAFE = 10_000, 300  # far above and far below where a 0.05-CPU router starts losing


def test_a_search_brackets_where_a_starved_router_starts_losing(image: str,
                                                               tmp_path: Path) -> None:
    scenario = pt.Scenario().with_overrides({
        "topologies": ["firelens"], "stop.after": 3, "limits.router_cpus": 0.05,
        "max_trials": 4,
        "search": {"axis": "workload.rate", "range": [SAFE, LOSSY], "resolution": 3}})
    results = pt.run(scenario, tmp_path)
    assert results.failures == ()
    (bracket,) = results.brackets
    assert bracket.cell == "firelens/builtin/ecs", bracket.text
    assert bracket.safe is not None and bracket.lossy is not None
    assert SAFE <= bracket.safe < bracket.lossy <= LOSSY, bracket.text
    assert bracket.lossy / bracket.safe <= 3 or any(
        not p.decision.decided for p in bracket.points)  # within the resolution, or undecided
    tried = [p.value for p in bracket.points]
    assert tried[:2] == [LOSSY, SAFE]  # the far end first
    assert len(results.trials) == bracket.trials == sum(p.decision.trials for p in bracket.points)
    stored = results.as_json()["search"][0]
    assert (stored["safe"], stored["lossy"], stored["confidence"]) == (
        bracket.safe, bracket.lossy, 0.95)
    assert results.verdict.startswith(f"{bracket.cell}: highest rate without loss between ")
    write_reports(results, None)
    page = results.report_html.read_text()
    assert "Where loss starts: the frontier found by search" in page and "<svg" in page
