"""Where the files that ship with pipeline-tests are: compose/ (the topologies), fixtures/ (what
runs inside containers) and the container-side Python package.

They stay at the top of the repository, where people read and run them by hand;
pipeline_tests/_data/ links to them, so a source tree, an editable install and an installed wheel
(which holds copies) all read them through importlib.resources the same way.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from pipeline_tests._errors import InstallError


def data_dir(name: str) -> Path:
    """compose/ or fixtures/ as a directory on disk (Compose and `docker build` need real paths)."""
    return _on_disk(files("pipeline_tests") / "_data" / name, name)


def container_package() -> Path:
    """pipeline_tests/_container/: the modules the fixture image copies whole."""
    return _on_disk(files("pipeline_tests._container"), "_container")


def _on_disk(traversable: object, name: str) -> Path:
    path = Path(str(traversable))
    if not path.is_dir():
        raise InstallError(
            f"pipeline-tests cannot find its {name}/ files (looked in {path}). The package is "
            "installed incompletely: reinstall it with `pip install --force-reinstall "
            "pipeline-tests`, or from a checkout with `pip install .`.")
    return path
