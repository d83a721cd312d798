"""The page's HTML, rendered on the server from a snapshot: the JavaScript view's frame, and a
plain table of the same numbers for a browser without JavaScript (it reloads every 2 s)."""

from __future__ import annotations

import html
import json
from importlib import resources
from string import Template
from typing import Any

LABELS = {"app": "app emitted", "router_in": "router in", "router_out": "router out",
          "aggregator_in": "aggregator in", "aggregator_out": "aggregator out",
          "sink": "sink received"}  # one per trial_result.HOPS (live.js has the same)


def _num(value: Any) -> str:
    if value is None:
        return "&ndash;"
    return f"{value:,}" if isinstance(value, int) else html.escape(str(value))


def _table(head: list[str], rows: list[list[Any]], table_id: str) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_num(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f'<table id="{table_id}"><tr>{cells}</tr>{body}</table>'


def static_tables(snapshot: dict[str, Any]) -> str:
    hops = snapshot["run"]["hops"]
    live = [[v["cell"], v["trial"], v["phase"], *(v["counts"][h] for h in hops)]
            for v in snapshot["views"]]
    parts = [_table(["cell", "trial", "phase", *(LABELS[h] for h in hops)], live, "now")]
    summary = snapshot["summary"]
    if summary:
        parts.insert(0, f'<p class="verdict">{"PASS" if summary["passed"] else "FAIL"}: '
                        f'{html.escape(summary["verdict"])} &middot; '
                        f'<a href="/report.html">report.html</a></p>')
        parts.append(_table(["cell", "trial", "emitted", "received", "lost", "duplicates"],
                            [[t["cell"], t["trial"], t["emitted"], t["received_distinct"],
                              t["lost"], t["duplicates"]] for t in snapshot["trials"]],
                            "static-trials"))
    return "\n".join(parts)


def render_page(snapshot: dict[str, Any]) -> str:
    template = resources.files("pipeline_tests._live").joinpath("static").joinpath("live.html")
    run = snapshot["run"]
    # "</" cannot end the <script> block early: JSON allows "<\/" for "</".
    state = json.dumps(snapshot, separators=(",", ":")).replace("</", "<\\/")
    return Template(template.read_text()).substitute(
        title=html.escape(run["title"] + (f" {run['run_id']}" if run["run_id"] else "")),
        status=html.escape(run["status"]), table=static_tables(snapshot), state=state)
