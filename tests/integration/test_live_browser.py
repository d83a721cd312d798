"""The live view in a real browser during a real run (headless Chromium driven by Playwright),
and `pipeline-tests sink --live` fed by a real Forward client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import msgpack
import pytest

from pipeline_tests._container.line import encode

CLI = [sys.executable, "-c", "from pipeline_tests._cli import main; main()"]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 120_000  # a bound for a stuck page, not a timed assert


def _need_browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "Playwright for Python (pip install -e '.[test]')"
    else:
        if Path(CHROMIUM).exists():
            return sync_playwright
        missing = f"Debian's chromium at {CHROMIUM} (./setup.sh installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {missing} is not installed")
    pytest.skip(f"the browser test needs {missing}")


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    """open(javascript=True): a new page in a fresh headless Chromium profile."""
    sync_playwright = _need_browser()
    with sync_playwright() as playwright:
        contexts: list[Any] = []

        def open_page(javascript: bool = True) -> Any:
            contexts.append(playwright.chromium.launch_persistent_context(
                tempfile.mkdtemp(dir=tmp_path, prefix="chromium-"), executable_path=CHROMIUM,
                headless=True, args=FLAGS, viewport={"width": 1600, "height": 1000},
                java_script_enabled=javascript))
            return contexts[-1].new_page()

        try:
            yield open_page
        finally:
            for context in contexts:
                context.close()


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str, list[str]]:
    """The command running, its live view's URL and the lines it printed so far."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "COLUMNS": "250"})
    seen: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("live view: http://127.0.0.1:"):
            # Read on in the background: a full pipe would stall the run the page watches.
            threading.Thread(target=lambda: seen.extend(proc.stdout or ()), daemon=True).start()
            return proc, line.split()[-1], seen
    proc.wait(10)
    raise AssertionError("no live view URL printed:\n" + "".join(seen))


def _read_until(proc: subprocess.Popen[str], text: str, seen: list[str]) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline and proc.poll() is None:
        if any(text in line for line in list(seen)):
            return
        time.sleep(0.1)
    if not any(text in line for line in list(seen)):
        raise AssertionError(f"{text!r} never printed:\n" + "".join(seen))


def _stop(proc: subprocess.Popen[str], seen: list[str]) -> str:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    time.sleep(0.2)  # the reader thread takes the last lines
    return "".join(seen)


def _refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5)
    except OSError:
        return True
    return False


def _table(page: Any, table_id: str) -> dict[tuple[str, str], dict[str, str]]:
    rows = page.eval_on_selector_all(
        f"#{table_id} tr[data-cell]",
        """rows => rows.map(r => [r.dataset.cell, r.dataset.trial,
             Object.fromEntries([...r.querySelectorAll('td')].map(
               td => [td.dataset.field, td.textContent]))])""")
    return {(cell, trial): fields for cell, trial, fields in rows}


def _number(text: str) -> float:
    return float(text.replace(",", ""))


SINK_COUNT = """cell => {
  const n = document.querySelector(`[data-cell="${cell}"] .count[data-hop="sink"] .n`);
  return n ? Number(n.textContent.replace(/,/g, '')) || 0 : 0; }"""


@pytest.mark.docker
def test_browser_watches_a_real_run(client: docker.DockerClient, image: str, tmp_path: Path,
                                    browser_page: Any) -> None:
    page = browser_page()  # the browser is up before the run starts: it sees the flood
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    proc, url, seen = _start(["run", "--live", "--port", "0", "--trials", "1", "--stop-after",
                              "4", "--rate", "5000", "--out", str(tmp_path / "runs")])
    try:
        page.goto(url)
        first = "firelens/builtin/ecs"
        # The counters move: the page shows the sink's count at several values while it runs.
        page.evaluate(f"""window.__seen = new Set();
            setInterval(() => window.__seen.add(({SINK_COUNT})('{first}')), 50);""")
        page.wait_for_function("[...window.__seen].filter(n => n > 0).length >= 2",
                               timeout=WAIT_MS)
        # The stop marker appears (listed under the chart, drawn on it).
        page.wait_for_function(
            f"""[...document.querySelectorAll('[data-cell="{first}"] .steps li')]
                .some(li => li.textContent.startsWith('SIGTERM app'))""", timeout=WAIT_MS)
        page.wait_for_function("document.body.dataset.status === 'finished'", timeout=WAIT_MS)
        pushes = int(page.evaluate("document.body.dataset.pushes"))
        _read_until(proc, "the final page stays up", seen)
        trials, cells = _table(page, "trials"), _table(page, "cells")
        verdict = page.text_content("#verdict")
        report = page.request.get(url + "report.html")
        (run_dir,) = (tmp_path / "runs").iterdir()
        assert report.status == 200
        assert report.text() == (run_dir / "report.html").read_text()
    finally:
        out = _stop(proc, seen)
    assert proc.returncode == 0, "".join(seen) + out
    assert errors == []
    assert pushes >= 8  # pushed updates arrived while the run went on, with no reload
    data = json.loads((run_dir / "results.json").read_text())
    assert {(t["cell"], str(t["trial"])): {
        "emitted": t["emitted"], "received": t["received_distinct"], "lost": t["lost"],
        "duplicates": t["duplicates"], "lines/s": t["achieved_rate"]} for t in data["trials"]} == {
        key: {"emitted": _number(row["emitted"]), "received": _number(row["received_distinct"]),
              "lost": _number(row["lost"]), "duplicates": _number(row["duplicates"]),
              "lines/s": _number(row["achieved_rate"])} for key, row in trials.items()}
    assert {c["label"]: (c["trials"], c["trials_with_loss"], c["lost_max"])
            for c in data["cells"]} == {
        cell: (_number(row["trials"]), _number(row["trials_with_loss"]),
               _number(row["lost_max"])) for (cell, _), row in cells.items()}
    assert verdict is not None and verdict.endswith("report.html")
    assert _refused(url)  # the server stopped with the command


def test_page_without_javascript_is_a_refreshing_table(browser_page: Any) -> None:
    proc, url, seen = _start(["sink", "--live", "--listen", "127.0.0.1:0"])
    try:
        page = browser_page(javascript=False)
        page.goto(url)
        assert page.locator('meta[http-equiv="refresh"]').count() == 1
        assert page.text_content("#now tr:nth-child(2) td:first-child") == "sink"
    finally:
        _stop(proc, seen)


def test_sink_live_shows_counts_and_gaps() -> None:
    proc, url, seen = _start(["sink", "--live", "--listen", "127.0.0.1:0"])
    try:
        _read_until(proc, "sink listening: forward tcp", seen)
        port = int(seen[-1].split()[4].rsplit(":", 1)[1])
        run = "5eed0001"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            for seq in [*range(0, 50), *range(60, 100)]:
                record = {"log": encode(run, 0, seq, time.time_ns(), 100)}
                conn.sendall(msgpack.packb(["app", int(time.time()), record, {}]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url + "state.json", timeout=10) as reply:
                state = json.load(reply)
            view = state["views"][0]
            if view["map"] and view["map"]["emitted"] == [100]:
                break
            time.sleep(0.1)
    finally:
        out = _stop(proc, seen)
    assert view["counts"]["sink"] == 90
    assert state["run"]["hops"] == ["sink"]  # the sink alone counts no other hop
    assert view["map"] == {"emitted": [100], "resolution": 1, "received": [[0, 0, 49],
                                                                           [0, 60, 99]]}
    assert "90 lines received, 90 distinct" in out
    assert proc.returncode == 0
    assert _refused(url)
