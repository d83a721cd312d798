"""Each tier's own errors from its log, by kind, with counts and a first example: read from
the log as a trial saves it, and shown in the terminal, report.html, junit.xml and the pytest
message; a fault cut short by the stop, and the rate asked against the rate reached."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rich.console import Console
from test_report import BASE

import pipeline_tests as pt
from pipeline_tests import _routers as routers
from pipeline_tests._report.html import render_html
from pipeline_tests._report.junit import junit_xml
from pipeline_tests._report.terminal import print_report
from pipeline_tests._results.log_errors import merged, summarise
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._scenario.model import Aggregator, Fault, Router
from pipeline_tests._trial.fault import FaultPlan, as_asked

# As `docker compose logs --no-color --timestamps` saved them (a real Fluentd 1.16 aggregator
# fed by a Fluent Bit 5.1.1 sidecar, shortened).
FLUENTD_LOG = (
    "\x1b[2Kaggregator-1  | 2026-12-02T08:01:49.1Z 2026-12-02 08:01:49 +0000 [info]: #0 "
    "fluentd worker is now running worker=0\n"
    "\x1b[2Kaggregator-1  | 2026-12-02T08:01:49.2Z 2026-12-02 08:01:49 +0000 [warn]: #0 "
    "define <match fluent.**> to capture fluentd logs in top level is deprecated\n"
    "\x1b[2Kaggregator-1  | 2026-12-02T08:01:51.6Z 2026-12-02 08:01:51 +0000 [error]: #0 "
    "[pt_tcp] unexpected error on reading data host=\"127.0.0.1\" port=51184 "
    "error_class=NoMethodError error=\"undefined method `to_i' for [2026-12-02 "
    "08:01:50.967421366 +0000, {}]:Array\\n\\n    time = ...\"\n"
    "\x1b[2Kaggregator-1  | 2026-12-02T08:01:51.6Z 2026-12-02 08:01:51 +0000 [error]: #0 "
    "/usr/lib/ruby/gems/3.2.0/gems/fluentd-1.16.9/lib/fluent/plugin/in_forward.rb:301:in "
    "`on_message'\n"
    "\x1b[2Kaggregator-1  | 2026-12-02T08:01:52.9Z 2026-12-02 08:01:52 +0000 [error]: #0 "
    "[pt_tcp] unexpected error on reading data host=\"127.0.0.1\" port=51190 "
    "error_class=NoMethodError error=\"undefined method `to_i' for [2026-12-02 "
    "08:01:51.721140659 +0000, {}]:Array\\n\\n    time = ...\"\n"
    "\x1b[2Kaggregator-1  | 2026-12-02T08:01:52.9Z 2026-12-02 08:01:52 +0000 [error]: #0 "
    "suppressed same stacktrace\n")
FLUENT_BIT_LOG = (
    "\x1b[2Krouter-1  | 2026-12-02T08:01:51.6Z [2026/12/02 08:01:51.626] [error] "
    "[output:forward:pt_sink] cannot get ack\n"
    "\x1b[2Krouter-1  | 2026-12-02T08:01:51.6Z [2026/12/02 08:01:51.627] [ warn] [engine] "
    "failed to flush chunk '1-1796198510.967856025.flb', retry in 10 seconds: task_id=0, "
    "input=pt_unix > output=pt_sink (out_id=0)\n"
    "\x1b[2Krouter-1  | 2026-12-02T08:01:54.8Z [2026/12/02 08:01:54.896] [ warn] [engine] "
    "service will shutdown in max 5 seconds\n"
    "\x1b[2Krouter-1  | 2026-12-02T08:01:54.9Z [2026/12/02 08:01:54.984] [error] "
    "[output:forward:pt_sink] cannot get ack\n")
REJECTED = ("[error]: #0 [pt_tcp] unexpected error on reading data host=\"127.0.0.1\" "
            "port=51184 error_class=NoMethodError error=\"undefined method `to_i' for "
            "[2026-12-02 08:01:50.967421366 +0000, {}]:Array\\n\\n    time = ...\"")


def test_each_kind_reads_its_own_words_from_its_log() -> None:
    fluentd = routers.log_errors(Aggregator(kind="fluentd"), FLUENTD_LOG)
    # Not the deprecation every Fluentd logs, not the backtrace: the two rejections.
    assert fluentd == [REJECTED, REJECTED.replace("51184", "51190").replace(
        "50.967421366", "51.721140659")]
    assert routers.log_errors(Router(kind="fluent-bit"), FLUENT_BIT_LOG) == [
        "[error] [output:forward:pt_sink] cannot get ack",
        "[ warn] [engine] failed to flush chunk '1-1796198510.967856025.flb', retry in 10 "
        "seconds: task_id=0, input=pt_unix > output=pt_sink (out_id=0)",
        "[error] [output:forward:pt_sink] cannot get ack"]
    builtin = ("router-1  | 2026-12-02T08:01:49.1Z router ready\n"
               "router-1  | 2026-12-02T08:01:50.1Z router: sink 127.0.0.1:4100 unavailable "
               "(ConnectionRefusedError(111, 'Connect call failed')); retrying every <= 1s\n")
    assert routers.log_errors(Router(), builtin) == [
        "router: sink 127.0.0.1:4100 unavailable (ConnectionRefusedError(111, 'Connect call "
        "failed')); retrying every <= 1s"]
    # One kind for the repeated rejection (numbers and ids blanked), counted.
    (kind,) = summarise("aggregator", fluentd)
    assert (kind.count, kind.first) == (2, REJECTED)
    assert kind.kind.startswith("[error]: #N [pt_tcp] unexpected error on reading data "
                                "host=… port=N error_class=NoMethodError")


def test_fluentds_event_dumps_are_one_kind_whatever_the_event() -> None:
    # Fluentd 1.19 skips an invalid event with a warning that prints the event: its tag, time
    # and record differ per line (keys in any order), its kind does not.
    skipped = ('[warn]: #0 [pt_tcp] skip invalid event: host="127.0.0.1" tag="app-{tag}" '
               'time=[2026-12-02 15:35:35.{ns} +0000, {{}}] record={record}')
    messages = [skipped.format(tag="c4e03564", ns="258874705",
                               record='{"log"=>"pt:c4e03564:1", "source"=>"stdout"}'),
                skipped.format(tag="0a1b2c3d", ns="301",
                               record='{"source"=>"stdout", "log"=>"pt:0a1b2c3d:2"}')]
    (kind,) = summarise("aggregator", messages)
    assert (kind.count, kind.first) == (2, messages[0])
    assert kind.kind == ("[warn]: #N [pt_tcp] skip invalid event: host=… tag=… time=… "
                         "record=…")


def two_tiers(n: int) -> pt.TrialResult:
    errors = (*summarise("router", routers.log_errors(Router(kind="fluent-bit"), FLUENT_BIT_LOG)),
              *summarise("aggregator", routers.log_errors(Aggregator(kind="fluentd"),
                                                          FLUENTD_LOG)))
    return dataclasses.replace(
        BASE, topology="aggregator", router="fluent-bit", trial=n, received_distinct=0,
        received_total=0, lost=1000, lost_ranges=((0, 0, 999),), lost_before_stop=1000,
        cell="aggregator/fluent-bit>fluentd/ecs", log_errors=errors, lost_at="app->sink",
        hops={"app": 1000, "router_in": None, "router_out": None, "aggregator_in": None,
              "aggregator_out": 0, "sink": 0},
        hop_unknown={"aggregator_in": "monitor_agent counts no input records"})


def test_a_cells_kinds_downstream_first_with_their_trials() -> None:
    rows = merged(t.log_errors for t in (two_tiers(1), two_tiers(2)))
    assert [(e.tier, e.count, e.trials) for e in rows] == [
        ("aggregator", 4, 2), ("router", 4, 2), ("router", 2, 2)]


def test_the_cause_in_the_terminal_report_html_junit_and_the_pytest_message() -> None:
    results = RunResults("r1", Path("runs/r1"), {"run_id": "r1"}, (two_tiers(1), two_tiers(2)))
    console = Console(record=True, width=300)
    print_report(console, results)
    text = console.export_text()
    assert "What the routers logged (warnings and errors, by kind)" in text
    assert ("│ aggregator/fluent-bit>fluentd/ecs │ aggregator │     4 │    2/2 │ [error]: #0 "
            "[pt_tcp] unexpected error on reading data host=\"127.0.0.1\" port=51184 "
            "error_class=NoMethodError error=\"undefined method `to_i' for") in text
    # The waterfall has the second tier's columns.
    assert "│ aggregator/fluent-bit>fluentd/ecs │   2,000 │ unknown (2/2 trials) │" in text
    page = render_html({"run_id": "r1"}, results.trials, None)
    assert ("<td class=\"text\">aggregator</td><td>4</td>\n  <td>2/2</td><td class=\"text "
            "example\">[error]: #0 [pt_tcp] unexpected error on reading data") in page
    assert "likely cause: the aggregator delivered nothing and logged" in page
    case = junit_xml("r1", results.trials, max_loss=0)
    failure = str(case.tostring())
    assert ("aggregator logged 2 times: [error]: #0 [pt_tcp] unexpected error on reading "
            "data") in failure
    assert "aggregator_in unknown: monitor_agent counts no input records" in failure
    with pytest.raises(AssertionError) as err:
        results.assert_no_loss()
    assert "; aggregator logged 2 times: [error]: #0 [pt_tcp] unexpected error" in str(err.value)


def test_the_rate_asked_against_the_rate_reached_per_cell() -> None:
    slow = dataclasses.replace(BASE, topology="direct-tcp", requested_rate=20000,
                               achieved_rate=6000.0)
    console = Console(record=True, width=300)
    print_report(console, RunResults("r1", Path("runs/r1"), {}, (slow, BASE)))
    text = console.export_text()
    assert "┃ lines/s asked ┃ lines/s reached ┃ lost at ┃" in text
    assert ("│ direct-tcp/builtin/ecs │              0/1 (0%-79%) │       0.0 │          0-0 │ "
            "       0.00 │   0 │      0.00 │        20,000 │           6,000 │ none    │") in text
    assert "│           max │           5,000 │ none    │" in text
    page = render_html({"run_id": "r1"}, (slow, BASE), None)
    assert "<td>20,000</td>\n  <td class=\"lost\">6,000</td>" in page
    assert "the app reached only 6,000 of the 20,000 lines/s asked" in page


def test_a_fault_cut_short_or_never_carried_out_is_told() -> None:
    pause = Fault(kind="router-pause", at=3.0, duration=20.0)
    assert as_asked(FaultPlan(pause, started=True, started_at=3.02), 8.0) == (
        "the router-pause of the router asked at 3 s for 20 s lasted 5.0 s: the stop came at "
        "8.0 s and ended it")
    assert as_asked(FaultPlan(pause, started=True, finished=True, started_at=3.0), 30.0) == ""
    kill = Fault(kind="router-kill", at=6.0, target="aggregator")
    assert as_asked(FaultPlan(kill), 4.2) == (
        "the router-kill of the aggregator asked at 6 s never happened: the stop came at 4.2 s")
    assert as_asked(FaultPlan(Fault()), 1.0) == ""


def test_a_fault_the_stop_would_prevent_is_refused() -> None:
    with pytest.raises(pt.InputError) as err:
        pt.Scenario().with_overrides({"fault.kind": "router-pause", "fault.at": 8.0,
                                      "stop.after": 8.0})
    assert str(err.value) == (
        "command line: 'fault.at' (8 s) is at or after the stop ('stop.after': 8 s): the "
        "router-pause would never happen. Set 'fault.at' below 'stop.after', or "
        "'fault.kind: none'.")
    # A line-count stop may come at any time: told after the trial, not refused.
    pt.Scenario().with_overrides({"fault.kind": "router-pause", "fault.at": 8.0,
                                  "stop.after": 8.0, "stop.after_lines": 5000})
