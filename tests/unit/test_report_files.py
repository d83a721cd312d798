"""report.html and junit.xml, rendered from hand-made results."""

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

from test_report import BASE, LOSSY

from pipeline_tests._report.html import (
    MAX_MAP_ROWS,
    _map_rows,
    rate_curves,
    render_html,
    write_html,
)
from pipeline_tests._report.junit import write_junit
from pipeline_tests._results.trial_result import TrialResult, cell_label

DIRECT = dataclasses.replace(BASE, topology="direct-tcp", emitted_by_stream=(1000,),
                             stop_seq=(800,))
FIRELENS_OK = dataclasses.replace(BASE, emitted_by_stream=(1000,), stop_seq=(-1,))
FIRELENS_LOST = dataclasses.replace(LOSSY, emitted_by_stream=(1000,), stop_seq=(950,))
HEADER = {"run_id": "20261123-120000-abcd", "started": "2026-11-23T12:00:00",
          "machine": {"host": "box", "kernel": "6.1", "docker": "20.10.24"},
          "scenario": {"topologies": ["firelens", "direct-tcp"], "workload": {"rate": None,
                       "line_size": 400}, "stop": {"sequence": "ecs", "after": 10.0}}}


def _junit(tmp_path: Path, max_loss: int | None) -> ET.Element:
    write_junit(tmp_path / "junit.xml", "r1", [FIRELENS_OK, DIRECT, FIRELENS_LOST], max_loss)
    return ET.parse(tmp_path / "junit.xml").getroot()


def test_junit_has_a_suite_per_cell_in_run_order_and_a_case_per_trial(tmp_path: Path) -> None:
    root = _junit(tmp_path, max_loss=None)
    assert (root.get("name"), root.get("tests"), root.get("failures")) == \
        ("pipeline-tests r1", "3", "0")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests")) for s in suites] == [
        ("firelens/builtin/ecs", "2"), ("direct-tcp/builtin/ecs", "1")]
    assert {p.get("name"): p.get("value") for p in suites[0].iter("property")} == {
        "trials_with_loss": "1", "lost_mean": "50.0", "lost_pct_mean": "5.00",
        "lost_at": "app->router_in"}
    lossy = suites[0].findall("testcase")[1]
    assert (lossy.get("name"), lossy.get("classname"), lossy.get("time")) == \
        ("trial 2", "firelens/builtin/ecs", "12.0")
    assert lossy.findtext("system-out") == (
        "lost 100 of 1,000 lines (10.00%), 5 duplicates, lost at app->router_in\n"
        "lost ranges [stream, first, last]: [[0, 900, 999]]\n"
        "hops: {'app': 1000, 'router_in': 900, 'router_out': 900, 'sink': 900}\n")


def test_junit_fails_the_trials_over_max_loss(tmp_path: Path) -> None:
    root = _junit(tmp_path, max_loss=99)
    assert (root.get("tests"), root.get("failures")) == ("3", "1")
    failures = [(case.get("classname"), case.get("name"), failure.get("message"))
                for case in root.iter("testcase") for failure in case.iter("failure")]
    assert failures == [("firelens/builtin/ecs", "trial 2",
                         "lost 100 of 1,000 lines (10.00%), 5 duplicates, lost at "
                         "app->router_in; more than max_loss 99")]
    assert _junit(tmp_path, max_loss=100).get("failures") == "0"


def test_loss_map_rows_per_trial_and_stream() -> None:
    two_streams = dataclasses.replace(
        LOSSY, trial=3, emitted_by_stream=(600, 400, 0), stop_seq=(500, -1, -1),
        lost_ranges=((0, 550, 599), (1, 0, 9), (1, 390, 399)))
    assert _map_rows([FIRELENS_LOST, two_streams]) == [
        ("firelens/builtin/ecs #2", 1000, 950, [(900, 999)]),
        ("firelens/builtin/ecs #3 s0", 600, 500, [(550, 599)]),
        ("firelens/builtin/ecs #3 s1", 400, -1, [(0, 9), (390, 399)]),
    ]
    # A result from before emitted_by_stream existed has no row, not a crash.
    assert _map_rows([BASE]) == []


def test_html_report_has_the_verdict_plots_and_every_trial(tmp_path: Path) -> None:
    results = [FIRELENS_OK, DIRECT, FIRELENS_LOST]
    html = render_html(HEADER, results, max_loss=10)
    assert "<title>pipeline-tests 20261123-120000-abcd</title>" in html
    assert "<b>FAIL</b>: lost more than 10 lines in: firelens/builtin/ecs" in html
    assert html.count("<svg") == 2
    assert "rate max lines/s, 400 bytes per line." in " ".join(html.split())
    assert html.count('<td class="lost">100</td>') == 1
    assert "1,000 / 900 / 900 / 900" in html
    assert "<b>PASS</b>: no trial lost more than 100 lines." in render_html(HEADER, results, 100)
    assert ("<b>PASS</b>: 100 lines lost in 1 of 3 trials; no max_loss is set, so loss is "
            "measured, not judged.") in render_html(HEADER, results, None)


def test_html_escapes_labels_and_caps_the_loss_map(tmp_path: Path) -> None:
    odd = dataclasses.replace(DIRECT, cell="router.config=<mine>")
    many = [dataclasses.replace(FIRELENS_LOST, trial=n) for n in range(1, MAX_MAP_ROWS + 6)]
    write_html(tmp_path / "report.html", HEADER, [odd, *many], max_loss=None)
    html = (tmp_path / "report.html").read_text()
    assert '<td class="text">router.config=&lt;mine&gt;</td>' in html
    assert f"The first {MAX_MAP_ROWS} of {MAX_MAP_ROWS + 6} rows" in html


def _at(topology: str, rate: int | str, achieved: float, lost: int, trial: int = 1
        ) -> TrialResult:
    axes = {"topology": topology, "router.kind": "builtin", "stop.sequence": "ecs",
            "workload.rate": rate}
    return dataclasses.replace(
        BASE, topology=topology, trial=trial, achieved_rate=achieved, lost=lost,
        received_distinct=1000 - lost, cell=cell_label(axes), axes=axes)


def test_rate_curves_one_per_other_axes_sorted_by_the_rate_reached() -> None:
    results = [_at("firelens", "max", 90000.0, 700), _at("firelens", 1000, 1000.0, 0),
               _at("firelens", 30000, 29000.0, 100), _at("firelens", 30000, 31000.0, 300, 2),
               _at("direct-tcp", 1000, 1000.0, 0), _at("direct-tcp", "max", 35000.0, 0)]
    assert rate_curves(results) == {
        "firelens/builtin/ecs": [(1000.0, 0.0), (30000.0, 20.0), (90000.0, 70.0)],
        "direct-tcp/builtin/ecs": [(1000.0, 0.0), (35000.0, 0.0)],
    }
    html = render_html(HEADER, results, None)
    assert "Where loss starts: lost % by rate" in html
    assert html.count("<svg") == 3


def test_no_rate_curve_without_a_rate_axis() -> None:
    assert rate_curves([FIRELENS_LOST, DIRECT]) == {}
    assert "Where loss starts" not in render_html(HEADER, [FIRELENS_LOST], None)
