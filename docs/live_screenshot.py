"""Takes docs/live.png: a real `pipeline-tests run --live --trials 1 --stop-after 5` (FireLens vs
direct TCP) in headless Chromium (Debian's chromium, driven by Playwright), at the run's end.

    .venv/bin/python docs/live_screenshot.py [docs/live.png]
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

CLI = [sys.executable, "-c", "from pipeline_tests._cli import main; main()"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="pt-shot-") as tmp:
        proc = subprocess.Popen([*CLI, "run", "--live", "--trials", "1", "--stop-after", "5",
                                 "--out", f"{tmp}/runs"], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        url = next(line.split()[-1] for line in proc.stdout if line.startswith("live view: "))
        try:
            with sync_playwright() as playwright:
                context = playwright.chromium.launch_persistent_context(
                    f"{tmp}/profile", executable_path="/usr/bin/chromium", headless=True,
                    args=FLAGS, viewport={"width": 1600, "height": 1000})
                page = context.new_page()
                page.goto(url)
                page.wait_for_function("document.body.dataset.status === 'finished'",
                                       timeout=300_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(out), full_page=True)
                context.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/live.png"))
