"""The package's shape: the public API, no import cycles, a report without Docker or YAML, and
ruff and mypy clean."""

import ast
import subprocess
import sys
from pathlib import Path

from test_report import BASE

import pipeline_tests as pt
from pipeline_tests._results.run_results import RunResults

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pipeline_tests"


def test_public_api_is_exported_from_the_package() -> None:
    assert sorted(pt.__all__) == sorted(name for name in pt.__all__ if hasattr(pt, name))
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


def test_container_package_imports_only_the_standard_library_and_msgpack() -> None:
    graph = import_graph()
    for path in sorted((PACKAGE / "_container").glob("*.py")):
        module = _module_name(path)
        assert all(m.startswith("pipeline_tests._container") for m in graph[module]), module
        tree = ast.parse(path.read_text())
        third_party = {n.module.split(".")[0] for n in ast.walk(tree)
                       if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        third_party |= {a.name.split(".")[0] for n in ast.walk(tree)
                        if isinstance(n, ast.Import) for a in n.names}
        assert third_party - set(sys.stdlib_module_names) <= {"msgpack", "pipeline_tests"}


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
