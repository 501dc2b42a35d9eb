"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a fresh
cluster made by ``initdb`` in a temporary folder (as the ``postgres`` user when the tests run
as root, since PostgreSQL refuses to run as root), started by ``pg_ctl`` on a free loopback
port and stopped by its postmaster's pid."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, text

from tests.storage_services import free_port
from trainforge import processes

DATABASE = "trainforge_test"
START_ATTEMPTS = 3


@dataclass(frozen=True)
class PostgresServer:
    port: int
    pid: int
    data_dir: Path

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


def _unavailable(message: str) -> None:
    if os.environ.get("TRAINFORGE_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: PATH first, then Debian's versioned folders, newest first."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    return next((d for d in debian if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


def _run_as() -> str | None:
    """The user to run PostgreSQL as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres"


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def start(binaries: Path) -> PostgresServer:
    """initdb a new cluster and start it; raises RuntimeError with PostgreSQL's own words."""
    user = _run_as()
    if os.geteuid() == 0 and user is None:
        raise RuntimeError("running as root and there is no 'postgres' user to run PostgreSQL as")
    # Not under pytest's tmp folders: their parents are 0700 root's, out of postgres' reach.
    root = Path(tempfile.mkdtemp(prefix="trainforge-pg-"))
    data_dir = root / "data"
    data_dir.mkdir()
    if user is not None:
        record = pwd.getpwnam(user)
        for path in (root, data_dir):
            os.chown(path, record.pw_uid, record.pw_gid)
    init = subprocess.run(
        [str(binaries / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust",
         "--encoding=UTF8", "--no-sync"],
        capture_output=True, text=True, user=user,
    )  # fmt: skip
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
    error = ""
    for _ in range(START_ATTEMPTS):  # another process may take the free port first
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data_dir} -c fsync=off"
        started = subprocess.run(
            [str(binaries / "pg_ctl"), "-D", str(data_dir), "-o", options,
             "-l", str(data_dir / "server.log"), "-w", "-t", "60", "start"],
            capture_output=True, text=True, user=user,
        )  # fmt: skip
        if started.returncode == 0:
            return PostgresServer(port=port, pid=_postmaster_pid(data_dir), data_dir=data_dir)
        log = data_dir / "server.log"
        error = log.read_text(errors="replace")[-2000:] if log.exists() else started.stderr
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"pg_ctl could not start PostgreSQL: {error.strip()}")


def stop(server: PostgresServer) -> None:
    """Fast shutdown by the postmaster's pid (SIGINT), then remove the cluster's files."""
    try:
        postmaster = psutil.Process(server.pid)
        postmaster.send_signal(signal.SIGINT)
        postmaster.wait(30)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        postmaster.kill()
        postmaster.wait(10)
    shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def create_database(server: PostgresServer, name: str) -> str:
    """A new empty database on ``server``; its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=server.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


def kill_recorded(url: str) -> None:
    """Kill, by pid, the node agents and launchers the server recorded in its database."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = [
            row
            for table in ("nodes", "assignments")
            for row in connection.execute(
                text(f"SELECT pid, pid_create_time FROM {table} WHERE pid IS NOT NULL")
            )
        ]
    engine.dispose()
    for pid, created in rows:
        process = processes.find(pid, created) if created is not None else None
        if process is not None:
            processes.kill_tree(process)


@pytest.fixture(name="postgres_server", scope="session")
def postgres_server_fixture() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session; skipped (or, with
    TRAINFORGE_REQUIRE_SERVICES=1, failed) where PostgreSQL is not installed or cannot start."""
    binaries = bin_dir()
    if binaries is None:
        _unavailable("PostgreSQL is not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'trainforge[test]')")
    assert binaries is not None
    try:
        server = start(binaries)
    except RuntimeError as exc:
        _unavailable(str(exc))
        raise
    try:
        yield server
    finally:
        stop(server)
