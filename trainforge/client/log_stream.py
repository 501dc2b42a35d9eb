"""Following a run's log as it grows: ``wait_for_completion(show_output=True)`` and ``run logs -f``."""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable

from trainforge.client.api.files import FilesApi
from trainforge.client.api.runs import RunsApi
from trainforge.schemas.runs import TERMINAL_STATUSES, RunInfo, RunStatus

DRIVER_LOG = "azureml-logs/70_driver_log.txt"
# A HyperDrive run has no driver log: its own log is azureml-logs/hyperdrive.txt (a
# pipeline run's: azureml-logs/pipeline.txt).
LOG_NAME = re.compile(
    r"^(azureml-logs/\d\d_[^/]*\.txt|azureml-logs/(hyperdrive|pipeline|automl)\.txt|user_logs/std_log[^/]*\.txt)$"
)
DISTRIBUTED_SUFFIX = re.compile(r"_(\d+|ps_\d+|worker_\d+)\.txt$")
# Written before the script starts (environment build, job preparation): the run's error
# carries what matters of them, and following one would miss the driver log.
PREPARATION_LOG = re.compile(r"^azureml-logs/(20|55|65)_")
LONG_POLL_S = 10.0


def pick_log(names: list[str], settled: bool = True) -> str | None:
    """The log the SDK streams: the highest-sorted system log, rank 0 for distributed runs.

    While the run goes on (``settled`` False), another rank's log is not taken for rank 0's:
    the nodes of a gang start in any order, so wait until rank 0's log is there.
    """
    logs = [name for name in names if LOG_NAME.match(name) and not PREPARATION_LOG.match(name)]
    if not logs:
        return None
    firsts = [
        n
        for n in logs
        if not DISTRIBUTED_SUFFIX.search(n) or (n.endswith("_0.txt") and "_ps_" not in n)
    ]
    if not firsts and not settled:
        return None
    # MPI runs: rank 0's output, not mpirun's own log (70_mpi_log.txt), which may appear
    # first: a run's logs reach the server one file after another.
    drivers = [n for n in firsts if "_mpi_" not in n]
    if not drivers and not settled:
        return None
    return max(drivers or firsts or logs)


def follow(
    runs: RunsApi,
    run_id: str,
    write: Callable[[str], None],
    on_log: Callable[[str], None] = lambda name: None,
    log_name: str | None = None,
) -> RunStatus:
    """Write the run's log to ``write`` until the run ends; return its final status."""
    files = FilesApi(runs.client, runs.workspace)
    offset = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while log_name is None:
        status = runs.get(run_id).status
        names = [item.name for item in files.list(run_id)]
        log_name = pick_log(names, settled=status in TERMINAL_STATUSES)
        if log_name is None:
            if status in TERMINAL_STATUSES:
                return status
            runs.wait(run_id, timeout=1.0)
    on_log(log_name)
    attempt: str | None = None
    while True:
        response = files.tail(run_id, log_name, offset, LONG_POLL_S)
        status = RunStatus(response.headers["X-Run-Status"])
        read_attempt = response.headers.get("X-Attempt")
        if attempt is not None and read_attempt != attempt:
            # The run was requeued: its new attempt writes a log of its own, read from its start.
            attempt, offset = read_attempt, 0
            write(decoder.decode(b"", final=True))
            continue
        attempt = read_attempt
        if response.content:
            write(decoder.decode(response.content))
        offset = int(response.headers["X-Next-Offset"])
        if status in TERMINAL_STATUSES and not response.content:
            write(decoder.decode(b"", final=True))
            return status


def wait_for_terminal(runs: RunsApi, run_id: str, timeout: float | None = None) -> RunStatus:
    """Block until the run ends (or ``timeout`` seconds pass); return its last status."""
    return wait_for_info(runs, run_id, timeout).status


def wait_for_info(runs: RunsApi, run_id: str, timeout: float | None = None) -> RunInfo:
    """Block until the run ends (or ``timeout`` seconds pass); return the run as the last
    answer described it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        info = runs.wait(run_id, timeout=LONG_POLL_S)
        if info.status in TERMINAL_STATUSES or (
            deadline is not None and time.monotonic() >= deadline
        ):
            return info
