"""The `pipeline-tests` command: a thin layer over the library (pipeline_tests.run and friends).

Heavy modules (docker, yaml, matplotlib) are imported inside the commands that need them, so
`pipeline-tests report` and `--help` start quickly and work without a Docker engine.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from pipeline_tests._cli.bars import ProgressBars
from pipeline_tests._errors import InputError, PipelineTestsError
from pipeline_tests._live.session import fan_out, linger, live_view
from pipeline_tests._report.terminal import print_report, print_verdict
from pipeline_tests._results.run_results import RunResults
from pipeline_tests._results.stored import stored_run
from pipeline_tests._routers import KINDS
from pipeline_tests._scenario.model import (
    DEFAULT_TOPOLOGIES,
    STOP_SEQUENCES,
    TOPOLOGIES,
    Router,
    Stop,
)
from pipeline_tests._version import __version__

# Tables are wide: when output goes to a file or CI log, do not squeeze them to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)

EPILOG = """\b
Examples:
  pipeline-tests run                          FireLens vs direct TCP, each until decided
  pipeline-tests run --trials 3               3 trials each
  pipeline-tests run scenarios/rate-sweep.yaml
  pipeline-tests run --router fluent-bit --router-config ops/fluent-bit.conf --rate 300
  pipeline-tests report runs/<run-id>         show a finished run again
  pipeline-tests doctor                       check Docker, Compose and the images
"""


def _one_of(names: Iterable[str]) -> str:
    """'a, b or c' from one of the lists the scenario checks against (help texts)."""
    *rest, last = names
    return f"{', '.join(rest)} or {last}" if rest else last


def _rate(value: str | None) -> int | None | str:
    if value is None:
        return None
    if value == "max":
        return "max"
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise click.BadParameter(f"'{value}' is not 'max' or a whole number of lines/s >= 1.")


def _trials(value: str | None) -> int | str | None:
    if value is None or value == "auto":
        return value
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise click.BadParameter(f"'{value}' is not 'auto' or a whole number of trials >= 1.")


def _search(value: str | None) -> dict[str, Any] | None:
    """--search AXIS=LOW..HIGH (a numeric axis) or AXIS=V1,V2,... (task.size's values)."""
    if value is None:
        return None
    axis, equals, span = value.partition("=")
    low, dots, high = span.partition("..")
    equals = equals if axis.strip() else ""
    try:
        if equals and dots:
            return {"axis": axis.strip(), "range": [float(low), float(high)]}
    except ValueError:
        pass
    if equals and span.strip() and not dots:
        return {"axis": axis.strip(), "values": [v.strip() for v in span.split(",")]}
    raise click.BadParameter(f"'{value}' is not AXIS=LOW..HIGH (e.g. workload.rate=1000..100000) "
                             "or AXIS=V1,V2,... (e.g. task.size=0.25vcpu-0.5gb,1vcpu-2gb).")


@click.group(epilog=EPILOG)
@click.version_option(__version__, prog_name="pipeline-tests")
def cli() -> None:
    """Floods real log topologies, stops the task like ECS or Kubernetes, counts every lost line.

    Each run writes runs/<run-id>/results.json, report.html and junit.xml.
    """


@cli.command(name="run")
@click.argument("scenario_file", required=False, type=click.Path(path_type=Path))
@click.option("--rate", callback=lambda c, p, v: _rate(v),
              help="Lines/s across streams, or 'max' (as fast as the app can write).")
@click.option("--line-size", type=click.IntRange(min=1), help="Bytes per line (default 400).")
@click.option("--stop-after", type=click.FloatRange(min=0, min_open=True),
              help="Seconds of flooding before the stop sequence (default 3).")
@click.option("--trials", callback=lambda c, p, v: _trials(v),
              help="Trials per cell, or 'auto' (the default): each cell runs until it is "
                   "decided whether it loses (Wald's SPRT at --confidence), up to --max-trials.")
@click.option("--max-trials", type=click.IntRange(min=1, max=1000),
              help="With --trials auto: the most trials a cell runs (default 10).")
@click.option("--confidence", type=click.FloatRange(min=0.5, max=1, min_open=True,
                                                    max_open=True),
              help="With --trials auto: the confidence of each cell's answer (default 0.95).")
@click.option("--search", callback=lambda c, p, v: _search(v), metavar="AXIS=LOW..HIGH",
              help="Find where loss starts along one axis by bisection, instead of fixed "
                   "rates: workload.rate=1000..100000 (the highest rate without loss), "
                   "task.cpus=0.25..2, limits.router_cpus=0.05..1, or task.size=SIZE,SIZE,... "
                   "(the smallest task without loss). As the scenario's search: section.")
@click.option("--topology", multiple=True,
              help=f"{_one_of(TOPOLOGIES)}; repeat for several (default: "
                   f"{' and '.join(DEFAULT_TOPOLOGIES)}).")
@click.option("--stop", "stop_sequence",
              help=f"Stop sequence: {_one_of(STOP_SEQUENCES)} (default {Stop().sequence}).")
@click.option("--router",
              help=f"Router kind: {_one_of(KINDS)} (default {Router().kind}).")
@click.option("--router-image", metavar="IMAGE[:TAG]",
              help="The router's image instead of the kind's default (e.g. a newer tag).")
@click.option("--router-config", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Your Fluent Bit / Fluentd config file, included unchanged.")
@click.option("--max-loss", type=click.IntRange(min=0),
              help="Exit 1 when any trial loses more than N lines.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Directory for runs/<run-id>/.")
@click.option("--pull", is_flag=True, help="docker pull a router image that is not present.")
@click.option("--resume", "resume_id", metavar="RUN_ID",
              help="Continue an interrupted run in OUT/RUN_ID (same scenario and flags): "
                   "finished trials are kept, the rest run.")
@click.option("--live", is_flag=True,
              help="Serve a live view of the run on http://127.0.0.1:PORT/ (the URL is "
                   "printed); when the run ends the final page, with report.html, stays up "
                   "until Ctrl-C (or --autoquit).")
@click.option("--autoquit", type=click.FloatRange(min=0), metavar="SECONDS",
              help="With --live: once the run has ended, keep the final page up this long, "
                   "then exit (as locust's --autoquit; for scripted demos and CI).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=0, show_default=True,
              help="The live view's port on 127.0.0.1; 0 picks a free one.")
@click.option("--engine", "engine_names", multiple=True, metavar="NAME",
              help="Where trials run: local (default), a Docker context or an engine URL "
                   "(unix://, tcp://, ssh://). Repeat for several: trials run in parallel, one "
                   "per engine at a time, into one run directory.")
def run_command(scenario_file: Path | None, rate: Any, line_size: int | None,
                stop_after: float | None, trials: int | str | None, max_trials: int | None,
                confidence: float | None, search: dict[str, Any] | None,
                topology: tuple[str, ...],
                stop_sequence: str | None, router: str | None, router_image: str | None,
                router_config: Path | None, max_loss: int | None, out: Path, pull: bool,
                resume_id: str | None, live: bool, autoquit: float | None, port: int,
                engine_names: tuple[str, ...]) -> None:
    """Run SCENARIO_FILE (YAML), or the default FireLens vs direct-TCP comparison."""
    from pipeline_tests import Scenario, load_scenario, run

    if autoquit is not None and not live:
        raise InputError("--autoquit says how long the live view's final page stays up; it "
                         "needs --live. Add --live, or drop --autoquit.")
    base = load_scenario(scenario_file) if scenario_file else Scenario()
    chosen = base.with_overrides(**{
        "workload.rate": rate, "workload.line_size": line_size, "stop.after": stop_after,
        "trials": trials, "max_trials": max_trials, "confidence": confidence,
        "topologies": list(topology), "stop.sequence": stop_sequence,
        "router.kind": router, "router.image": router_image,
        "router.config": str(router_config.resolve()) if router_config else None,
        "max_loss": max_loss, "engines": list(engine_names), "search": search})
    bars = ProgressBars(console)
    with live_view(live, port, _say) as view:
        try:
            results = run(chosen, out, on_event=fan_out(bars, view), pull=pull,
                          resume=resume_id)
        except KeyboardInterrupt:
            if bars.results is not None:
                _report(bars.results)
            console.print("[yellow]interrupted[/]: finished trials are kept above; "
                          "every container of the run was removed.")
            sys.exit(130)
        _report(results)
        if view is not None:
            linger(_say, autoquit)
    _exit_status(results, None)


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


@cli.command(name="report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--max-loss", type=click.IntRange(min=0),
              help="Exit 1 when any trial lost more than N lines (default: the run's own).")
def report_command(run_dir: Path, max_loss: int | None) -> None:
    """Show a finished (or interrupted) run again and rewrite its report.html and junit.xml."""
    results = stored_run(run_dir)
    _report(results, max_loss)
    _exit_status(results, max_loss)


def _report(results: RunResults, max_loss: int | None = None) -> None:
    # Imported here: matplotlib takes a second to load, and only a report needs it.
    from pipeline_tests._report.files import write_reports

    print_report(console, results)
    written = write_reports(results, results.max_loss if max_loss is None else max_loss)
    console.print(f"results: {results.results_json} ({len(results.trials)} trials"
                  + (f", {len(results.failures)} failed" if results.failures else "")
                  + f"); report: {', '.join(str(p) for p in written)}", highlight=False)
    print_verdict(console, results)


def _exit_status(results: RunResults, max_loss: int | None) -> None:
    """The run's outcome (RunResults.outcome, the live view's too) as the exit status;
    max_loss None: the run's own."""
    decided = results.outcome(max_loss)
    if not decided.passed:
        console.print(f"[red]FAIL[/]: {decided.reason}.", highlight=False)
        sys.exit(decided.exit_code)


@cli.command(name="sink")
@click.option("--listen", default="127.0.0.1:24224", show_default=True,
              help="HOST:PORT for the Forward protocol over TCP.")
@click.option("--unix", "unix_path", type=click.Path(), help="Also listen on this unix socket.")
@click.option("--http", "http_port", type=click.IntRange(min=0, max=65535),
              help="Also accept HTTP (JSON / msgpack bodies) on 127.0.0.1:PORT.")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=1, show_default=True)
@click.option("--run-id", help="Count only lines of this run id (default: the first seen).")
@click.option("--shared-key", help="Require the HELO/PING/PONG handshake with this key.")
@click.option("--live", is_flag=True,
              help="Serve a live page of the counts and the loss map on 127.0.0.1 until Ctrl-C.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=0, show_default=True,
              help="The live page's port on 127.0.0.1; 0 picks a free one.")
@click.option("--max-memory", type=click.IntRange(min=128), default=512, show_default=True,
              help="MiB of memory (RSS) all the sink's processes may take together, whatever "
                   "clients send.")
def sink_command(listen: str, unix_path: str | None, http_port: int | None, workers: int,
                 run_id: str | None, shared_key: str | None, live: bool, port: int,
                 max_memory: int) -> None:
    """Run the sink alone, printing live counts: point any pipeline at it."""
    from pipeline_tests._sink import SinkConfig, serve_forever

    host, _, sink_port = listen.rpartition(":")
    if not sink_port.isdigit() or host not in ("127.0.0.1", "localhost", "::1"):
        raise InputError(f"--listen '{listen}' must be a loopback HOST:PORT such as "
                         "127.0.0.1:24224 (pipeline-tests never listens on other addresses).")
    config = SinkConfig(run_id=run_id, host=host, port=int(sink_port), unix_path=unix_path,
                        http_port=http_port, shared_key=shared_key, workers=workers,
                        max_memory=max_memory * 1024 * 1024)
    if live:
        from pipeline_tests._live.session import serve_sink_live

        serve_sink_live(config, port, _say)
    elif not serve_forever(config).ledger_complete:
        sys.exit(1)  # the summary said which worker's ledger is missing or partial


@cli.command(name="doctor")
@click.option("--engine", "engine_names", multiple=True, metavar="NAME",
              help="local (default), a Docker context or an engine URL (unix://, tcp://, "
                   "ssh://); repeat for several. The fixture image is loaded into each engine "
                   "that lacks it.")
def doctor_command(engine_names: tuple[str, ...]) -> None:
    """Show Compose and, per engine, its version, kernel, log-driver options and images."""
    from pipeline_tests._cli.doctor import doctor

    def progress(text: str) -> None:
        console.print(f"image: {text}", highlight=False)

    for line in doctor(engine_names or ("local",), progress):
        console.print(line, highlight=False)


@cli.command(name="build-image")
def build_image_command() -> None:
    """Build the fixture image (app + builtin router) now; `run` also builds it when missing."""
    from pipeline_tests._cli.doctor import build_image

    console.print(build_image(lambda text: console.print(f"image: {text}", highlight=False)),
                  highlight=False)


def main(argv: Sequence[str] | None = None) -> None:
    # A shell's background job (and what it starts, e.g. a CI step's pytest) begins with SIGINT
    # ignored: Ctrl-C (kill -INT) must still stop a run and remove what it started.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="pipeline-tests")
    except PipelineTestsError as err:
        console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
