"""engine.resolve(): local, engine URLs and Docker contexts, with or without a config file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipeline_tests._docker.engine import Engine, resolve
from pipeline_tests._errors import InputError, SetupError

HOST = "unix:///run/pt-test/docker.sock"


def _context(config: Path, name: str, host: str = HOST) -> None:
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({
        "Name": name, "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}))


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Docker config dir, and a HOME without one of its own."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    return tmp_path / "docker"


@pytest.mark.parametrize("name", ["local", "", "  local "])
def test_local(name: str) -> None:
    found = resolve(name)
    assert found == Engine("local")
    assert found.is_local and found.cli_env() == {}


@pytest.mark.parametrize("url", ["unix:///run/pt-docker26/docker.sock", "tcp://127.0.0.1:2375",
                                 "ssh://ci@build-host", "npipe:////./pipe/docker_engine"])
def test_engine_urls(url: str) -> None:
    found = resolve(url)
    assert (found.name, found.url, found.context) == (url, url, None)
    assert not found.is_local and found.cli_env() == {"DOCKER_HOST": url}


def test_unknown_scheme() -> None:
    with pytest.raises(InputError, match=r"^Engine 'http://h:2375' has an unknown scheme; an "
                                         r"engine URL starts with unix://, tcp:// or ssh://\.$"):
        resolve("http://h:2375")


@pytest.mark.parametrize("with_config_file", [True, False])
def test_context(config: Path, with_config_file: bool) -> None:
    # The docker CLI makes contexts without a config.json; docker-py alone would not find them.
    if with_config_file:
        (config / "config.json").write_text("{}")
    _context(config, "docker26")
    found = resolve("docker26")
    assert (found.name, found.url, found.context) == ("docker26", HOST, "docker26")
    assert found.cli_env() == {"DOCKER_CONTEXT": "docker26"}


@pytest.mark.parametrize("with_config_file", [True, False])
def test_unknown_context_names_the_contexts(config: Path, with_config_file: bool) -> None:
    if with_config_file:
        (config / "config.json").write_text("{}")
    _context(config, "ci-engine", "tcp://10.0.0.1:2375")
    with pytest.raises(InputError) as caught:
        resolve("nosuchcontext")
    assert str(caught.value).startswith(
        "Engine 'nosuchcontext' is neither `local`, an engine URL (unix://, tcp:// or ssh://) "
        "nor a Docker context (contexts here: default, ci-engine). Create it with `docker "
        "context create nosuchcontext --docker host=...`")


def test_unreadable_context(config: Path) -> None:
    _context(config, "broken")
    next(config.glob("contexts/meta/*/meta.json")).write_text("{not json")
    with pytest.raises(SetupError, match=r"^Docker context 'broken' cannot be read"):
        resolve("broken")
