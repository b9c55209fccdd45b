"""A real one-node SLURM cluster for the tests that submit jobs (Debian's slurm-wlm and munge).

The session fixture :func:`slurm_cluster` writes a slurm.conf for this machine (``slurmd -C``
gives the real hostname, CPUs and memory), a munge key, and the state, spool, PMIx (mpi.conf) and
log folders under a temporary folder; starts munged, slurmctld and slurmd on free ports; waits
until the node is idle; and stops the daemons at the end. The environment it returns points the
SLURM commands at this cluster (``SLURM_CONF``). It skips, naming what is missing, only when the
packages are absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo")


def _sbin(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlurmCluster:
    root: Path
    env: dict[str, str]
    cpus: int

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.root.glob("*.log"))
        )


def _slurm_conf(root: Path, node_line: str, munge_socket: Path) -> str:
    node = dict(item.split("=", 1) for item in node_line.split())
    host = node["NodeName"]
    return "\n".join(
        [
            "ClusterName=msrtest",
            "MailProg=/bin/true",
            f"SlurmctldHost={host}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            # cred_expire is also how long a requeued job waits before it may start again
            # (slurm.conf(5); 120 s by default)
            f"AuthInfo=socket={munge_socket},cred_expire=10",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'slurmctld.log'}",
            f"SlurmdLogFile={root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=pmix",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "KillWait=5",
            f"NodeName={host} NodeAddr=127.0.0.1 CPUs={node['CPUs']} "
            f"CoresPerSocket={node['CoresPerSocket']} SocketsPerBoard={node['SocketsPerBoard']} "
            f"ThreadsPerCore={node['ThreadsPerCore']} RealMemory={node['RealMemory']} State=UNKNOWN",
            f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


def _wait_idle(cluster: SlurmCluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = cluster.run("sinfo", "--noheader", "--format=%T").stdout.strip()
        if state in ("idle", "mixed", "allocated"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the SLURM node is not idle after {timeout} s:\n{cluster.logs()}")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    missing = [name for name in DAEMONS if _sbin(name) is None]
    if missing:
        pytest.skip(f"SLURM test cluster needs Debian's slurm-wlm and munge: {', '.join(missing)} not found")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir()
    (root / "munge").chmod(0o700)
    key, munge_socket = root / "munge" / "munge.key", root / "munge" / "munge.socket"
    subprocess.run([_sbin("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
    subprocess.run(
        [
            _sbin("munged"),
            "--force",  # as root, in a folder munged would otherwise find too open
            f"--key-file={key}",
            f"--socket={munge_socket}",
            f"--pid-file={root / 'munge' / 'munged.pid'}",
            f"--log-file={root / 'munged.log'}",
            f"--seed-file={root / 'munge' / 'munged.seed'}",
        ],
        check=True,
        capture_output=True,
    )
    node_line = subprocess.run([_sbin("slurmd"), "-C"], check=True, capture_output=True, text=True).stdout
    node_line = node_line.splitlines()[0]
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, node_line, munge_socket))
    # PMIx's per-step folders (spmix_appdir_UID_JOB.STEP) go to /tmp by default, where a step of an
    # earlier test cluster with the same job id may have left its own: the launch then fails
    (root / "pmix").mkdir()
    (root / "mpi.conf").write_text(f"PMIxCliTmpDirBase={root / 'pmix'}\n")
    # Open MPI ranks started by srun run as root here, like the tests' mpiexec runs
    env = {
        **os.environ,
        "SLURM_CONF": str(conf),
        "OMPI_ALLOW_RUN_AS_ROOT": "1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    }
    cluster = SlurmCluster(root, env, cpus=int(dict(i.split("=", 1) for i in node_line.split())["CPUs"]))
    subprocess.run([_sbin("slurmctld"), "-c", "-f", str(conf)], env=env, check=True, capture_output=True)
    subprocess.run([_sbin("slurmd"), "-c", "-f", str(conf)], env=env, check=True, capture_output=True)
    try:
        _wait_idle(cluster)
        yield cluster
    finally:
        for pid_file in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
            _stop(root / pid_file)


def _stop(pid_file: Path, timeout: float = 20) -> None:
    """SIGTERM the daemon of ``pid_file`` and wait for it to exit (SIGKILL after ``timeout``)."""
    if not pid_file.is_file():
        return
    pid = int(pid_file.read_text().split()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # raises ProcessLookupError once it is gone
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
