"""The SLURM script: options, a shell that parses it, and errors on bad options."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from multiscale_run.sbatch import write_sbatch


def _sbatch_options(text: str) -> dict[str, str]:
    opts = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line.removeprefix("#SBATCH --").partition("=")
            opts[key] = value
    return opts


def _bash_parses(path):
    bash = shutil.which("bash")
    proc = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_default_script(tmp_path):
    sim = tmp_path / "my_sim"
    path = write_sbatch(sim)
    assert path == sim / "simulation.sbatch" and os.access(path, os.X_OK)
    text = path.read_text()
    assert text.startswith("#!/bin/bash\n")
    opts = _sbatch_options(text)
    assert opts == {
        "job-name": "msr-my_sim",
        "nodes": "1",
        "time": "01:00:00",
        "exclusive": "",
        "output": f"{sim.resolve()}/%x-%j.log",
        "signal": "USR1@300",  # the time-limit warning: snapshot, exit 75, requeue
        "requeue": "",
        "open-mode": "append",
    }
    assert f'srun --ntasks "${{ntasks}}" msr compute {sim.resolve()} "${{resume[@]}}"' in text
    assert "{{" not in text
    # #SBATCH directives must precede the first command, or sbatch ignores them
    first_command = next(i for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.startswith("#"))
    assert all(i < first_command for i, ln in enumerate(text.splitlines()) if ln.startswith("#SBATCH"))
    _bash_parses(path)


def test_all_options(tmp_path):
    path = write_sbatch(
        tmp_path,
        nodes=4,
        ntasks=128,
        time="1-12:00:00",
        account="proj83",
        partition="prod",
        job_name="ngv-run",
        environment="module load hdf5",
    )
    text = path.read_text()
    opts = _sbatch_options(text)
    assert (opts["nodes"], opts["ntasks"], opts["time"]) == ("4", "128", "1-12:00:00")
    assert (opts["account"], opts["partition"], opts["job-name"]) == ("proj83", "prod", "ngv-run")
    assert "module load hdf5\n" in text
    _bash_parses(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nodes": 0}, "nodes must be an integer >= 1"),
        ({"nodes": 2, "ntasks": 1}, "ntasks must be an integer >= nodes"),
        ({"time": "one hour"}, "not a SLURM time"),
        ({"time": "1:2:3:4"}, "not a SLURM time"),
        ({"account": "a b"}, "account"),
        ({"job_name": "x\n#SBATCH --mem=1"}, "job name"),
    ],
)
def test_bad_options_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_sbatch(tmp_path, **kwargs)
    assert not (tmp_path / "simulation.sbatch").exists()


def test_folder_with_spaces_is_refused(tmp_path):
    with pytest.raises(ValueError, match="without spaces"):
        write_sbatch(tmp_path / "my sim")
