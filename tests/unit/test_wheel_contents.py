"""The wheel pip builds from this tree holds every module and data file the package uses (an
editable install hides a package missing from pyproject's list until a user installs the wheel)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_every_module_schema_and_template(tmp_path):
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("multiscale_run-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "multiscale_run").rglob("*.py")}
    schemas = {p.relative_to(REPO).as_posix() for p in (REPO / "multiscale_run").rglob("*.json")}
    assert sorted(modules - names) == [] and sorted(schemas - names) == []
    data = {
        f"multiscale_run/_data/{p.relative_to(REPO).as_posix()}" for p in (REPO / "templates").rglob("*.json")
    }
    data |= {
        f"multiscale_run/_data/{p.relative_to(REPO).as_posix()}" for p in (REPO / "sbatch").glob("*.sbatch")
    }
    assert data and sorted(data - names) == []
