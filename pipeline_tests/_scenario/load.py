"""Loading a scenario from YAML: errors name file:line and the allowed values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline_tests._errors import InputError
from pipeline_tests._scenario import matrix
from pipeline_tests._scenario.scenario import Scenario, build


def load(path: Path) -> Scenario:
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(f"Cannot read scenario file {path}: {err.strerror}. Check the path, "
                         "or run without a file to use the default scenario.") from err
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise InputError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', err)}). "
                         "Fix the syntax; see scenarios/ for examples.") from err
    if node is None:
        return Scenario()
    where = _Where(str(path), node)
    loaded = build(_beside(_plain(node), path), where.of)
    if loaded.matrix or loaded.exclude:  # every cell must be a valid scenario too
        matrix.cells_of(loaded, where.of)
    return loaded


def _beside(data: Any, path: Path) -> Any:
    """A tier's relative `config` is relative to the scenario file, not the current directory."""
    if not isinstance(data, dict):
        return data
    for tier in ("router", "aggregator"):
        section = data.get(tier)
        if not isinstance(section, dict):
            continue
        config = section.get("config")
        if isinstance(config, str) and not Path(config).expanduser().is_absolute():
            data[tier] = {**section, "config": str(path.parent / config)}
    return data


class _Where:
    """Turns a key path into 'file:line' for error messages."""

    def __init__(self, source: str, node: yaml.Node | None = None) -> None:
        self.source, self.node = source, node

    def of(self, *keys: str) -> str:
        node, line = self.node, None
        for key in keys:
            if not isinstance(node, yaml.MappingNode):
                break
            match = [(k, v) for k, v in node.value if k.value == key]
            if not match:
                break
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        return f"{self.source}:{line}" if line else self.source


def _plain(node: yaml.Node) -> Any:
    return yaml.SafeLoader("").construct_document(node)
