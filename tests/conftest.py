"""Shared fixtures: a real control-plane server on loopback, stopped by pid afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from trainforge.client import local_server, session

REPO = Path(__file__).resolve().parent.parent


def _services_required() -> bool:
    return os.environ.get("TRAINFORGE_REQUIRE_SERVICES") == "1"


def _as_failure(report: pytest.CollectReport | pytest.TestReport) -> None:
    # A skip hides a missing piece (mpirun, tensorflow, Azurite...); where the suite is meant
    # to be whole (`make test`, CI) it is a failure that says what was missing.
    if report.skipped and not hasattr(report, "wasxfail") and _services_required():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under TRAINFORGE_REQUIRE_SERVICES=1: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    _as_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    report = yield
    _as_failure(report)
    return report


def stop_everything(home: Path) -> None:
    """Stop the server of ``home`` and every node agent or launcher it started, by pid."""
    local_server.stop_all(home)


@pytest.fixture(scope="session")
def tf_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A TRAINFORGE_HOME with its server running for the whole test session."""
    home = tmp_path_factory.mktemp("trainforge-home")
    previous = os.environ.get("TRAINFORGE_HOME")
    os.environ["TRAINFORGE_HOME"] = str(home)
    # Launchers inherit the server's environment: upload outputs every second in tests.
    os.environ["TRAINFORGE_OUTPUT_SYNC_S"] = "1"
    # The server reads this: a silent node agent is unusable after 3 s instead of 10.
    os.environ["TRAINFORGE_HEARTBEAT_TIMEOUT_S"] = "3"
    os.environ["TRAINFORGE_BACKEND_GRACE_S"] = "5"
    # Test servers take any free port (then keep it across restarts), never 8765.
    os.environ["TRAINFORGE_PORT"] = "0"
    session.reset()
    local_server.ensure_server(home)
    yield home
    session.reset()
    stop_everything(home)
    if previous is None:
        os.environ.pop("TRAINFORGE_HOME", None)
    else:
        os.environ["TRAINFORGE_HOME"] = previous


@pytest.fixture(scope="session")
def ws(tf_home: Path):  # type: ignore[no-untyped-def]
    from trainforge.core import Workspace

    return Workspace.create("test-ws", exist_ok=True, show_output=False)


@pytest.fixture
def experiment(ws):  # type: ignore[no-untyped-def]
    from trainforge.core import Experiment

    return Experiment(ws, f"exp-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A source folder to put training scripts in."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def restart_server(home: Path) -> None:
    """Stop the control plane of ``home`` by pid and start a new one, as after a crash."""
    stopped = local_server.stop_server(home)
    assert stopped is not None
    time.sleep(1)
    restarted = local_server.ensure_server(home)
    assert restarted.pid != stopped.pid


def run_python(
    code: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (another process, as a second user would)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
