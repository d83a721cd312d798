"""Evidence of starvation: the task's cgroups read (v1 and v2 layouts, a container gone, an
engine elsewhere) and what the verdict and report.html say from them."""

import dataclasses
from pathlib import Path

from test_report import BASE

from pipeline_tests._report.html import render_html
from pipeline_tests._results.cpu import cpu_clause, cpu_rows, router_share
from pipeline_tests._results.trial_result import TrialResult
from pipeline_tests._results.verdict import verdict
from pipeline_tests._trial import cpu_use


def v1_cgroup(root: Path, path: str, usage_ns: int, throttled: int, shares: int) -> None:
    cpu, acct = root / "cpu" / path, root / "cpuacct" / path
    cpu.mkdir(parents=True, exist_ok=True)
    acct.mkdir(parents=True, exist_ok=True)
    (cpu / "cpu.stat").write_text(f"nr_periods 300\nnr_throttled {throttled}\n"
                                  f"throttled_time {throttled * 75_000_000}\nnr_bursts 0\n")
    (cpu / "cpu.shares").write_text(f"{shares}\n")
    (acct / "cpuacct.usage").write_text(f"{usage_ns}\n")


def test_a_container_found_by_its_pid_on_cgroup_v1_and_v2(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "41").mkdir(parents=True)
    (proc / "41" / "cgroup").write_text("12:pids:/pipeline-tests/t/abc\n4:cpuacct:/pipeline-tests"
                                        "/t/abc\n3:cpu:/pipeline-tests/t/abc\n1:name=systemd:/x\n")
    (proc / "42").mkdir()
    (proc / "42" / "cgroup").write_text("0::/pipeline-tests/t/def\n")
    (proc / "43").mkdir()
    (proc / "43" / "cgroup").write_text("4:cpu,cpuacct:/docker/ghi\n")
    root = tmp_path / "cg"
    assert cpu_use.container_dirs(41, root, proc) == cpu_use.Dirs(
        root / "cpu/pipeline-tests/t/abc", root / "cpuacct/pipeline-tests/t/abc")
    assert cpu_use.container_dirs(42, root, proc) == cpu_use.Dirs(
        root / "pipeline-tests/t/def", None)
    assert cpu_use.container_dirs(43, root, proc) == cpu_use.Dirs(
        root / "cpu,cpuacct/docker/ghi", root / "cpu,cpuacct/docker/ghi")
    assert cpu_use.container_dirs(44, root, proc) is None  # exited: no /proc entry


def test_v1_and_v2_figures_and_a_cgroup_that_went_away(tmp_path: Path) -> None:
    v1_cgroup(tmp_path, "pipeline-tests/t/abc", 2_500_000_000, 4, 2)
    dirs = cpu_use.Dirs(tmp_path / "cpu/pipeline-tests/t/abc",
                        tmp_path / "cpuacct/pipeline-tests/t/abc")
    assert cpu_use.read(dirs) == cpu_use.CpuStat(2.5, 300, 4, 0.3, 2)
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1\nsystem_usec 1\n"
                                 "nr_periods 10\nnr_throttled 3\nthrottled_usec 250000\n")
    (v2 / "cpu.weight").write_text("1\n")
    assert cpu_use.read(cpu_use.Dirs(v2, None)) == cpu_use.CpuStat(1.5, 10, 3, 0.25, 1)
    assert cpu_use.read(cpu_use.Dirs(tmp_path / "gone", tmp_path / "gone")) is None
    assert cpu_use.task_dirs("/pipeline-tests/t", tmp_path) == cpu_use.Dirs(
        tmp_path / "cpu/pipeline-tests/t", tmp_path / "cpuacct/pipeline-tests/t")


def test_the_watch_keeps_the_stop_reading_and_the_last_one(tmp_path: Path) -> None:
    v1_cgroup(tmp_path, "t/app", 1_000_000_000, 0, 256)
    v1_cgroup(tmp_path, "t/router", 10_000_000, 0, 2)
    dirs = {name: cpu_use.Dirs(tmp_path / "cpu/t" / name, tmp_path / "cpuacct/t" / name)
            for name in ("app", "router")}
    watch = cpu_use.CpuWatch({**dirs, "task": None})  # the app starts: the window opens
    v1_cgroup(tmp_path, "t/app", 2_000_000_000, 0, 256)
    v1_cgroup(tmp_path, "t/router", 15_000_000, 0, 2)
    watch.mark_stop()
    v1_cgroup(tmp_path, "t/router", 30_000_000, 0, 2)  # the router drains after the app
    for path in (tmp_path / "cpu/t/app", tmp_path / "cpuacct/t/app"):
        for file in path.iterdir():
            file.unlink()
        path.rmdir()  # the app exited: runc removed its cgroup
    figures = watch.figures()
    assert figures["note"] == "the task's cgroup could not be read"
    assert figures["app"]["flood"] == {  # from the app's start to the stop
        "usage_s": 1.0, "nr_periods": 0, "nr_throttled": 0, "throttled_s": 0.0, "shares": 256}
    assert figures["app"]["total"]["usage_s"] == 2.0  # the last reading before it went
    assert (figures["router"]["flood"]["usage_s"], figures["router"]["total"]["usage_s"]) == (
        0.005, 0.03)
    assert figures["task"] == {"flood": None, "total": None}


def test_an_engine_elsewhere_has_no_figures_and_says_why() -> None:
    figures = cpu_use.watch({}, None, False, "docker26").figures()
    assert figures == {"note": "the engine docker26 is not this machine: its containers' "
                               "cgroups and process ids cannot be read from here"}


def starved(n: int, lost: int, router_s: float, app_shares: int = 256,
            router_shares: int = 2, task_throttled: int = 120) -> TrialResult:
    def stat(usage: float, shares: int | None, throttled: int = 0) -> dict:
        return {"flood": {"usage_s": usage, "nr_periods": 400, "nr_throttled": throttled,
                          "throttled_s": throttled * 0.07, "shares": shares}, "total": None}

    return dataclasses.replace(
        BASE, trial=n, emitted=9000, received_distinct=9000 - lost, received_total=9000 - lost,
        lost=lost, lost_before_stop=lost, lost_after_stop=0,
        hops={"app": 9000, "router_in": 9000 - lost, "router_out": 9000 - lost,
              "sink": 9000 - lost}, emitted_by_stream=(9000,), stop_seq=(8990,),
        cpu={"note": "", "app": stat(7.5 - router_s, app_shares),
             "router": stat(router_s, router_shares),
             "task": stat(7.5, None, task_throttled)})


def test_the_verdict_says_what_the_router_got_and_how_often_the_task_was_throttled() -> None:
    trials = [starved(1, 8000, 0.06, task_throttled=118), starved(2, 8100, 0.06)]
    assert round(router_share(trials[0]) or 0, 2) == 0.8
    assert cpu_clause(trials) == ("the router got 0.8% of the task's CPU while the app ran "
                                  "(2 of 258 CPU shares), the task was throttled 118-120 times")
    assert verdict(trials) == (
        "firelens/builtin/ecs lost 89% (8,000-8,100 lines) in 2/2 trials, all between the app "
        "and the router (inside the log driver), all emitted before SIGTERM, the router got "
        "0.8% of the task's CPU while the app ran (2 of 258 CPU shares), the task was "
        "throttled 118-120 times.")
    fair = [starved(1, 0, 3.0, router_shares=1024, task_throttled=0)]
    assert verdict(fair) == ("firelens/builtin/ecs lost 0 lines in 1/1 trials, the router got "
                             "40% of the task's CPU while the app ran (1,024 of 1,280 CPU "
                             "shares).")
    assert cpu_clause([BASE]) == ""


def test_report_html_has_a_cpu_table_only_with_figures() -> None:
    rows = cpu_rows([starved(1, 8000, 0.06), BASE])
    assert [(r.shares, r.throttled) for r in rows] == [("256 / 2", "task 120 (8.4 s)")]
    page = render_html({"run_id": "r"}, [starved(1, 8000, 0.06)], None)
    assert "CPU inside the task" in page and "256 / 2" in page and "task 120 (8.4 s)" in page
    assert "CPU inside the task" not in render_html({"run_id": "r"}, [BASE], None)
