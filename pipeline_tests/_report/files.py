"""A run's report files next to results.json: report.html and junit.xml."""

from __future__ import annotations

from pathlib import Path

from pipeline_tests._errors import SetupError
from pipeline_tests._report.html import write_html
from pipeline_tests._report.junit import write_junit
from pipeline_tests._results.run_results import RunResults


def write_reports(results: RunResults, max_loss: int | None) -> list[Path]:
    html, junit = results.run_dir / "report.html", results.run_dir / "junit.xml"
    try:
        write_html(html, results.header, results.trials, max_loss, results.failures,
                   results.interrupted)
        write_junit(junit, results.run_id, results.trials, max_loss, results.failures)
    except OSError as err:  # the machine's (a full disk, a read-only directory), not the input's
        raise SetupError(f"Could not write report.html and junit.xml in {results.run_dir} "
                         f"({err}). results.json there holds every figure: run "
                         f"`pipeline-tests report {results.run_dir}` once the directory is "
                         "writable again.") from None
    return [html, junit]
