"""``python -m trainforge.node.mpi_rank COMMAND...``: one MPI rank, as mpirun starts it.

Sets the torchrun names from Open MPI's (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``), expands ``$VARIABLES`` in the command for this rank, sends the
rank's output to its own driver log, and on failure prints the rank's traceback
between markers to mpirun's output so that the launcher of mpirun's node can report it.
Kept free of heavy imports: it starts once per rank.
"""

from __future__ import annotations

import os
import signal
import string
import subprocess
import sys
from pathlib import Path

from trainforge.schemas.settings import RunContext

TRACEBACK_MARK = "Traceback (most recent call last):"


def rank_variables(env: dict[str, str]) -> dict[str, str]:
    rank = env.get("OMPI_COMM_WORLD_RANK", "0")
    size = env.get("OMPI_COMM_WORLD_SIZE", "1")
    return {
        "RANK": rank,
        "WORLD_SIZE": size,
        "LOCAL_RANK": env.get("OMPI_COMM_WORLD_LOCAL_RANK", "0"),
        "LOCAL_WORLD_SIZE": env.get("OMPI_COMM_WORLD_LOCAL_SIZE", "1"),
    }


def log_name(rank: str, size: str) -> str:
    return "70_driver_log.txt" if size == "1" else f"70_driver_log_{rank}.txt"


def tail(path: Path) -> str:
    text = path.read_text(errors="replace")[-65536:] if path.exists() else ""
    mark = text.rfind(TRACEBACK_MARK)
    return text[mark:] if mark >= 0 else "\n".join(text.splitlines()[-20:])


def main(argv: list[str]) -> int:
    from trainforge.node.mpi import FAILURE_END, FAILURE_START

    if not argv:
        print("usage: python -m trainforge.node.mpi_rank COMMAND...", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.update(rank_variables(env))
    gpus = int(env.get("AZ_BATCHAI_NUM_GPUS", "0") or 0)
    if gpus and env["LOCAL_WORLD_SIZE"] != "1":
        env["CUDA_VISIBLE_DEVICES"] = str(int(env["LOCAL_RANK"]) % gpus)  # one GPU per local rank
    command = [string.Template(part).safe_substitute(env) for part in argv]
    context = RunContext()
    if context.rank_output == "merge":
        # Into mpirun's own output, which merges the ranks (a Batch AI job's stdout.txt).
        return _run_merged(command, env)
    logs = context.logs_dir
    path = logs / log_name(env["RANK"], env["WORLD_SIZE"])
    stopping: list[int] = []
    with open(path, "ab") as out:
        child = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)

        def forward(signum: int, _frame: object) -> None:
            stopping.append(signum)
            child.send_signal(signum)

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, forward)
        code = child.wait()
    if code != 0 and not stopping:
        rank = env["RANK"]
        print(FAILURE_START.format(rank=rank, code=code), file=sys.stderr)
        print(tail(path), file=sys.stderr)
        print(FAILURE_END.format(rank=rank), file=sys.stderr, flush=True)
    return code if code >= 0 else 128 - code


def _run_merged(command: list[str], env: dict[str, str]) -> int:
    child = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda sig, _frame: child.send_signal(sig))
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
