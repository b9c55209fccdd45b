"""The floor plan (docs/developer.md, "Package layout"): imports point down, MPI and the CLI stay in
their rooms, no module outgrows one idea."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "multiscale_run"
MODULES = sorted(PACKAGE.rglob("*.py"))
ADAPTERS = [
    "multiscale_run.simulators.neuron",
    "multiscale_run.simulators.steps",
    "multiscale_run.simulators.bloodflow",
    "multiscale_run.simulators.metabolism",
]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _loaded_after_import(module: str, prefixes: tuple[str, ...]) -> list[str]:
    code = f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith({prefixes!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_only_parallel_imports_mpi4py():
    users = [p.relative_to(PACKAGE) for p in MODULES if any(n.startswith("mpi4py") for n in _imports(p))]
    assert [str(p) for p in users] == ["parallel.py"]


def test_the_library_never_imports_the_cli():
    users = [p.name for p in MODULES if p.name != "cli.py" and "multiscale_run.cli" in _imports(p)]
    assert users == []


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_adapter_loads_neither_config_nor_coupling(adapter):
    assert _loaded_after_import(adapter, ("multiscale_run.config", "multiscale_run.coupling")) == []


def test_couplings_load_no_adapter():
    loaded = _loaded_after_import("multiscale_run.coupling.setup", ("multiscale_run.simulators",))
    assert loaded == []


def test_the_shared_vocabulary_imports_nothing_of_the_package():
    assert not any(n.startswith("multiscale_run") for n in _imports(PACKAGE / "spaces.py"))
