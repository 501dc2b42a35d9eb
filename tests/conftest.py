"""Shared fixtures: a real control-plane server on loopback, stopped by pid afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The shared helper modules assert too: their failures read like a test's own.
pytest.register_assert_rewrite(
    "tests.helpers", "tests.clusters", "tests.distributed_jobs", "tests.cli", "tests.inprocess"
)

from tests.clusters import delete_clusters, make_cluster  # noqa: E402
from tests.helpers import session_of_its_own, stop_everything  # noqa: E402
from trainforge.client import local_server, session  # noqa: E402

# As root, runs run as an unprivileged user; this machine's interpreter may live where only
# root reaches it (/root/.pyenv), so the suite's runs (every server its tests start) stay
# root. The run user is tested on its own (test_server_home.py) with an interpreter every
# user can run.
os.environ.setdefault("TRAINFORGE_RUN_USER", "")


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


# Fixtures that start real processes: the control-plane server (tf_home and everything on
# top of it), PostgreSQL, Azurite, moto, Ray clusters. A test that needs one is marked
# ``real_process``; modules that start processes themselves carry the mark in pytestmark.
REAL_PROCESS_FIXTURES = frozenset(
    {
        "tf_home",
        "own_server",
        "postgres_server",
        "azurite_service",
        "s3_service",
        "ray_cluster",
        "autoscaling_cluster",
        "one_big_worker",
    }
)


def _starts_processes(item: pytest.Item) -> bool:
    if REAL_PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    # The store tests run on SQLite and, as the parameter "postgresql", on a real server.
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "postgresql" in callspec.params.values():
        return True
    return item.get_closest_marker("slow") is not None  # slow: real services, by definition


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _starts_processes(item):
            item.add_marker(pytest.mark.real_process)


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


@pytest.fixture
def clusters(ws) -> Iterator[Callable[..., Any]]:  # type: ignore[no-untyped-def]
    """Clusters made by a test, deleted (with their node agents) when it ends."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        cluster = make_cluster(ws, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    delete_clusters(ws, made)


@pytest.fixture
def app_api(tmp_path: Path) -> Iterator[Any]:
    """The control plane in-process on a SQLite store (tests/inprocess.py): its routers
    answered through a TestClient, a recording backend instead of node processes."""
    from tests.inprocess import Api

    control = Api(tmp_path / "home", f"sqlite:///{tmp_path / 'trainforge.db'}")
    try:
        yield control
    finally:
        control.close()


@pytest.fixture
def alpha_and_beta(app_api: Any) -> Any:
    """``app_api`` with two workspaces, alpha and beta, for what must stay in its own."""
    app_api.workspace("alpha")
    app_api.workspace("beta")
    return app_api


@pytest.fixture
def cli_server(app_api: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``app_api`` served on loopback from this process, and the process's session pointed
    at it (TRAINFORGE_ENDPOINT/TOKEN), so the CLI runs in-process under CliRunner."""
    from tests.inprocess import TOKEN, served

    with served(app_api) as address:
        monkeypatch.setenv("TRAINFORGE_ENDPOINT", address)
        monkeypatch.setenv("TRAINFORGE_TOKEN", TOKEN)
        with session_of_its_own():
            yield app_api
