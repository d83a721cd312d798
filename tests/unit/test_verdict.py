import dataclasses

from test_report import BASE

from pipeline_tests._results.hops import trial_gaps, waterfall
from pipeline_tests._results.log_errors import LogError, summarise
from pipeline_tests._results.trial_result import TrialFailure, TrialResult
from pipeline_tests._results.verdict import verdict


def trial(n: int, *, topology: str = "firelens", router: str = "fluentd", stop: str = "ecs",
          emitted: int = 1000, lost: int = 0, rate: float = 80000.0, after: int = 0,
          router_in: int | None = None, router_out: int | None = None) -> TrialResult:
    sink = emitted - lost
    return dataclasses.replace(
        BASE, topology=topology, router=router, stop=stop, trial=n, emitted=emitted,
        received_distinct=sink, received_total=sink, lost=lost,
        lost_before_stop=lost - after, lost_after_stop=after, achieved_rate=rate,
        hops={"app": emitted, "router_in": router_in, "router_out": router_out, "sink": sink},
        emitted_by_stream=(emitted,), stop_seq=(emitted // 2,))


FIRELENS = [trial(1, lost=930, router_in=70, router_out=70),
            trial(2, lost=920, router_in=80, router_out=80),
            trial(3, lost=940, router_in=60, router_out=60)]
DIRECT = [trial(n, topology="direct-tcp", rate=9600.0, router_in=1000, router_out=1000)
          for n in (1, 2, 3)]


def test_the_issue_example() -> None:
    assert verdict([*DIRECT, *FIRELENS]) == (
        "direct-tcp/fluentd/ecs lost 0 lines in 3/3 trials, but the app reached only 9,600 "
        "lines/s (firelens/fluentd/ecs: 80,000); firelens/fluentd/ecs lost 93% (920-940 lines) "
        "in 3/3 trials, all between the app and the router (inside the log driver), all emitted "
        "before SIGTERM.")


def test_nothing_lost_says_so_without_a_cost() -> None:
    assert verdict(DIRECT[:2]) == "direct-tcp/fluentd/ecs lost 0 lines in 2/2 trials."


def test_a_faster_lossless_cell_has_no_but() -> None:
    fast = [dataclasses.replace(t, achieved_rate=90000.0) for t in DIRECT[:1]]
    assert verdict([*fast, FIRELENS[0]]).startswith(
        "direct-tcp/fluentd/ecs lost 0 lines in 1/1 trials; firelens")


def test_loss_split_over_hops_after_the_signal_unknown_router_counts() -> None:
    split = trial(1, topology="direct-tcp", router="fluent-bit", stop="all-at-once", lost=400,
                  after=100, router_in=900, router_out=600)
    unknown = trial(2, topology="direct-tcp", router="fluent-bit", stop="all-at-once",
                    lost=1, after=1)
    clean = trial(3, topology="direct-tcp", router="fluent-bit", stop="all-at-once")
    assert verdict([split, unknown, clean]) == (
        "direct-tcp/fluent-bit/all-at-once lost 20% (1-400 lines) in 2/3 trials, "
        "25% between the app and the router (inside the client library or on its socket), "
        "75% inside the router (accepted by its input, not delivered) where counted, "
        "unknown in 1 trial (the router's input and output not counted), "
        "300 emitted before SIGTERM and 101 after.")


def test_kill_no_stop_failures_and_interruption() -> None:
    killed = dataclasses.replace(trial(1, stop="kill", lost=1), stop_seq=(-1,))
    ran_out = dataclasses.replace(trial(1, topology="file", stop="none", lost=5),
                                  stop_seq=(-1,))
    failed = TrialFailure("file", "fluentd", "none", 2, "the router never became ready")
    assert verdict([killed, ran_out], [failed, failed], interrupted=True) == (
        "firelens/fluentd/kill lost 0.10% (1 line) in 1/1 trials, all between the app and "
        "the sink (the router's own counts are unknown), all emitted before SIGKILL; "
        "file/fluentd/none lost 0.50% (5 lines) in 1/1 trials, all between the app and the "
        "sink (the router's own counts are unknown), in trials where no stop signal reached "
        "the app. 2 trials of file/fluentd/none could not be carried out. The run was "
        "interrupted: this covers only the trials that finished.")
    assert verdict([]) == "No trial finished."


def test_trial_gaps_skip_unknown_and_restarted_router_hops() -> None:
    assert trial_gaps(trial(1, lost=300, router_in=800, router_out=700)) == {
        "app->router_in": 200, "router_in->router_out": 100}
    assert trial_gaps(trial(1, lost=300, router_in=None, router_out=700)) == {
        "app->router_out": 300}
    # A restarted router counted less than the sink received: it cannot say where.
    assert trial_gaps(trial(1, lost=300, router_in=100, router_out=100)) == {"app->sink": 300}


def test_waterfall_per_cell() -> None:
    fall = waterfall("firelens/fluentd/ecs", FIRELENS)
    assert (fall.trials, fall.emitted, dict(fall.unknown)) == (3, 3000, {})
    assert [(s.hop, s.count, s.since, s.lost, round(s.lost_pct, 2)) for s in fall.steps] == [
        ("router_in", 210, "app", 2790, 93.0), ("router_out", 210, "router_in", 0, 0.0),
        ("sink", 210, "router_out", 0, 0.0)]
    mixed = waterfall("x", [FIRELENS[0], trial(4, lost=10, router_in=990)])
    assert dict(mixed.unknown) == {"router_out": 1}
    assert [(s.hop, s.count, s.since, s.lost) for s in mixed.steps] == [
        ("router_in", 1060, "app", 940), ("router_out", None, "router_in", 0),
        ("sink", 1060, "router_in", 0)]


def test_waterfall_in_the_terminal_and_report_html() -> None:
    from rich.console import Console

    from pipeline_tests._report.html import render_html
    from pipeline_tests._report.terminal import waterfall_table
    from pipeline_tests._results.hops import waterfalls

    unknown = [trial(n, topology="direct-tcp", lost=10) for n in (1, 2)]
    console = Console(record=True, width=200)
    console.print(waterfall_table(waterfalls([*FIRELENS, *unknown])))
    rows = [line.split("│")[1:-1] for line in console.export_text().splitlines()
            if line.startswith("│") and "/fluentd/" in line]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["firelens/fluentd/ecs", "3,000", "210 (-93.00%)", "210 (-0.00%)", "210 (-0.00%)"],
        ["direct-tcp/fluentd/ecs", "2,000", "unknown (2/2 trials)", "unknown (2/2 trials)",
         "1,980 (-1.00% since app)"]]
    page = render_html({"run_id": "r1"}, [*FIRELENS, *unknown], None)
    assert ('<ul class="verdict">\n  <li>firelens/fluentd/ecs lost 93% (920-940 lines) in 3/3 '
            'trials, all between the app and the router (inside the log driver), all emitted '
            'before SIGTERM;</li>\n  <li>direct-tcp/fluentd/ecs lost 1.0% (10 lines) in 2/2 '
            'trials, all between the app and the sink (the router&#39;s own counts are '
            'unknown), all emitted before SIGTERM.</li>\n</ul>') in page
    assert '<td class="lost">210 (-93.00%)</td>' in page
    assert "<td>unknown (2/2 trials)</td>" in page


def test_a_rate_within_five_percent_is_no_cost() -> None:
    near = [dataclasses.replace(t, achieved_rate=76100.0) for t in DIRECT[:1]]
    assert verdict([*near, FIRELENS[0]]).startswith(
        "direct-tcp/fluentd/ecs lost 0 lines in 1/1 trials; firelens")


def test_the_terminal_prints_the_verdict_one_cell_per_line(tmp_path) -> None:
    from rich.console import Console

    from pipeline_tests._report.terminal import print_verdict
    from pipeline_tests._results.run_results import RunResults

    results = RunResults("r1", tmp_path, {}, (*DIRECT[:1], FIRELENS[0]),
                         (TrialFailure("firelens", "fluentd", "ecs", 2, "no image"),))
    console = Console(record=True, width=300)
    print_verdict(console, results)
    assert console.export_text().splitlines() == [
        "Verdict:",
        "  direct-tcp/fluentd/ecs lost 0 lines in 1/1 trials, but the app reached only 9,600 "
        "lines/s (firelens/fluentd/ecs: 80,000);",
        "  firelens/fluentd/ecs lost 93% (930 lines) in 1/1 trials, all between the app and the "
        "router (inside the log driver), all emitted before SIGTERM.",
        "  1 trial of firelens/fluentd/ecs could not be carried out."]


def test_results_json_has_the_verdict_and_the_waterfalls(tmp_path) -> None:
    import json

    from pipeline_tests._results.run_results import RunResults

    data = json.loads(json.dumps(RunResults("r1", tmp_path, {"run_id": "r1"},
                                            tuple(FIRELENS)).as_json()))
    assert data["verdict"] == verdict(FIRELENS)
    assert data["waterfalls"] == [{
        "label": "firelens/fluentd/ecs", "trials": 3, "emitted": 3000, "unknown": {},
        "steps": [{"hop": "router_in", "count": 210, "since": "app", "lost": 2790,
                   "lost_pct": 93.0},
                  {"hop": "router_out", "count": 210, "since": "router_in", "lost": 0,
                   "lost_pct": 0.0},
                  {"hop": "sink", "count": 210, "since": "router_out", "lost": 0,
                   "lost_pct": 0.0}]}]


def test_a_cell_that_reached_the_rate_it_was_asked_for_paid_no_cost() -> None:
    asked = [dataclasses.replace(t, requested_rate=300, achieved_rate=300.0,
                                 cell="firelens/builtin/ecs (workload.rate=300)")
             for t in DIRECT[:2]]
    lossy = [dataclasses.replace(t, cell="firelens/builtin/ecs (workload.rate=30000)")
             for t in FIRELENS[:1]]
    assert verdict([*asked, *lossy]).startswith(
        "firelens/builtin/ecs (workload.rate=300) lost 0 lines in 2/2 trials; ")


def test_partly_known_hops_are_one_loss_unknown_in_some_trials() -> None:
    # FireLens into Fluent Bit at rate max: router_in known in 1 of 3 trials. One kind of
    # loss, not "38% inside the log driver, 62% between the app and the router's output".
    known = trial(1, router="fluent-bit", lost=600, router_in=400, router_out=400)
    unknown = [trial(n, router="fluent-bit", lost=580, router_out=420) for n in (2, 3)]
    assert verdict([known, *unknown]) == (
        "firelens/fluent-bit/ecs lost 59% (580-600 lines) in 3/3 trials, all between the app "
        "and the router (inside the log driver) where counted, unknown in 2 trials (the "
        "router's input not counted), all emitted before SIGTERM.")


def test_an_unreached_rate_is_said_with_the_rate_reached() -> None:
    # Direct TCP into Fluentd: 20,000 lines/s asked, the router's pace reached.
    slow = [dataclasses.replace(trial(n, topology="direct-tcp", router_in=1000,
                                      router_out=1000, rate=rate), requested_rate=20000)
            for n, rate in ((1, 6097.4), (2, 7177.0))]
    assert verdict(slow) == ("direct-tcp/fluentd/ecs lost 0 lines in 2/2 trials, but the app "
                             "reached only 6,097-7,177 of the 20,000 lines/s asked.")
    lossy = dataclasses.replace(FIRELENS[0], requested_rate=20000, achieved_rate=6000.0)
    assert verdict([lossy]).endswith(
        "all emitted before SIGTERM, the app reached only 6,000 of the 20,000 lines/s asked.")
    reached = [dataclasses.replace(t, requested_rate=9700) for t in DIRECT]
    assert verdict(reached) == "direct-tcp/fluentd/ecs lost 0 lines in 3/3 trials."


def test_a_fault_cut_short_by_the_stop_is_said() -> None:
    cut = ("the router-pause of the router asked at 3 s for 20 s lasted 5.0 s: the stop came "
           "at 8.0 s and ended it")
    paused = [dataclasses.replace(t, fault_cut=cut) for t in DIRECT[:2]]
    assert verdict(paused) == (
        "direct-tcp/fluentd/ecs lost 0 lines in 2/2 trials, the router-pause of the router "
        "asked at 3 s for 20 s lasted 5.0 s: the stop came at 8.0 s and ended it (2/2 "
        "trials).")


REJECTED = ("[warn]: #0 emit transaction failed: error_class=NoMethodError "
            "error=\"undefined method `to_i' for [1764661200, {}]:Array\" location=nil tag=\"app\"")


def two_tiers(n: int, **hops: int | None) -> TrialResult:
    # A Fluent Bit 5.1.1 sidecar into a Fluentd 1.16 aggregator, both with defaults.
    errors = (*summarise("aggregator", [REJECTED.replace("1764661200", str(1764661200 + i))
                                        for i in range(412)]),
              *summarise("router", ["[error] [output:forward:pt_sink] cannot get ack"] * 37
                         + ["[ warn] [engine] failed to flush chunk '1-1764661200.1.flb', "
                            "retry in 7 seconds: task_id=0"] * 5))
    base = trial(n, topology="aggregator", router="fluent-bit", lost=1000)
    return dataclasses.replace(base, cell="aggregator/fluent-bit>fluentd/ecs", log_errors=errors,
                               hops={"app": 1000, "router_in": 1000, "router_out": None,
                                     "aggregator_in": None, "aggregator_out": 0, "sink": 0,
                                     **hops})


def test_the_aggregators_rejection_is_the_likely_cause() -> None:
    assert verdict([two_tiers(1)]) == (
        "aggregator/fluent-bit>fluentd/ecs lost 100% (1,000 lines) in 1/1 trials, all between "
        "the sidecar's input and the aggregator's output (the sidecar's output and the "
        "aggregator's input not counted), all emitted before SIGTERM, likely cause: the "
        "aggregator delivered nothing and logged \"[warn]: #0 emit transaction failed: "
        "error_class=NoMethodError error=\"undefined method `to_i' for [1764661200, "
        "{}]:Array\" location=nil tag=\"app\"\" (412 times), the sidecar logged \"[error] "
        "[output:forward:pt_sink] cannot get ack\" (37 times) and 1 other kind of warning or "
        "error.")


def test_log_errors_by_kind_with_counts_and_a_first_example() -> None:
    errors = summarise("router", ["router: sink 127.0.0.1:4100 unavailable", "x 1",
                                  "router: sink 127.0.0.1:4101 unavailable", "x 2"], shown=1)
    assert errors == (
        LogError("router", "router: sink N.N.N.N:N unavailable", 2,
                 "router: sink 127.0.0.1:4100 unavailable"),
        LogError("router", "others", 2, "x 1"))
