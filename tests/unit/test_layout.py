"""The package's shape: the public API, no import cycles, a report without Docker or YAML, and
ruff and mypy clean."""

import ast
import subprocess
import sys
import types
from pathlib import Path

from test_report import BASE

import pipeline_tests as pt
from pipeline_tests._results.run_results import RunResults

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pipeline_tests"


def test_all_is_exactly_the_public_names() -> None:
    # Both ways, as httpx's test_all_imports_are_exported: every public name of the package is
    # in __all__, and every name in __all__ is there.
    # (pytest loads the submodule pytestplugin as a plugin: a module, not an exported name.)
    public = {name for name, value in vars(pt).items() if not name.startswith("_")
              and not isinstance(value, types.ModuleType)} | {"__version__"}
    assert sorted(pt.__all__) == sorted(public)
    assert len(pt.__all__) == len(set(pt.__all__))


def test_public_api_is_exported_from_the_package() -> None:
    assert sorted(pt.__all__) == sorted(name for name in pt.__all__ if hasattr(pt, name))
    assert {"Task", "Aggregator", "EngineFacts", "DriverEvidence"} <= set(pt.__all__)
    assert {"run", "load_scenario", "Scenario", "RunResults", "TrialResult", "CellStats",
            "PipelineTestsError", "InputError", "SetupError", "ImageMissing", "TrialFailed",
            "RunStarted", "TrialProgress", "RunFinished", "__version__"} <= set(pt.__all__)
    assert issubclass(pt.ImageMissing, pt.SetupError)
    assert all(issubclass(e, pt.PipelineTestsError)
               for e in (pt.InputError, pt.SetupError, pt.TrialFailed, pt.InstallError))
    assert not [name for name in pt.__all__ if name.startswith("_") and name != "__version__"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports the module pkg.mod, not the package's namespace.
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            found |= subs or {node.module}
    return found & modules


def import_graph() -> dict[str, set[str]]:
    files = [p for p in PACKAGE.rglob("*.py") if "_data" not in p.parts]
    modules = {_module_name(p) for p in files}
    return {_module_name(p): _imports(p, modules) - {_module_name(p)} for p in files}


def test_no_import_cycles() -> None:
    graph, cycles = import_graph(), []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    assert cycles == []


def test_what_the_fixture_image_copies_imports_only_the_standard_library_and_msgpack() -> None:
    from pipeline_tests._docker.images import IMAGE_PACKAGES

    graph = import_graph()
    copied = tuple(f"pipeline_tests.{sub}" for sub in IMAGE_PACKAGES) + ("pipeline_tests._errors",)
    paths = [p for sub in IMAGE_PACKAGES for p in sorted((PACKAGE / sub).glob("*.py"))]
    for path in [*paths, PACKAGE / "_errors.py"]:
        module = _module_name(path)
        assert all(m.startswith(copied) for m in graph[module]), module
        # Module level only: _sink/http.py imports aiohttp inside the function that starts the
        # HTTP input, which the sink container never turns on.
        top = ast.parse(path.read_text()).body
        third_party = {n.module.split(".")[0] for n in top
                       if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        third_party |= {a.name.split(".")[0] for n in top
                        if isinstance(n, ast.Import) for a in n.names}
        assert third_party - set(sys.stdlib_module_names) <= {"msgpack", "pipeline_tests"}, module


def test_report_command_imports_neither_docker_nor_yaml(tmp_path: Path) -> None:
    RunResults("r1", tmp_path, {"run_id": "r1", "scenario": {}}, (BASE,)).write_json()
    code = ("import sys\nfrom pipeline_tests._cli import cli\n"
            "try:\n    cli.main(['report', sys.argv[1]], standalone_mode=False)\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('docker', 'yaml', 'requests') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, check=True, env={"COLUMNS": "250", "PATH": ""})
    assert done.stdout.splitlines()[-1] == "[]"
    assert (tmp_path / "report.html").is_file() and (tmp_path / "junit.xml").is_file()


def test_ruff_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "All checks passed!")


def test_mypy_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("Success: no issues found in ")


def _imported_by(package: str) -> set[str]:
    """Every pipeline_tests module that modules of `package` import (outside the package)."""
    graph = import_graph()
    return {dep for mod, deps in graph.items() if mod.startswith(f"pipeline_tests.{package}")
            for dep in deps if not dep.startswith(f"pipeline_tests.{package}")}


def _third_party(package: str) -> set[str]:
    found: set[str] = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
    return found - set(sys.stdlib_module_names) - {"pipeline_tests"}


def test_the_docker_edge_knows_nothing_of_the_domain() -> None:
    assert _imported_by("_docker") <= {"pipeline_tests._errors", "pipeline_tests._resources",
                                       "pipeline_tests._values"}
    assert _imported_by("_values") == set()  # the standard library only
    assert _third_party("_docker") <= {"docker", "requests"}


def test_results_and_reports_import_no_docker_and_no_ui() -> None:
    for package in ("_results", "_report"):
        deps = _imported_by(package)
        assert not {d for d in deps if d.startswith(("pipeline_tests._docker",
                    "pipeline_tests._live", "pipeline_tests._trial", "pipeline_tests._run",
                    "pipeline_tests._cli"))}, package
        assert "docker" not in _third_party(package), package


def test_a_trial_uses_no_ui_and_what_a_trial_needs_lives_with_it() -> None:
    assert not {d for d in _imported_by("_trial") if d.startswith(("pipeline_tests._live",
                "pipeline_tests._cli", "pipeline_tests._run"))}
    trial = {p.stem for p in (PACKAGE / "_trial").glob("*.py")}
    assert {"compose_env", "stop", "fault", "aggregator", "probe", "sink_container",
            "daemon_log", "task_cgroup"} <= trial


def test_one_module_is_called_engine() -> None:
    named = sorted(m for m in import_graph() if "engine" in m.rsplit(".", 1)[-1])
    assert named == ["pipeline_tests._docker.engine"]
