"""A router's log as a trial saved it (`docker compose logs --timestamps`): its messages, with
what Compose and Docker put in front of each line and the router's own time stamp taken off,
so that a kind's filter (which lines say something went wrong) reads the router's words only."""

from __future__ import annotations

import re

_COMPOSE_PREFIX = re.compile(r"^(?:\x1b\[[0-9;]*[A-Za-z])*[\w.-]+\s+\|\s?")
_DOCKER_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\s?")
# Fluent Bit `[2026/12/02 07:40:00]` (sub-seconds since 4.x); Fluentd `2026-12-02 07:40:00 +0000`.
_ROUTER_STAMP = re.compile(r"^(?:\[\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)?\]"
                           r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [+-]\d{4})\s*")


def messages(log: str) -> list[str]:
    """Each non-empty line of the log as the router wrote it, without its time stamps."""
    found = []
    for line in log.splitlines():
        text = _DOCKER_STAMP.sub("", _COMPOSE_PREFIX.sub("", line))
        text = _ROUTER_STAMP.sub("", text).strip()
        if text:
            found.append(text)
    return found
