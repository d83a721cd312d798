"""The `pipeline-tests` command: run a scenario, run the sink alone, check the machine."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import docker
import requests
from rich.console import Console

from pipeline_tests import engine, images, matrix, report, resume, routers, run, scenario
from pipeline_tests.errors import UserError
from pipeline_tests.result import TrialResult

# Tables are wide: when output goes to a file or CI log, do not squeeze them to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)


def _rate(value: str | None) -> int | None | str:
    if value is None:
        return None
    if value == "max":
        return "max"
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise click.BadParameter(f"'{value}' is not 'max' or a whole number of lines/s >= 1.")


@click.group()
def cli() -> None:
    """Floods real log topologies, stops the task like ECS or Kubernetes, counts every lost line."""


@cli.command(name="run")
@click.argument("scenario_file", required=False, type=click.Path(path_type=Path))
@click.option("--rate", callback=lambda c, p, v: _rate(v),
              help="Lines/s across streams, or 'max' (as fast as the app can write).")
@click.option("--line-size", type=click.IntRange(min=1), help="Bytes per line (default 400).")
@click.option("--stop-after", type=click.FloatRange(min=0, min_open=True),
              help="Seconds of flooding before the stop sequence (default 10).")
@click.option("--trials", type=click.IntRange(min=1), help="Trials per topology (default 3).")
@click.option("--topology", multiple=True,
              help="firelens, direct-tcp, direct-unix, file or tail; repeat for several.")
@click.option("--stop", "stop_sequence",
              help="Stop sequence: ecs, all-at-once, kill, router-first, none, pod-delete.")
@click.option("--router",
              help="Router kind: builtin (default), fluent-bit, aws-for-fluent-bit, fluentd.")
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
def run_command(scenario_file: Path | None, rate: Any, line_size: int | None,
                stop_after: float | None, trials: int | None, topology: tuple[str, ...],
                stop_sequence: str | None, router: str | None, router_image: str | None,
                router_config: Path | None, max_loss: int | None, out: Path, pull: bool,
                resume_id: str | None) -> None:
    """Run SCENARIO_FILE (YAML), or the default FireLens vs direct-TCP comparison."""
    base = scenario.load(scenario_file) if scenario_file else scenario.Scenario()
    chosen = base.with_overrides(**{
        "workload.rate": rate, "workload.line_size": line_size, "stop.after": stop_after,
        "trials": trials, "topologies": list(topology), "stop.sequence": stop_sequence,
        "router.kind": router, "router.image": router_image,
        "router.config": str(router_config.resolve()) if router_config else None,
        "max_loss": max_loss})
    if resume_id:
        resume.open_run(out, resume_id)  # a wrong id fails before anything is built
    client = engine.connect()
    engine.check_compose()
    version = engine.engine_info(client).version
    for cell in matrix.cells_of(chosen):  # refuse what cannot run before anything starts
        if cell.scenario.topologies == ("firelens",):
            engine.check_log_opts(_driver_opts(cell.scenario), version)
        routers.ensure_image(client, cell.scenario.router, pull=pull)
    image = images.fixture_image(client, build=True, progress=console.print)
    started = time.monotonic()
    outcome = run.execute(chosen, out, client, image, console, resume=resume_id)
    _report(outcome.run_dir, outcome.header, outcome.results, chosen.max_loss,
            f"{len(outcome.results)} trials, {time.monotonic() - started:.0f} s")
    if outcome.interrupted:
        console.print("[yellow]interrupted[/]: finished trials are kept above; "
                      "every container of the run was removed.")
        sys.exit(130)
    _verdict(outcome.results, chosen.max_loss)


@cli.command(name="report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--max-loss", type=click.IntRange(min=0),
              help="Exit 1 when any trial lost more than N lines (default: the run's own).")
def report_command(run_dir: Path, max_loss: int | None) -> None:
    """Show a finished (or interrupted) run again and rewrite its report.html and junit.xml."""
    header = resume.stored_header(run_dir)
    results = resume.stored_results(run_dir, header)
    chosen = header["scenario"].get("max_loss") if max_loss is None else max_loss
    _report(run_dir, header, results, chosen, f"{len(results)} trials")
    _verdict(results, chosen)


def _report(run_dir: Path, header: dict[str, Any], results: Sequence[TrialResult],
            max_loss: int | None, summary: str) -> None:
    # Imported here: matplotlib takes a second to load, and only a report needs it.
    from pipeline_tests.report_html import write_html
    from pipeline_tests.report_junit import write_junit

    if results:
        report.print_report(console, results)
    try:
        write_html(run_dir / "report.html", header, results, max_loss)
        write_junit(run_dir / "junit.xml", header.get("run_id", run_dir.name), results, max_loss)
    except OSError as err:
        raise UserError(f"Could not write report.html and junit.xml in {run_dir} ({err}). "
                        "results.json there holds every figure: run `pipeline-tests report "
                        f"{run_dir}` once the directory is writable again.") from None
    console.print(f"results: {run_dir / 'results.json'} ({summary}); "
                  f"report: {run_dir / 'report.html'}, {run_dir / 'junit.xml'}", highlight=False)


def _verdict(results: Sequence[TrialResult], max_loss: int | None) -> None:
    failing = report.over_max_loss(results, max_loss)
    if failing:
        console.print(f"[red]FAIL[/]: lost more than {max_loss} lines in: {', '.join(failing)}")
        sys.exit(1)


def _driver_opts(s: scenario.Scenario) -> dict[str, str]:
    """The log-driver options compose/firelens.yaml (and its variants) will set."""
    opts = {"fluentd-address": "unix:///", "fluentd-async": str(s.driver.fluentd_async).lower(),
            "fluentd-buffer-limit": str(s.driver.buffer_limit),
            "fluentd-request-ack": str(s.driver.request_ack).lower(),
            "fluentd-sub-second-precision": "true", "tag": "app"}
    if s.driver.mode == "non-blocking":
        opts.update({"mode": "non-blocking", "max-buffer-size": s.driver.max_buffer_size})
    return opts


@cli.command(name="sink")
@click.option("--listen", default="127.0.0.1:24224", show_default=True,
              help="HOST:PORT for the Forward protocol over TCP.")
@click.option("--unix", "unix_path", type=click.Path(), help="Also listen on this unix socket.")
@click.option("--http", "http_port", type=click.IntRange(min=0, max=65535),
              help="Also accept HTTP (JSON / msgpack bodies) on 127.0.0.1:PORT.")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=1, show_default=True)
@click.option("--run-id", help="Count only lines of this run id (default: the first seen).")
@click.option("--shared-key", help="Require the HELO/PING/PONG handshake with this key.")
def sink_command(listen: str, unix_path: str | None, http_port: int | None, workers: int,
                 run_id: str | None, shared_key: str | None) -> None:
    """Run the sink alone, printing live counts: point any pipeline at it."""
    from pipeline_tests.sink import SinkConfig, serve_forever

    host, _, port = listen.rpartition(":")
    if not port.isdigit() or host not in ("127.0.0.1", "localhost", "::1"):
        raise UserError(f"--listen '{listen}' must be a loopback HOST:PORT such as "
                        "127.0.0.1:24224 (pipeline-tests never listens on other addresses).")
    serve_forever(SinkConfig(run_id=run_id, host=host, port=int(port), unix_path=unix_path,
                             http_port=http_port, shared_key=shared_key, workers=workers))


@cli.command(name="doctor")
def doctor_command() -> None:
    """Show the Docker engine, Compose, and the log-driver options the engine supports."""
    client = engine.connect()
    info = engine.engine_info(client)
    console.print(f"docker engine {info.version} (API {info.api_version})")
    console.print(f"docker compose {engine.check_compose()}")
    console.print("fluentd log-driver options: "
                  + ", ".join(engine.driver_options_supported(info.version)))
    console.print(f"fixture image: {images.fixture_image(client, build=False)}")
    for kind, image, found in routers.describe_kinds(client):
        console.print(f"router {kind:<19} {image:<60} {found or f'absent: docker pull {image}'}",
                      highlight=False)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except UserError as err:
        console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        console.print(f"[red]error:[/] the Docker engine failed a request ({err}). Trials that "
                      "finished are kept in results.json under --out; containers of the trial "
                      "were removed. Check `docker info` and the daemon's log, then run again.",
                      highlight=False, soft_wrap=True)
        sys.exit(2)
