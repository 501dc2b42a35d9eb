"""Process trees identified by pid and start time, so a reused pid is never mistaken."""

from __future__ import annotations

import psutil


def find(pid: int, create_time: float) -> psutil.Process | None:
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - create_time) > 0.01:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except psutil.Error:
        return None


def kill_tree(process: psutil.Process, timeout: float = 5.0) -> None:
    """Kill ``process`` and all its descendants, children first so none is orphaned."""
    try:
        tree = process.children(recursive=True) + [process]
    except psutil.Error:
        return
    for member in tree:
        try:
            member.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(tree, timeout=timeout)
