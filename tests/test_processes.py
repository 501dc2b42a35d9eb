"""trainforge.processes: process trees found by pid and start time, stopped and killed whole."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until
from trainforge import processes

# A parent that starts a grandchild, writes the grandchild's pid, and (with "stubborn")
# ignores SIGTERM, as a training script that traps signals would.
FAMILY = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    if sys.argv[2] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(sys.argv[1], "w").write(str(child.pid))
    time.sleep(600)
    """
)


@pytest.fixture
def family(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[psutil.Process, int]]:
    pid_file = tmp_path / "grandchild.pid"
    parent = subprocess.Popen([sys.executable, "-c", FAMILY, str(pid_file), request.param])
    try:
        grandchild = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30))
        yield psutil.Process(parent.pid), grandchild
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            processes.kill_tree(psutil.Process(parent.pid))
        parent.wait()


def _gone(pid: int) -> bool:
    try:
        return processes.ended(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("family", ["stubborn"], indirect=True)
def test_kill_tree_kills_the_process_and_its_descendants(
    family: tuple[psutil.Process, int],
) -> None:
    parent, grandchild = family
    killed = processes.kill_tree(parent)
    assert set(killed) == {parent.pid, grandchild}
    assert _gone(parent.pid) and _gone(grandchild)


@pytest.mark.parametrize("family", ["stubborn", "polite"], indirect=True)
def test_stop_tree_ends_the_whole_tree_even_when_sigterm_is_ignored(
    family: tuple[psutil.Process, int],
) -> None:
    parent, grandchild = family
    processes.stop_tree(parent, grace=0.5)
    assert _gone(parent.pid) and _gone(grandchild)


@pytest.mark.parametrize("family", ["polite"], indirect=True)
def test_find_tells_a_reused_pid_from_the_process(family: tuple[psutil.Process, int]) -> None:
    parent, _ = family
    assert processes.find(parent.pid, parent.create_time()) == parent
    assert processes.find(parent.pid, parent.create_time() - 5) is None
    processes.kill_tree(parent)
    assert processes.find(parent.pid, parent.create_time()) is None
