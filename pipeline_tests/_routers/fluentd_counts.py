"""Fluentd's exact hop counts at the end of a trial, from monitor_agent and its log.

monitor_agent has no count of records an input accepted (inputs count only with the system
option `enable_input_metrics`), and it is itself an input, shut down with the others: it cannot
show a count after the inputs stopped. What it does show, live, is the `emit_records` of the
filter pipeline-tests adds (`@id pt_ecs`, the ECS metadata every record passes first): the live
view shows it. It is no bound on the app's records: Fluentd's own `fluent.*` events pass it too.

So `router_in` is exact when Fluentd provably delivered every record it accepted: its worker
finished with status 0, it logged no warning or error, its buffer is memory with
flush_at_shutdown (the scenario's; pipeline-tests' own `<match>`), and no filter or match of the
user's could drop a record (only pipeline-tests' plugins are loaded). The sink counted those
records (RouterCounters.received_at_sink).
`router_out` is counted where the router's output delivers: at the sink.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeline_tests._routers import logs
from pipeline_tests._routers.kind import RouterCounters

DONE = "Worker 0 finished with status 0"
# Logged by every Fluentd at start or stop here, with nothing lost.
BENIGN_WARNINGS = ("define <match fluent.**>", "no patterns matched", "is deprecated",
                   "both of Plugin @id and path")


def filter_records(plugins: Mapping[str, Any], filter_id: str) -> int | None:
    for plugin in plugins.get("plugins", []):
        if isinstance(plugin, Mapping) and plugin.get("plugin_id") == filter_id:
            value = plugin.get("emit_records")
            return value if isinstance(value, int) else None
    return None


def foreign_plugins(plugins: Mapping[str, Any], prefix: str = "pt_") -> list[str]:
    """Filters and outputs that are not pipeline-tests' own (a user's file added them)."""
    return sorted(str(p.get("plugin_id") or p.get("type")) for p in plugins.get("plugins", [])
                  if isinstance(p, Mapping) and p.get("plugin_category") in ("filter", "output")
                  and not str(p.get("plugin_id", "")).startswith(prefix))


def why_not_clean(log: str) -> str:
    """Empty when Fluentd stopped cleanly and logged no warning or error; else why not."""
    if DONE not in log:
        return "its worker never finished with status 0 (killed?)"
    found = problems(log)
    # The first line of its message (Fluentd writes the line breaks of an error's own
    # message as a backslash and an n).
    return f"it logged: {found[0].split(ESCAPED_BREAK, 1)[0][:160]}" if found else ""


ESCAPED_BREAK = "\\n"
# A backtrace follows an error, a line a frame, at the error's level.
_LEVEL = re.compile(r"\[(?:warn|error|fatal)\]:\s*(?:#\d+\s+)?(.*)")
_BACKTRACE = ("/", "suppressed same stacktrace")


def problems(log: str) -> list[str]:
    """Its warnings and errors (not the warnings every run logs, nor backtraces), as it wrote
    them."""
    found = []
    for text in logs.messages(log):
        level = _LEVEL.search(text)
        if (level is not None and not level.group(1).startswith(_BACKTRACE)
                and not any(benign in text for benign in BENIGN_WARNINGS)):
            found.append(text)
    return found


def router_counters(plugins: Mapping[str, Any], log: str, keeps_everything: str) -> RouterCounters:
    """`keeps_everything`: empty when the buffer settings deliver all at shutdown; else why
    not."""
    why = keeps_everything or why_not_clean(log)
    foreign = foreign_plugins(plugins)
    if not why and foreign:
        why = f"filters or outputs of the user's ({', '.join(foreign)}) may drop records"
    if not plugins:
        why = "its monitor_agent never answered"
    if why:
        return RouterCounters(None, None, f"monitor_agent counts no input records, and {why}",
                              sent_at_sink=True)
    return RouterCounters(None, None, received_at_sink=True, sent_at_sink=True)
