"""The files a real router reads: the user's own config (its directory copied as it is, never
edited, into the trial: <trial>/<tier>/user, then into the router's volume, mounted read-only)
or a shipped preset from fixtures/routers/, and what a tailing topology points it at."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_tests._errors import InputError
from pipeline_tests._resources import data_dir
from pipeline_tests._scenario.model import Router

USER_DIR = "/pt/user"  # where the directory of the user's file is mounted, read-only
TAIL_PATH = "/pt/logs/app.log"  # topology `file`: the app's log file (see compose/file.yaml)
# What a router tails in each tailing topology: (path inside the router, line format).
Tail = tuple[str | None, str]
NO_TAIL: Tail = (None, "raw")
TAILS: dict[str, Tail] = {"file": (TAIL_PATH, "raw"),
                          "tail": ("/pt/containers/*-json.log", "docker")}


@dataclass(frozen=True)
class RouterFiles:
    """Where a real router's files are for one trial."""

    include: str | None  # in-container path of the user's file or preset; None: FireLens only
    tail: Tail
    user_dir: Path  # the trial's copy of the user's directory (or the presets'): at USER_DIR

    def compose_env(self, image: str) -> dict[str, str]:
        return {"PT_ROUTER_IMAGE": image}


def presets_dir(name: str) -> Path:
    """fixtures/routers/<name>/: the shipped configs of one router family."""
    return data_dir("fixtures") / "routers" / name


def router_files(router: Router, presets: Mapping[str, str | None], preset_dir: str,
                 conf_dir: Path, topology: str) -> RouterFiles:
    """The tier's files for one trial (check_files has refused what cannot be used)."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    user_file = config_path(router)
    user_dir = conf_dir.parent / "user"
    shutil.rmtree(user_dir, ignore_errors=True)
    _copy_dir(user_file.parent if user_file else presets_dir(preset_dir), user_dir)
    include = f"{USER_DIR}/{user_file.name}" if user_file else presets[_preset(router)]
    return RouterFiles(include=include, tail=TAILS.get(topology, NO_TAIL), user_dir=user_dir)


def config_path(router: Router) -> Path | None:
    """The user's own config file, resolved (the scenario checked that it is readable)."""
    return None if router.config is None else Path(router.config).expanduser().resolve()


def check_files(router: Router, presets: Mapping[str, str | None]) -> None:
    """InputError, before the run, for a preset the kind does not ship or a config directory
    too big to copy into every trial. (The scenario refuses a missing config file and a config
    given with a preset: scenario.py.)"""
    user_file = config_path(router)
    if user_file is not None:
        _files_to_copy(user_file.parent)
    elif _preset(router) not in presets:
        raise InputError(f"Unknown preset '{router.preset}' for router {router.kind}. Presets: "
                         f"{', '.join(presets)}; or set router.config to your own file.")


def _preset(router: Router) -> str:
    return router.preset or "firelens"


MAX_FILES, MAX_BYTES = 1000, 64 * 1024 * 1024


def _files_to_copy(source: Path) -> list[Path]:
    """The directory of the router's file, as it is (includes beside it work unchanged); a
    directory too big to be a config's (a home directory) is refused, not copied."""
    files = list(itertools.islice(
        (p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")
         and "__pycache__" not in p.parts), MAX_FILES + 1))
    if len(files) > MAX_FILES or sum(p.stat().st_size for p in files[:MAX_FILES]) > MAX_BYTES:
        raise InputError(f"The directory of the router's config, {source}, holds more than "
                         f"{MAX_FILES} files or {MAX_BYTES // 2**20} MiB; it is copied into "
                         "each trial. Put the config (and what it includes) in a directory "
                         "of its own.")
    return files


def _copy_dir(source: Path, target: Path) -> None:
    for path in _files_to_copy(source):
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    target.mkdir(parents=True, exist_ok=True)


def read_json(path: Path) -> Mapping[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}
