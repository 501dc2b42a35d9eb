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
    start = processes.started(parent)
    assert processes.find(parent.pid, start) == parent
    assert processes.find(parent.pid, start - 5) is None
    processes.kill_tree(parent)
    assert processes.find(parent.pid, start) is None


@pytest.mark.parametrize("family", ["polite"], indirect=True)
def test_a_process_is_found_however_far_the_wall_clock_moves(
    family: tuple[psutil.Process, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI met a launcher judged gone while it ran, its run failed "without reporting how
    the run ended": psutil's create_time() follows /proc/stat's btime, which moves with
    every NTP correction. Here the wall clock (as psutil sees it) is a minute off."""
    parent, _ = family
    start, before = processes.started(parent), psutil.Process(parent.pid).create_time()
    stepped = psutil.boot_time() + 60.0
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: stepped)
    assert psutil.Process(parent.pid).create_time() - before > 50
    assert processes.find(parent.pid, start) == parent
    processes.kill_tree(parent)
    assert processes.find(parent.pid, start) is None


@pytest.mark.parametrize("family", ["polite"], indirect=True)
def test_a_start_time_recorded_by_an_older_server_still_names_its_process(
    family: tuple[psutil.Process, int],
) -> None:
    """Rows written before start times were counted from boot hold seconds since the
    epoch: a server upgraded while its runs go on still finds their launchers."""
    parent, _ = family
    assert processes.find(parent.pid, parent.create_time()) == parent
    assert processes.find(parent.pid, parent.create_time() - 5) is None
