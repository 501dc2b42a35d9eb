"""MPI jobs: the ``mpirun`` command rank 0's node runs over the run's nodes.

As on AmlCompute, one ``mpirun`` on the first node starts every rank. Its hostfile names
the first node ``localhost`` (its ranks start under mpirun, hence under that node's
launcher) and every other node ``trainforge-node-<rank>``. Open MPI starts its daemon
(``orted``) on those through ``plm_rsh_agent``, which here is
``python -m trainforge.node.mpi_agent``: instead of ssh it posts the daemon's command to
the control plane, and the named node's launcher runs it as one of its own processes.
The daemon connects back to mpirun over TCP and starts that node's ranks, so each node's
ranks are children of its own launcher, on one host (local backend) or several.

Every rank runs through ``python -m trainforge.node.mpi_rank``, which maps
``OMPI_COMM_WORLD_*`` to ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` for torch scripts, writes
the rank's output to its own ``70_driver_log_<rank>.txt`` and, when the rank fails,
prints its traceback to mpirun's log (``70_mpi_log.txt``) between markers.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

HOST_PREFIX = "trainforge-node-"
MPI_LOG = "azureml-logs/70_mpi_log.txt"
FAILURE_START = "==== trainforge: rank {rank} exited with status code {code} ===="
FAILURE_END = "==== trainforge: end of rank {rank} ===="
_FAILURE = re.compile(
    r"==== trainforge: rank (\d+) exited with status code (-?\d+) ====\n(.*?)"
    r"==== trainforge: end of rank \1 ====",
    re.S,
)


class MpiUnavailable(Exception):
    """``mpirun`` is not installed on the node."""


def host_name(node_rank: int) -> str:
    return "localhost" if node_rank == 0 else f"{HOST_PREFIX}{node_rank}"


def node_rank_of(host: str) -> int:
    """The node rank a hostfile name stands for; ValueError for a name not ours."""
    if not host.startswith(HOST_PREFIX) or not host[len(HOST_PREFIX) :].isdigit():
        raise ValueError(f"{host!r} is not a node of this run (expected {HOST_PREFIX}<rank>)")
    return int(host[len(HOST_PREFIX) :])


def write_hostfile(path: Path, node_count: int, per_node: int) -> Path:
    path.write_text("".join(f"{host_name(rank)} slots={per_node}\n" for rank in range(node_count)))
    return path


def rsh_agent() -> str:
    return f"{sys.executable} -m trainforge.node.mpi_agent"


def own_mpirun_environment() -> dict[str, str]:
    """What lets a job's own ``mpirun --hostfile $AZ_BATCHAI_MPI_HOST_FILE`` reach the
    other nodes as trainforge's does: Open MPI reads its options from ``OMPI_MCA_*``."""
    env = {"OMPI_MCA_plm_rsh_agent": rsh_agent()}
    if os.geteuid() == 0:
        env |= {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    return env


def mpirun_command(
    rank_command: list[str], node_count: int, per_node: int, hostfile: Path
) -> list[str]:
    """``mpirun`` over all nodes, each rank wrapped by ``trainforge.node.mpi_rank``."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise MpiUnavailable(
            "MPI jobs need mpirun on the node; install Open MPI (Debian: apt-get install "
            "openmpi-bin libopenmpi-dev)"
        )
    total = node_count * per_node
    command = [mpirun]
    if os.geteuid() == 0:
        command.append("--allow-run-as-root")
    if total > (os.cpu_count() or 1):
        command.append("--oversubscribe")
    command += [
        "-np", str(total),
        "--hostfile", str(hostfile),
        # Fill each node's slots in order, so node k holds ranks k*per_node and up.
        "--map-by", "slot",
        "--bind-to", "none",
        "--mca", "plm_rsh_agent", rsh_agent(),
        sys.executable, "-m", "trainforge.node.mpi_rank",
        *rank_command,
    ]  # fmt: skip
    return command


def rank_failure(mpi_log: str) -> tuple[int, int, str] | None:
    """The first failed rank that ``mpi_rank`` reported in mpirun's output:
    (rank, status code, the end of its log)."""
    found = _FAILURE.search(mpi_log)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2)), found.group(3).rstrip()
