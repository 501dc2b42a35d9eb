"""Process trees by pid (psutil), for every layer: find, stop and kill what trainforge started.

A process is named by its pid and start time, so a reused pid is never mistaken for it; a
zombie counts as ended (it only waits for a parent to reap it, and a container's init may
never do so).

The start time is counted from boot, not read off the wall clock: psutil's
``create_time()`` adds ``/proc/stat``'s ``btime``, which Linux recomputes on every read as
the wall clock minus the uptime, so it moves whenever NTP slews or steps the clock
(psutil#2526, #2541). Compared against a time recorded earlier, a live launcher then
looked gone, and its run failed with "ended (exit code None) without reporting".
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable

import psutil

POLL_S = 0.05
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Two readings of one start time differ by at most a clock tick (1/100 s on Linux).
SAME_START_S = 0.05
# Times recorded before start times were counted from boot are seconds since the epoch,
# shifted since by however far the wall clock moved.
_EPOCH_STARTS = 1e9
_EPOCH_DRIFT_S = 2.0


def started(process: psutil.Process) -> float:
    """When ``process`` started, in seconds since boot (on Linux; elsewhere, since the
    epoch as psutil reports it): the time that names it with its pid."""
    try:
        with open(f"/proc/{process.pid}/stat", "rb") as stat:
            # The command name (field 2) may hold spaces and parentheses: fields are
            # counted after its closing parenthesis; the start time is field 22.
            fields = stat.read().rpartition(b")")[2].split()
        return int(fields[19]) / _CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        if not psutil.pid_exists(process.pid):
            raise psutil.NoSuchProcess(process.pid) from None
        return process.create_time()


def find(pid: int, create_time: float) -> psutil.Process | None:
    """The running process ``pid`` if it started at ``create_time``; else None."""
    try:
        process = psutil.Process(pid)
        if create_time > _EPOCH_STARTS:
            if abs(process.create_time() - create_time) > _EPOCH_DRIFT_S:
                return None
        elif abs(started(process) - create_time) > SAME_START_S:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except psutil.Error:
        return None


def tree(process: psutil.Process) -> list[psutil.Process]:
    """``process`` and all its descendants, descendants first; empty when it is gone."""
    try:
        return [*process.children(recursive=True), process]
    except psutil.Error:
        return []


def ended(process: psutil.Process) -> bool:
    """Whether ``process`` has exited (a zombie has)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_ended(members: Iterable[psutil.Process], timeout: float) -> bool:
    """Wait up to ``timeout`` s for every one of ``members`` to end (our own children are
    reaped on the way); whether all did."""
    deadline = time.monotonic() + timeout
    alive = list(members)
    while True:
        _, alive = psutil.wait_procs(alive, timeout=0)
        alive = [member for member in alive if not ended(member)]
        if not alive:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


def kill_tree(process: psutil.Process, timeout: float = 5.0) -> list[int]:
    """Kill ``process`` and all its descendants, children first so none is orphaned, and
    wait up to ``timeout`` s for them to end. Returns the pids killed."""
    killed = []
    members = tree(process)
    for member in members:
        try:
            member.kill()
            killed.append(member.pid)
        except psutil.Error:
            pass
    wait_ended(members, timeout)
    return killed


def stop_tree(process: psutil.Process, grace: float = 10.0, timeout: float = 5.0) -> None:
    """SIGTERM ``process``, give it ``grace`` s to end, then kill whatever is left of its
    tree (descendants it left behind included) and wait up to ``timeout`` s for them."""
    members = tree(process)
    try:
        process.send_signal(signal.SIGTERM)
    except psutil.Error:
        pass
    wait_ended([process], grace)
    left = {member.pid: member for member in [*tree(process), *members] if not ended(member)}
    for member in left.values():
        try:
            member.kill()
        except psutil.Error:
            pass
    wait_ended(left.values(), timeout)
