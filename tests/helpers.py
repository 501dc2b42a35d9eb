"""Wait helpers shared by the test modules: poll observable state, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil


def wait_until(
    condition: Callable[[], Any], timeout: float = 30, what: str = "condition", every: float = 0.1
) -> Any:
    """The first truthy value of ``condition()``; fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has exited: only its parent has not reaped it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
