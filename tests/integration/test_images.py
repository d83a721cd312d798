from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_tests._docker.compose import check_compose, compose_version
from pipeline_tests._docker.engine import connect, facts, resolve
from pipeline_tests._docker.images import (
    FIXTURE_REPO,
    context_files,
    debian_mirror,
    fixture_image,
    fixture_tag,
)

PROBE = (
    "import msgpack, fluent.sender, pipeline_tests._container.line as line; "
    "print(msgpack.version, line.PREFIX_LEN, line.__file__)"
)


def test_mirror_is_read_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert debian_mirror("bookworm", tmp_path) == "http://one.example/debian"
    (tmp_path / "sources.list").write_text("deb-src http://src.example/debian bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb\nURIs: http://two.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror("bookworm", tmp_path) == "http://two.example/debian"
    assert debian_mirror("trixie", tmp_path) is None


def test_fixture_tag_changes_when_a_fixture_changes(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    files = {"Dockerfile": tmp_path / "Dockerfile", "pt/fixtures/app.py": tmp_path / "app.py"}
    first = fixture_tag("pipeline-tests/base:1", files)
    assert first == fixture_tag("pipeline-tests/base:1", files)
    (tmp_path / "app.py").write_text("print(2)\n")
    assert fixture_tag("pipeline-tests/base:1", files) != first
    assert fixture_tag("pipeline-tests/base:2", files) != first
    assert first.startswith(f"{FIXTURE_REPO}:")


def test_context_holds_the_dockerfile_fixtures_and_the_packages_run_in_containers() -> None:
    names = set(context_files())
    assert {"Dockerfile", "pt/fixtures/app.py", "pt/fixtures/router.py", "pt/fixtures/sink.py",
            "pt/pipeline_tests/_container/__init__.py", "pt/pipeline_tests/_container/line.py",
            "pt/pipeline_tests/_container/forward.py", "pt/pipeline_tests/_sink/sink.py",
            "pt/pipeline_tests/_ledger/ledger.py", "pt/pipeline_tests/_errors.py"} <= names
    # Nothing of the tester's side (Docker, reports, the CLI) goes into the image.
    packages = {name.split("/")[2] for name in names if name.startswith("pt/pipeline_tests/")}
    assert packages == {"_container", "_ledger", "_sink", "_errors.py"}


@pytest.mark.docker
def test_fixture_image_runs_python_with_msgpack_and_fluent_logger() -> None:
    client = connect()
    tag = fixture_image(client)
    output = client.containers.run(
        tag, ["python3", "-c", PROBE], network_mode="host", remove=True,
        labels={"pipeline-tests.helper": "1"},
    )
    assert output.decode() == "(1, 0, 3) 50 /opt/pt/pipeline_tests/_container/line.py\n"


@pytest.mark.docker
def test_fixture_image_is_reused_not_rebuilt() -> None:
    client = connect()
    first = fixture_image(client)
    first_id = client.images.get(first).id
    assert fixture_image(client, build=False) == first
    assert client.images.get(first).id == first_id
    assert client.images.get(f"{FIXTURE_REPO}:latest").id == first_id


@pytest.mark.docker
def test_engine_facts_and_compose() -> None:
    seen = facts(resolve("local"), connect())
    assert compose_version() == check_compose()
    assert check_compose().split(".")[0] in {"2", "3", "4", "5"}
    assert seen.version.split(".")[0].isdigit() and seen.api_version.startswith("1.")
    assert seen.name == "local" and seen.cpus >= 1
