"""trainforge on a Ray cluster: the same 2-node DDP run on the local backend and on a
loopback Ray cluster, and submit latency on Ray next to a plain ``ray job submit``.

The Ray cluster is real and multi-node (a head without CPUs and two 2-CPU worker nodes,
token authentication on; ``tests/ray_cluster.py`` starts it and stops it by pid). Both
trainforge clusters are warm (2 idle nodes) before timing.

Rows:
  * ``ray: 2-node DDP, Ray backend vs local backend``: median wall time of submit ->
    Completed of the same gloo DDP script (``tests/test_distributed.DDP``) on 2 nodes;
    trainforge = Ray backend, peer = local backend (ratio: the cost of Ray's placement).
    Each run is checked (both ranks' parameters identical, world size 2).
  * ``ray: submit -> running, trainforge on Ray vs ray job submit``: a trivial script;
    trainforge = submit until the run is Running on the warm Ray cluster; peer = ``ray
    job submit --no-wait`` until ``ray job status`` says RUNNING (or done).
  * ``ray: submit -> done ...``: the same, until the script has finished.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import Row, make_warm_cluster, progress, quiet_call, trainforge_home

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TRIVIAL = "print('hello from a run', flush=True)\n"


def _warm_ray_cluster(ws: Any, name: str, ray_cluster: Any) -> Any:
    from trainforge.core.compute import ComputeTarget, RayCompute

    config = RayCompute.attach_configuration(
        address=ray_cluster.address,
        vm_size="STANDARD_D2_V2",
        min_nodes=2,
        max_nodes=2,
        idle_seconds_before_scaledown=600,
        auth_token_path=str(ray_cluster.token_path),
    )
    cluster = ComputeTarget.attach(ws, name, config)
    deadline = time.monotonic() + 180
    while True:
        states = [node["nodeState"] for node in cluster.list_nodes()]
        if len(states) == 2 and all(state == "idle" for state in states):
            return cluster
        if time.monotonic() > deadline:
            raise RuntimeError(f"Ray cluster nodes not idle after 3 minutes: {states}")
        time.sleep(0.1)


def _ddp_once(exp: Any, source: Path, cluster: Any) -> float:
    from trainforge.train.dnn import PyTorch

    estimator = PyTorch(
        str(source),
        compute_target=cluster,
        entry_script="train.py",
        node_count=2,
        distributed_backend="gloo",
    )
    start = time.perf_counter()
    run = exp.submit(estimator)
    details = run.wait_for_completion(raise_on_error=False)
    wall = time.perf_counter() - start
    if details["status"] != "Completed" or run.get_metrics() != {"identical": True, "world": 2}:
        raise RuntimeError(f"DDP run {run.id} on {cluster.name}: {details.get('error')}")
    return wall


def _submit_once(exp: Any, source: Path, cluster: Any) -> tuple[float, float]:
    from trainforge.core import ScriptRunConfig

    start = time.perf_counter()
    run = exp.submit(
        ScriptRunConfig(source_directory=str(source), script="hello.py", compute_target=cluster)
    )
    running = None
    while True:
        status = run.get_status()
        if running is None and status in ("Running", "Finalizing", "Completed"):
            running = time.perf_counter() - start
        if status in ("Completed", "Failed", "Canceled"):
            break
        time.sleep(0.02)
    done = time.perf_counter() - start
    if status != "Completed":
        raise RuntimeError(f"run {run.id}: {status}")
    return running or done, done


class JobSubmitFailed(RuntimeError):
    """``ray job submit`` exited non-zero (the message is its last line of stderr)."""


def _dispatch(exp: Any, source: Path, cluster: Any, count: int) -> float:
    """Runs per second: ``count`` trivial runs submitted back to back on ``cluster``, from
    the first submit to the last end on the server's clock (as bench_cluster's row)."""
    from bench_cluster import _tf_throughput

    from trainforge.core import ScriptRunConfig

    config = ScriptRunConfig(
        source_directory=str(source), script="hello.py", compute_target=cluster
    )
    result = _tf_throughput(exp, config, count)
    if result["statuses"] != {"Completed": count}:
        raise RuntimeError(f"dispatch on {cluster.name}: {result['statuses']}")
    return count / result["server_wall_s"]


def _ray_job_once(ray_cluster: Any, source: Path) -> tuple[float, float]:
    ray = str(Path(sys.executable).with_name("ray"))
    env = ray_cluster.env
    start = time.perf_counter()
    out = subprocess.run(
        [
            ray,
            "job",
            "submit",
            f"--address={ray_cluster.dashboard_address}",
            f"--working-dir={source}",
            "--no-wait",
            "--",
            "python",
            "hello.py",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise JobSubmitFailed(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "")
    found = re.search(r"raysubmit_[A-Za-z0-9]+", out.stdout)
    if found is None:
        raise RuntimeError(f"ray job submit printed no job id: {out.stdout[-500:]}")
    job_id = found.group(0)
    running = None
    deadline = time.monotonic() + 120
    while True:
        status = subprocess.run(
            [ray, "job", "status", f"--address={ray_cluster.dashboard_address}", job_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.lower()
        if running is None and ("running" in status or "succeeded" in status):
            running = time.perf_counter() - start
        if "succeeded" in status or "failed" in status or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if "succeeded" not in status:
        raise RuntimeError(f"ray job {job_id}: {status}")
    return running or 0.0, time.perf_counter() - start


def _warm_job_server(ray_cluster: Any, source: Path) -> None:
    """One job through, once the dashboard's job agent is up (it starts after ``ray start``
    returns; until then the job server answers 'No available agent')."""
    deadline = time.monotonic() + 90
    while True:
        try:
            _ray_job_once(ray_cluster, source)
            return
        except JobSubmitFailed as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def run(quick: bool = False) -> list[Row]:
    from tests.ray_cluster import start_cluster
    from tests.test_distributed import DDP
    from trainforge.core import Experiment, Workspace

    repeats = 2 if quick else 3
    count = 40 if quick else 200
    source = Path(tempfile.mkdtemp(prefix="trainforge-bench-ray-src-"))
    (source / "train.py").write_text(textwrap.dedent(DDP))
    (source / "hello.py").write_text(TRIVIAL)
    progress("ray: starting a loopback Ray cluster (head + 2 workers)")
    ray_cluster = start_cluster([2, 2], dashboard=True)
    try:
        with trainforge_home("ray"):
            ws = quiet_call(Workspace.create, "bench-ray", exist_ok=True, show_output=False)
            exp = Experiment(ws, "bench-ray")
            local, _ = make_warm_cluster(ws, "local2", 2)
            on_ray = _warm_ray_cluster(ws, "ray2", ray_cluster)
            progress("ray: DDP on both backends")
            _ddp_once(exp, source, on_ray)  # warm-up: first imports on the Ray nodes
            ddp_ray = [_ddp_once(exp, source, on_ray) for _ in range(repeats)]
            ddp_local = [_ddp_once(exp, source, local) for _ in range(repeats)]
            progress("ray: submit latency, trainforge on Ray vs ray job submit")
            _submit_once(exp, source, on_ray)
            tf_submit = [_submit_once(exp, source, on_ray) for _ in range(repeats)]
            _warm_job_server(ray_cluster, source)
            ray_jobs = [_ray_job_once(ray_cluster, source) for _ in range(repeats)]
            progress(f"ray: dispatch of {count} trivial runs on each backend's 2 warm nodes")
            dispatch = {
                name: _dispatch(exp, source, cluster, count)
                for name, cluster in (("ray", on_ray), ("local", local))
            }
            for cluster in (local, on_ray):
                cluster.delete()
            time.sleep(2)  # the server leaves the Ray cluster before it is stopped
    finally:
        ray_cluster.stop()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    return [
        Row(
            "ray: 2-node DDP, Ray backend vs local backend",
            med(ddp_ray),
            med(ddp_local),
            "s",
            note=f"submit->Completed, median of {repeats}; peer = local backend",
            higher_is_better=False,
            extra={"ray": ddp_ray, "local": ddp_local},
        ),
        Row(
            "ray: submit -> running, trainforge on Ray vs ray job submit",
            med([r for r, _ in tf_submit]),
            med([r for r, _ in ray_jobs]),
            "s",
            note="trivial script, warm clusters",
            higher_is_better=False,
            extra={"trainforge": tf_submit, "ray_job": ray_jobs},
        ),
        Row(
            f"ray: dispatch of {count} trivial runs on 2 warm nodes, Ray backend vs local backend",
            dispatch["ray"],
            dispatch["local"],
            "runs/s",
            note="submitted back to back, then waited for; first submit -> last end on the "
            "server's clock; peer = the same on the local backend's 2-node cluster",
            extra=dispatch,
        ),
        Row(
            "ray: submit -> done, trainforge on Ray vs ray job submit",
            med([d for _, d in tf_submit]),
            med([d for _, d in ray_jobs]),
            "s",
            note="trivial script, warm clusters",
            higher_is_better=False,
        ),
    ]
