"""A real multi-node Ray cluster on loopback for tests: a head and workers, stopped by pid.

``ray start`` daemonizes, so the processes it leaves behind are found by the temp dir the
cluster was started with (every Ray process of the cluster names it or descends from one
that does); they are killed by pid, never with ``ray stop``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from filelock import FileLock

T = TypeVar("T")
RAY = str(Path(sys.executable).with_name("ray"))
NODE_MEMORY = str(600 * 2**20)
OBJECT_STORE = str(100 * 2**20)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RayCluster:
    temp_dir: Path
    address: str
    token_path: Path
    env: dict[str, str]
    workers: list[str] = field(default_factory=list)
    dashboard_address: str | None = None

    def processes(self, marker: str | None = None) -> list[psutil.Process]:
        """The cluster's processes (or those whose command line names ``marker``)."""
        found = []
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if str(self.temp_dir) in cmdline and (marker is None or marker in cmdline):
                found.append(process)
        return found

    def kill_worker(self, resource: str) -> None:
        """Take a worker Ray node away, as a lost machine: its raylet and all under it."""
        tree: list[psutil.Process] = []
        for process in self.processes(resource):
            tree += [process, *process.children(recursive=True)]
        lose_machine(tree)

    def stop(self) -> None:
        for _ in range(3):
            tree: dict[int, psutil.Process] = {}
            for process in self.processes():
                try:
                    tree.update({p.pid: p for p in [process, *process.children(recursive=True)]})
                except psutil.Error:
                    pass
            if not tree:
                break
            # All at once and waited for once: a killed process that is not this test's
            # child lingers until it is reaped (~2 s here), so one at a time adds up.
            lose_machine(list(tree.values()))
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def lose_machine(tree: list[psutil.Process]) -> None:
    """Make processes vanish as with a lost machine: all frozen first, so none sees another
    die and reports it, then all killed."""
    for signal_number in (signal.SIGSTOP, signal.SIGKILL):
        for process in tree:
            try:
                process.send_signal(signal_number)
            except psutil.Error:
                pass
    psutil.wait_procs(tree, timeout=5)


def _agent_ports() -> list[str]:
    """Ports of a node's own agents: every node of a loopback cluster shares one IP, and
    agents left on Ray's fixed defaults fail to bind on all nodes but the first (and the
    job server then has no agent to submit to)."""
    return [
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
    ]


START_TIMEOUT_S = 180
START_TRIES = 3
# What a raylet logs when it gives up, e.g. on a dashboard agent that took more than the
# raylet's fixed 15 s to start (its Python imports, on a loaded 2-core machine).
RAYLET_CRASH = "An unexpected system state has occurred"
# One ``ray start`` at a time on the machine (all test workers): each starts a dozen
# Python processes that import Ray, and two at once starve each other's agents.
START_LOCK = FileLock(Path(tempfile.gettempdir()) / "trainforge-tests-ray-start.lock")


def _ray_logs(temp_dir: str, lines: int = 30) -> str:
    """The tail of each log of the Ray session under ``temp_dir``: why a start failed."""
    tails = []
    for log in sorted(Path(temp_dir).glob("session_*/logs/*")):
        if log.is_file() and log.suffix in (".out", ".err", ".log") and log.stat().st_size:
            text = log.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(tails)


def _crashed_raylets(temp_dir: str) -> set[Path]:
    return {
        log
        for log in Path(temp_dir).glob("session_*/logs/raylet*.out")
        if RAYLET_CRASH in log.read_text(errors="replace")
    }


def _before_ray() -> None:
    """Ray's processes (they inherit it) ahead of the tests' own on the CPU, where the suite
    runs as root: the raylet gives its dashboard agent a fixed 15 s to start, which a
    dozen processes importing Ray on a busy 2-core machine can take."""
    if os.geteuid() == 0:
        os.nice(-10)


def _start(args: list[str], env: dict[str, str], temp_dir: str) -> None:
    """``ray start`` with ``args``, one at a time on the machine; a RuntimeError with Ray's
    logs when it fails, hangs, or its raylet crashes (then at once, not after Ray's wait)."""
    # A loaded 2-core machine can take longer than Ray's 60 s to register the raylet.
    env = {"RAY_raylet_start_wait_time_s": "150", **env}
    command = [RAY, "start", *args, *_agent_ports()]
    with START_LOCK, tempfile.TemporaryFile() as output:
        crashed_before = _crashed_raylets(temp_dir)
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, preexec_fn=_before_ray
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        failure = None
        while process.poll() is None and failure is None:
            if _crashed_raylets(temp_dir) - crashed_before:
                failure = "its raylet crashed"
            elif time.monotonic() > deadline:
                failure = f"it did not end in {START_TIMEOUT_S} s"
            else:
                time.sleep(0.5)
        if failure is not None:
            process.kill()
            process.wait()
        elif process.returncode != 0:
            failure = f"it exited with status {process.returncode}"
        if failure is None:
            return
        output.seek(0)
        printed = output.read().decode(errors="replace")
    raise RuntimeError(f"ray start {' '.join(args)}: {failure}:\n{printed}\n{_ray_logs(temp_dir)}")


def retried(start: Callable[[], T]) -> T:
    """``start()`` (which stops what it started when it fails), tried up to START_TRIES
    times: a Ray start that failed on a loaded machine is made again from scratch."""
    for _ in range(START_TRIES - 1):
        try:
            return start()
        except RuntimeError as exc:
            print(f"retrying a Ray test cluster start: {exc}", file=sys.stderr)
    return start()


def _start_head(
    prefix: str,
    extra_env: dict[str, str],
    head_args: Callable[[Path, int], list[str]],
) -> RayCluster:
    """A head Ray node with token auth (this cluster's own token), no CPUs, bounded memory,
    in a temp dir near the root (Unix socket paths are short); stopped again if it fails."""
    temp_dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    token_path = temp_dir / "auth_token"
    token_path.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        # Ray's token authentication, on as in production.
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_path),
        "RAY_USAGE_STATS_ENABLED": "0",
        **extra_env,
    }
    env.pop("RAY_AUTH_TOKEN", None)
    port = free_port()
    cluster = RayCluster(temp_dir, f"127.0.0.1:{port}", token_path, env)
    try:
        _start(
            [
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--num-cpus=0",
                f"--memory={NODE_MEMORY}",
                f"--object-store-memory={OBJECT_STORE}",
                *head_args(temp_dir, port),
                f"--temp-dir={temp_dir}",
                # Ray's fixed 10001 would be taken by another test worker's head.
                f"--ray-client-server-port={free_port()}",
                "--disable-usage-stats",
            ],
            env,
            str(temp_dir),
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster


def start_cluster(worker_cpus: list[int], dashboard: bool = False) -> RayCluster:
    """A head (no CPUs: it hosts no trainforge node) and one worker per entry of ``worker_cpus``,
    each worker with its own custom resource ``worker<i>`` to find it again. With
    ``dashboard`` the head runs Ray's dashboard (the job server of ``ray job submit``).

    A start that fails or hangs is stopped and made again once, on new ports and a new temp
    dir (a port taken between choosing and binding it); the error says what Ray logged."""
    return retried(lambda: _start_cluster(worker_cpus, dashboard))


def _start_cluster(worker_cpus: list[int], dashboard: bool) -> RayCluster:
    dashboard_port = free_port()
    cluster = _start_head(
        "tfray-",
        {},
        lambda _dir, _port: [
            f"--include-dashboard={str(dashboard).lower()}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}",
        ],
    )
    cluster.dashboard_address = f"http://127.0.0.1:{dashboard_port}" if dashboard else None
    try:
        for index, cpus in enumerate(worker_cpus):
            add_worker(cluster, cpus, f"worker{index}")
    except BaseException:
        cluster.stop()
        raise
    time.sleep(1)
    return cluster


def add_worker(cluster: RayCluster, cpus: int, resource: str) -> None:
    """Join one more worker Ray node (with custom resource ``resource``) to ``cluster``."""
    _start(
        [
            f"--address={cluster.address}",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={cpus}",
            f"--memory={NODE_MEMORY}",
            f"--object-store-memory={OBJECT_STORE}",
            f'--resources={{"{resource}": 1}}',
            "--disable-usage-stats",
        ],
        cluster.env,
        str(cluster.temp_dir),
    )
    cluster.workers.append(resource)


def start_autoscaling_cluster(config: dict[str, object]) -> RayCluster:
    """A head running Ray's autoscaler with ``config`` (fake multi-node provider): worker
    Ray nodes come and go as the autoscaler decides, as local processes."""

    def head_args(temp_dir: Path, port: int) -> list[str]:
        # The fake provider's nodes join the GCS at :6379 unless told where it is.
        provider = {**config["provider"], "gcs_address": f"127.0.0.1:{port}"}  # type: ignore[dict-item]
        config_path = temp_dir / "autoscaler.json"
        config_path.write_text(json.dumps({**config, "provider": provider}))
        return [f"--autoscaling-config={config_path}", f"--dashboard-port={free_port()}"]

    return retried(
        lambda: _start_head(
            "tfras-", {"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}, head_args
        )
    )


def require_ray() -> None:
    """Skip without Ray, unless ``TRAINFORGE_REQUIRE_SERVICES=1`` (CI), where it fails."""
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("TRAINFORGE_REQUIRE_SERVICES") == "1":
            raise
        pytest.skip("Ray is not installed (the 'ray' extra)")


def module_cluster(worker_cpus: list[int]) -> Iterator[RayCluster]:
    """The body of a module-scoped fixture: a cluster for the module, stopped after it."""
    require_ray()
    cluster = start_cluster(worker_cpus)
    yield cluster
    # The server leaves the Ray cluster on its next pass once no cluster uses it.
    time.sleep(1)
    cluster.stop()


@pytest.fixture(scope="module", name="ray_cluster")
def ray_cluster_fixture() -> Iterator[RayCluster]:
    """A module's loopback Ray cluster: a head without CPUs and two 2-CPU workers."""
    yield from module_cluster([2, 2])


def attach(
    ws: Any, cluster: RayCluster, name: str, vm_size: str | None = "STANDARD_D2_V2", **scale: Any
) -> Any:
    """Attach ``cluster`` to ``ws`` as the compute target ``name`` (``scale``: min_nodes,
    max_nodes, idle_seconds_before_scaledown), with the cluster's token file; ``vm_size``
    None sizes the nodes from the Ray nodes."""
    from trainforge.core.compute import ComputeTarget, RayCompute

    config = RayCompute.attach_configuration(
        address=cluster.address,
        vm_size=vm_size,
        auth_token_path=str(cluster.token_path),
        **scale,
    )
    return ComputeTarget.attach(ws, name, config)


def agent_of(pid: int) -> psutil.Process:
    """The node agent a process runs under (launchers are forks of the agent: same command
    line, so the agent is the topmost such process)."""
    found = None
    process: psutil.Process | None = psutil.Process(pid)
    while process is not None:
        if "trainforge.node.agent" in " ".join(process.cmdline()):
            found = process
        process = process.parent()
    assert found is not None, f"process {pid} does not run under a node agent"
    return found


def raylet_of(pid: int) -> psutil.Process | None:
    """The raylet (Ray node) a process runs under, if any."""
    process: psutil.Process | None = psutil.Process(pid)
    while process is not None and not process.name().startswith("raylet"):
        process = process.parent()
    return process
