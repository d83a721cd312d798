"""Exact router hop counts from a real router's metrics and log (lines as real routers wrote
them here), and their resolution against the sink."""

from __future__ import annotations

from pipeline_tests._routers import fluent_bit_counts as fb
from pipeline_tests._routers import fluentd_counts as fd
from pipeline_tests._routers.kind import RouterCounters

OURS = frozenset({"pt_unix", "pt_tcp", "pt_tail"})


def snapshot(built: str, unix: int, extra: str = "") -> str:
    return (f'{built} fluentbit_uptime{{hostname="vm"}} = 3\n'
            f'2026-12-01T19:23:35.1Z fluentbit_input_records_total{{name="pt_unix"}} = {unix}\n'
            '2026-12-01T19:23:35.1Z fluentbit_input_records_total{name="pt_tcp"} = 2\n'
            '2026-12-01T19:23:35.1Z fluentbit_filter_records_total{name="pt_ecs"} = 9\n'
            '2026-12-01T19:23:35.1Z fluentbit_output_proc_records_total{name="pt_sink"} = 7\n'
            + extra)


def log(*lines: str) -> str:
    return "".join(f"\x1b[2Krouter-1  | {line}\n" for line in lines)


PAUSED = ("2026-12-01T19:23:35.660105167Z [2026/12/01 19:23:35.658] [ info] [engine] pausing all "
          "inputs..")
STOPPED = ("2026-12-01T19:23:36.144382210Z [2026/12/01 19:23:36.144] [ info] [engine] service has "
           "stopped (0 pending tasks)")
CLEAN = log("2026-12-01T19:23:35.657960157Z [2026/12/01 19:23:35] [engine] caught signal (SIGTERM)",
            "2026-12-01T19:23:35.660080009Z [2026/12/01 19:23:35.657] [ warn] [engine] service "
            "will shutdown in max 5 seconds", PAUSED, STOPPED)


def test_a_copy_built_after_the_pause_is_exact() -> None:
    last = fb.parse_snapshot(snapshot("2026-12-01T19:23:36.000000001Z", 40))
    assert last == fb.Snapshot(1796153016000000001, {"pt_unix": 40, "pt_tcp": 2},
                               frozenset({"pt_ecs"}), frozenset({"pt_sink"}))
    shutdown = fb.parse_shutdown(CLEAN)
    assert shutdown == fb.Shutdown(1796153015660105167, True, "")
    assert fb.router_counters(last, shutdown, OURS, "pt_ecs", "pt_sink") == \
        RouterCounters(42, None, sent_at_sink=True)


def test_an_older_copy_and_a_clean_stop_count_at_the_sink() -> None:
    last = fb.parse_snapshot(snapshot("2026-12-01T19:23:35.125000000Z", 30))
    got = fb.router_counters(last, fb.parse_shutdown(CLEAN), OURS, "pt_ecs", "pt_sink")
    assert got == RouterCounters(None, None, received_at_sink=True, received_floor=32,
                                 sent_at_sink=True)
    assert got.resolve(41) == RouterCounters(41, 41)
    assert got.resolve(31) == RouterCounters(
        None, 31, "it counted 32 records in but the sink received 31: it did not deliver all "
        "it accepted")
    # Two tiers: counted by what the aggregator took in, or unknown with the reason.
    assert got.resolve(41, "the aggregator") == RouterCounters(41, 41)
    unknown = ("it delivers to the aggregator, whose input count is unknown: it logged: "
               "[error] x")
    assert got.resolve(None, "the aggregator", "it logged: [error] x") == RouterCounters(
        None, None, unknown, unknown)


def test_an_older_copy_and_no_clean_stop_is_unknown_with_the_reason() -> None:
    last = fb.parse_snapshot(snapshot("2026-12-01T19:23:35.125000000Z", 30))
    pending = log(PAUSED, "2026-12-01T19:23:40.6Z [2026/12/01 19:23:40.6] [ info] [engine] "
                  "pending chunk count: memory=3, filesystem=0; grace_timer=5",
                  "2026-12-01T19:23:40.65Z [2026/12/01 19:23:40.6] [ info] [engine] service has "
                  "stopped (0 pending tasks)")
    assert fb.router_counters(last, fb.parse_shutdown(pending), OURS, "pt_ecs", "pt_sink") == \
        RouterCounters(None, None, "its last metrics read were built 0.54 s before it paused "
                       "its inputs (they are rebuilt once a second), and it stopped with chunks "
                       "still pending", sent_at_sink=True)
    failed = CLEAN + log("2026-12-01T19:23:36.2Z [2026/12/01 19:23:36.2] [error] "
                         "[output:forward:pt_sink] cannot get ack")
    assert fb.parse_shutdown(failed).why_not_clean == \
        "it logged: [2026/12/01 19:23:36.2] [error] [output:forward:pt_sink] cannot get ack"
    assert fb.parse_shutdown(log(PAUSED)) == fb.Shutdown(
        1796153015660105167, False, "it never logged that it stopped (killed?)")
    users = fb.parse_snapshot(snapshot("2026-12-01T19:23:35.1Z", 30, '2026-12-01T19:23:35.1Z '
                                       'fluentbit_filter_drop_records_total{name="grep.1"} = 0\n'))
    assert fb.router_counters(users, fb.parse_shutdown(CLEAN), OURS, "pt_ecs", "pt_sink") == \
        RouterCounters(None, None, "its last metrics read were built 0.56 s before it paused "
                       "its inputs (they are rebuilt once a second), and filters or outputs "
                       "other than pipeline-tests' (grep.1) may drop records", sent_at_sink=True)
    assert fb.router_counters(None, fb.parse_shutdown(CLEAN), OURS, "pt_ecs", "pt_sink") == \
        RouterCounters(None, None, "its /api/v2/metrics never answered", sent_at_sink=True)


FLUENTD_PLUGINS = {"plugins": [
    {"plugin_id": "pt_unix", "plugin_category": "input", "emit_records": 0},
    {"plugin_id": "pt_monitor", "plugin_category": "input", "emit_records": 0},
    {"plugin_id": "pt_ecs", "plugin_category": "filter", "emit_records": 32875},
    {"plugin_id": "pt_sink", "plugin_category": "output", "emit_records": 32870}]}
FLUENTD_LOG = (
    "2026-12-01 19:31:14 +0000 [warn]: #0 no patterns matched tag=\"fluent.info\"\n"
    "2026-12-01 19:30:59 +0000 [info]: #0 fluentd worker is now stopping worker=0\n"
    "2026-12-01 19:31:01 +0000 [info]: Worker 0 finished with status 0\n")


def test_fluentd_counts_at_the_sink_when_it_provably_delivered_all() -> None:
    assert fd.filter_records(FLUENTD_PLUGINS, "pt_ecs") == 32875
    assert fd.router_counters(FLUENTD_PLUGINS, FLUENTD_LOG, "") == RouterCounters(
        None, None, received_at_sink=True, sent_at_sink=True)
    assert fd.router_counters(FLUENTD_PLUGINS, FLUENTD_LOG, "").resolve(32870) == \
        RouterCounters(32870, 32870)


def test_fluentd_unknown_with_the_reason() -> None:
    def why(plugins: dict, log: str, keeps: str = "") -> str:
        return fd.router_counters(plugins, log, keeps).resolve(10).received_unknown
    start = "monitor_agent counts no input records, and "
    assert why(FLUENTD_PLUGINS, FLUENTD_LOG, "flush_at_shutdown is off") == \
        start + "flush_at_shutdown is off"
    assert why(FLUENTD_PLUGINS, FLUENTD_LOG.replace("Worker 0 finished", "x")) == \
        start + "its worker never finished with status 0 (killed?)"
    failed = "2026-12-01 19:31:00 +0000 [warn]: #0 [pt_sink] failed to flush the buffer.\n"
    assert why(FLUENTD_PLUGINS, failed + FLUENTD_LOG) == \
        start + "it logged: [warn]: #0 [pt_sink] failed to flush the buffer."
    users = {"plugins": [*FLUENTD_PLUGINS["plugins"],
                         {"plugin_id": "object:3fc", "plugin_category": "filter"}]}
    assert why(users, FLUENTD_LOG) == \
        start + "filters or outputs of the user's (object:3fc) may drop records"
    assert why({}, FLUENTD_LOG) == start + "its monitor_agent never answered"
