"""Runs on an AmlCompute cluster of the local backend (node agents are separate processes).

1. Submit-to-complete latency of a trivial script on a WARM 1-node cluster (the node is
   idle before the clock starts), next to ``python train.py`` run directly and next to a
   Ray job on a local Ray head started (and stopped, by pid) by this benchmark.
2. Dispatch throughput: N trivial runs submitted as fast as the SDK allows to a warm
   4-node cluster; wall time from the first submit until all are Completed, runs/s, the
   submit rate alone, and the per-run overhead (wall x 4 / N minus the script's own
   runtime). The peer is the same N scripts run directly, 4 at a time.

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _common import Row, make_warm_cluster, progress, quiet_call, timed, trainforge_home

SCRIPT = 'print("hello")\n'
TERMINAL = ("Completed", "Failed", "Canceled")


# -- helpers ----------------------------------------------------------------------------
def _median(values: list[float]) -> float:
    return statistics.median(values)


def _spread(times: list[float]) -> str:
    return f"min {min(times):.3f} / max {max(times):.3f} s"


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _run_python(source: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=source, capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - start
    if done.stdout.strip() != "hello":
        raise RuntimeError(f"the script printed {done.stdout!r}")
    return elapsed


def _python_times(source: Path, repeats: int) -> list[float]:
    """``python train.py`` via subprocess: one warm-up, then ``repeats`` timed."""
    _run_python(source)
    return [_run_python(source) for _ in range(repeats)]


def _python_parallel(source: Path, count: int, workers: int) -> float:
    """Wall time of ``count`` runs of ``python train.py``, ``workers`` at a time."""
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: _run_python(source), range(count)))
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- trainforge -------------------------------------------------------------------------


def _delete_cluster(cluster: Any) -> None:
    try:
        cluster.delete()
        cluster.wait_for_completion(is_delete_operation=True, timeout_in_minutes=1)
    except Exception as exc:  # stop_everything() still kills its agents by pid
        progress(f"cluster {cluster.name}: delete did not finish cleanly: {exc}")


def _tf_latency(exp: Any, config: Any, repeats: int) -> dict[str, list[float]]:
    """One warm-up, then ``repeats`` sequential submit -> wait_for_completion."""
    out: dict[str, list[float]] = {
        "total_s": [],
        "submit_s": [],
        "created_to_running_s": [],
        "running_to_end_s": [],
        "end_to_client_s": [],
    }
    for i in range(repeats + 1):
        progress(f"cluster: 1-node run {i + 1}/{repeats + 1}" + (" (warm-up)" if i == 0 else ""))
        start = time.perf_counter()
        run_ = exp.submit(config)
        submitted = time.perf_counter()
        details = run_.wait_for_completion()
        done = time.perf_counter()
        done_wall = time.time()
        if details["status"] != "Completed":
            raise RuntimeError(f"run {run_.id} ended {details['status']}")
        if i == 0:
            continue
        out["total_s"].append(done - start)
        out["submit_s"].append(submitted - start)
        info = run_._info  # the server's timestamps
        created, started, ended = (
            _ts(info.created_utc),
            _ts(info.start_time_utc),
            _ts(info.end_time_utc),
        )
        if created and started and ended:
            out["created_to_running_s"].append(started - created)
            out["running_to_end_s"].append(ended - started)
            out["end_to_client_s"].append(done_wall - ended)
    return out


def _tf_throughput(exp: Any, config: Any, count: int) -> dict[str, Any]:
    """Submit ``count`` runs back to back, then wait for every one of them."""
    runs = []
    first_submit_wall = time.time()
    start = time.perf_counter()
    for i in range(count):
        runs.append(exp.submit(config))
        if (i + 1) % 100 == 0:
            progress(f"cluster: submitted {i + 1}/{count}")
    submit_s = time.perf_counter() - start
    progress(f"cluster: all {count} submitted in {submit_s:.1f} s; waiting for them")
    statuses: dict[str, int] = {}
    for i, run_ in enumerate(runs):
        details = run_.wait_for_completion(raise_on_error=False)
        statuses[details["status"]] = statuses.get(details["status"], 0) + 1
        if (i + 1) % 100 == 0:
            progress(f"cluster: {i + 1}/{count} ended ({time.perf_counter() - start:.1f} s)")
    wall_s = time.perf_counter() - start
    infos = [run_._info for run_ in runs]
    created = [_ts(info.created_utc) for info in infos]
    started = [_ts(info.start_time_utc) for info in infos]
    ended = [_ts(info.end_time_utc) for info in infos]
    complete = all(c and s and e for c, s, e in zip(created, started, ended, strict=True))
    result: dict[str, Any] = {
        "runs": runs,  # taken out again by the caller, for _request_costs
        "count": count,
        "submit_s": submit_s,
        "wall_s": wall_s,
        "statuses": statuses,
    }
    if complete:
        first_end = min(ended)  # type: ignore[type-var]
        last_end = max(ended)  # type: ignore[type-var]
        result.update(
            server_wall_s=last_end - first_submit_wall,
            first_created_to_last_end_s=last_end - min(created),  # type: ignore[type-var,operator]
            first_end_s=first_end - first_submit_wall,
            created_to_running_s=[s - c for c, s in zip(created, started, strict=True)],  # type: ignore[operator]
            running_to_end_s=[e - s for s, e in zip(started, ended, strict=True)],  # type: ignore[operator]
            # How long a node stood between one run's end and the next run's start: the
            # dispatch gap, from the server's own clock, over consecutive runs in start order.
            gaps_s=_node_gaps(started, ended, nodes=4),  # type: ignore[arg-type]
        )
    return result


def _request_costs(runs: list[Any], repeats: int = 20) -> dict[str, list[float]]:
    """What single SDK calls cost once everything is idle: one GET of a run on the
    session's kept-alive connection, and ``wait_for_completion()`` on a run that has
    already ended (a long-poll that answers at once, then the details: 4 requests)."""
    ended = runs[:repeats]
    client = ended[0]._session.client
    client.get(ended[0]._path)  # the connection is open and warm
    get_s, wait_s = [], []
    for run_ in ended:
        start = time.perf_counter()
        client.get(run_._path)
        get_s.append(time.perf_counter() - start)
    for run_ in ended:
        start = time.perf_counter()
        run_.wait_for_completion()
        wait_s.append(time.perf_counter() - start)
    return {"get_run_s": get_s, "wait_ended_run_s": wait_s}


def _node_gaps(started: list[float], ended: list[float], nodes: int) -> list[float]:
    """With ``nodes`` nodes busy back to back, the k-th start in time order follows the
    end that freed a node: the (k - nodes)-th end in time order."""
    starts = sorted(started)
    ends = sorted(ended)
    return [starts[k] - ends[k - nodes] for k in range(nodes, len(starts))]


def _trainforge(source: Path, repeats: int, count: int) -> dict[str, Any]:
    from trainforge.core import Experiment, ScriptRunConfig, Workspace

    results: dict[str, Any] = {}
    with trainforge_home("cluster"):
        progress("cluster: first SDK call (starts the server)")
        results["server_start_s"], ws = timed(
            quiet_call, Workspace.create, "bench-ws", exist_ok=True
        )
        exp = Experiment(ws, "bench-cluster")

        progress("cluster: creating a 1-node cluster, waiting until its node is idle")
        one, results["warm_1_s"] = make_warm_cluster(ws, "bench1", 1)
        try:
            config = ScriptRunConfig(
                source_directory=str(source), script="train.py", compute_target=one
            )
            results["latency"] = _tf_latency(exp, config, repeats)
        finally:
            _delete_cluster(one)

        progress("cluster: creating a 4-node cluster, waiting until its 4 nodes are idle")
        four, results["warm_4_s"] = make_warm_cluster(ws, "bench4", 4)
        try:
            config = ScriptRunConfig(
                source_directory=str(source), script="train.py", compute_target=four
            )
            # One warm-up run so the snapshot upload is not in the timed submit loop.
            exp.submit(config).wait_for_completion()
            results["throughput"] = tp = _tf_throughput(exp, config, count)
            results["requests"] = _request_costs(tp.pop("runs"))
        finally:
            _delete_cluster(four)
    return results


# -- Ray --------------------------------------------------------------------------------
class LocalRay:
    """A Ray head on this machine, started by ``ray start`` in a session of its own, so
    that every process it creates can be found (and stopped) by pid afterwards.

    Token authentication stays on: a random token is passed as ``RAY_AUTH_TOKEN`` (with
    ``RAY_AUTH_MODE=token``) to ``ray start`` and to every client, so nothing is written to
    ``~/.ray``. Never ``ray stop``: it finds Ray processes by name, anyone's.
    """

    def __init__(self) -> None:
        self.ray = str(Path(sys.executable).with_name("ray"))
        self.temp_dir = Path(tempfile.mkdtemp(prefix="tfb-ray-"))
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.dashboard_port = _free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        self.session_id: int | None = None
        self.started_at = 0.0

    def start(self) -> float:
        command = [
            self.ray, "start", "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={self.port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}",
            "--num-cpus=2",
            "--memory=2000000000",
            "--object-store-memory=200000000",
            "--include-dashboard=true",
            # Fixed by default (10001, 52365): take free ones, so nobody else's Ray is hit.
            f"--ray-client-server-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
        ]  # fmt: skip
        self.started_at = time.time()
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # every Ray daemon inherits this session id
        )
        self.session_id = process.pid
        output, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"ray start failed ({process.returncode}):\n{output[-3000:]}")
        return time.perf_counter() - start

    def processes(self) -> list[Any]:
        """Every process of this head: those in the session ``ray start`` opened (started
        after it), and their descendants (Ray workers and job drivers)."""
        import psutil

        if self.session_id is None:
            return []
        found: dict[int, Any] = {}
        for process in psutil.process_iter():
            try:
                if (
                    os.getsid(process.pid) == self.session_id
                    and process.create_time() >= self.started_at - 1
                ):
                    found[process.pid] = process
            except (psutil.Error, OSError):
                continue
        for process in list(found.values()):
            try:
                for child in process.children(recursive=True):
                    found.setdefault(child.pid, child)
            except psutil.Error:
                continue
        return list(found.values())

    def stop(self) -> list[int]:
        """SIGTERM every process of this head, SIGKILL what is left after 10 s."""
        import psutil

        members = self.processes()
        for process in members:
            try:
                process.send_signal(signal.SIGTERM)
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(members, timeout=10)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
        left = [p.pid for p in self.processes()]
        if left:
            progress(f"ray: still running after SIGKILL: {left}")
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return [p.pid for p in members]

    def cli_submit(self, source: Path) -> tuple[float, str, float]:
        """``ray job submit`` (waits for the job); (seconds, job id, wall time at return)."""
        start = time.perf_counter()
        done = subprocess.run(
            [
                self.ray,
                "job",
                "submit",
                "--address",
                self.address,
                "--working-dir",
                str(source),
                "--",
                "python",
                "train.py",
            ],  # fmt: skip
            env=self.env,
            cwd=source,
            capture_output=True,
            text=True,
            timeout=300,
        )
        elapsed = time.perf_counter() - start
        returned = time.time()
        output = done.stdout + done.stderr
        match = re.search(r"Job '(raysubmit_\w+)' succeeded", output)
        if done.returncode != 0 or match is None or "hello" not in output:
            raise RuntimeError(f"ray job submit failed ({done.returncode}):\n{output[-3000:]}")
        return elapsed, match.group(1), returned


def _ray(source: Path, repeats: int) -> dict[str, Any]:
    """``ray job submit`` (CLI, end to end) and the in-process JobSubmissionClient."""
    ray = LocalRay()
    results: dict[str, Any] = {}
    saved = {key: os.environ.get(key) for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    try:
        progress(f"ray: ray start --head (temp dir {ray.temp_dir})")
        results["start_s"] = ray.start()
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = ray.token
        from ray.job_submission import JobStatus, JobSubmissionClient

        # Its "Package ... already exists, skipping upload" INFO lines would mix with ours.
        logging.getLogger("ray.dashboard.dashboard_sdk").setLevel(logging.WARNING)
        client = JobSubmissionClient(ray.address)

        cli_s: list[float] = []
        job_s: list[float] = []
        after_end_s: list[float] = []
        for i in range(repeats + 1):
            progress(
                f"ray: ray job submit {i + 1}/{repeats + 1}" + (" (warm-up)" if i == 0 else "")
            )
            elapsed, job_id, returned = ray.cli_submit(source)
            if i == 0:
                continue
            info = client.get_job_info(job_id)
            cli_s.append(elapsed)
            if info.start_time and info.end_time:
                job_s.append((info.end_time - info.start_time) / 1000)
                after_end_s.append(returned - info.end_time / 1000)
        results.update(cli_s=cli_s, job_s=job_s, cli_after_end_s=after_end_s)

        sdk_s: list[float] = []
        for i in range(repeats + 1):
            progress(
                f"ray: JobSubmissionClient {i + 1}/{repeats + 1}" + (" (warm-up)" if i == 0 else "")
            )
            start = time.perf_counter()
            job_id = client.submit_job(
                entrypoint="python train.py", runtime_env={"working_dir": str(source)}
            )
            while not (status := client.get_job_status(job_id)).is_terminal():
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            if status != JobStatus.SUCCEEDED or "hello" not in client.get_job_logs(job_id):
                raise RuntimeError(f"ray job {job_id} ended {status}")
            if i:
                sdk_s.append(elapsed)
        results["sdk_s"] = sdk_s
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stopped = ray.stop()
        progress(f"ray: stopped {len(stopped)} processes by pid")
    return results


# -- the rows ---------------------------------------------------------------------------
def run(quick: bool = False) -> list[Row]:
    repeats = 3 if quick else 5
    count = 100 if quick else 500
    try:
        ray_version: str | None = version("ray")
    except PackageNotFoundError:
        ray_version = None

    source = Path(tempfile.mkdtemp(prefix="trainforge-bench-src-"))
    try:
        (source / "train.py").write_text(SCRIPT)
        progress(f"python: python train.py x {repeats + 1}")
        direct = _python_times(source, repeats)
        tf = _trainforge(source, repeats, count)
        progress(f"python: {count} x python train.py, 4 at a time")
        parallel_s = _python_parallel(source, count, 4)
        ray = _ray(source, repeats) if ray_version else None
    finally:
        shutil.rmtree(source, ignore_errors=True)

    lat = tf["latency"]
    tf_median = _median(lat["total_s"])
    script_s = _median(direct)
    breakdown = (
        f"submit() returns in {_median(lat['submit_s']) * 1e3:.0f} ms; server clock: "
        f"created->Running {_median(lat['created_to_running_s']) * 1e3:.0f} ms, "
        f"Running->ended {_median(lat['running_to_end_s']) * 1e3:.0f} ms, "
        f"ended->wait returned {_median(lat['end_to_client_s']) * 1e3:.0f} ms"
        if lat["created_to_running_s"]
        else f"submit() returns in {_median(lat['submit_s']) * 1e3:.0f} ms"
    )
    rows = [
        Row(
            f"warm 1-node cluster: submit -> complete (median of {repeats}) vs python",
            tf_median,
            script_s,
            "s",
            f"peer: python train.py via subprocess ({_spread(direct)}); tf {_spread(lat['total_s'])}; "
            f"{breakdown}; 1 warm-up each; node idle before each submit",
            higher_is_better=False,
            extra={**lat, "subprocess_s": direct, "cluster_warm_s": tf["warm_1_s"]},
        )
    ]
    if ray is not None:
        rows.append(
            Row(
                f"warm 1-node cluster vs Ray {ray_version} `ray job submit` (median of {repeats})",
                tf_median,
                _median(ray["cli_s"]),
                "s",
                f"peer: ray job submit --working-dir (CLI, waits for the job), local head, "
                f"token auth; ray {_spread(ray['cli_s'])}; Ray's own clock: job start->end "
                f"{_median(ray['job_s']):.2f} s, CLI returned {_median(ray['cli_after_end_s']):.2f} s "
                f"after the job's end; ray start took {ray['start_s']:.1f} s",
                higher_is_better=False,
                extra=ray,
            )
        )
        rows.append(
            Row(
                f"warm 1-node cluster vs Ray {ray_version} JobSubmissionClient (median of {repeats})",
                tf_median,
                _median(ray["sdk_s"]),
                "s",
                "peer: in-process submit_job(working_dir) then get_job_status every 50 ms "
                f"until terminal (no CLI start, no log tail); ray {_spread(ray['sdk_s'])}",
                higher_is_better=False,
                extra={"sdk_s": ray["sdk_s"]},
            )
        )
    else:
        rows.append(
            Row(
                "Ray peer",
                None,
                None,
                "s",
                "ray not installed: pip install -r bench/requirements.txt",
            )
        )

    tp = tf["throughput"]
    req = tf["requests"]
    n = tp["count"]
    # "Until all are Completed": the last run's end_time_utc on the server's clock (the same
    # machine's clock as the first submit's time.time()). The SDK's wait loop notices it
    # later; that time is in the note. Without server timestamps, the client's figure.
    server_clock = "server_wall_s" in tp
    wall = tp["server_wall_s"] if server_clock else tp["wall_s"]
    rate = n / wall
    overhead = wall * 4 / n - script_s
    ok = tp["statuses"] == {"Completed": n}
    status_note = f"{n}/{n} Completed" if ok else f"statuses {tp['statuses']}"
    detail = (
        f"first submit -> last run Completed {wall:.1f} s (server's end_time_utc); the "
        f"wait_for_completion() loop returned {tp['wall_s'] - wall:.1f} s later "
        f"({tp['wall_s']:.1f} s, {n / tp['wall_s']:.2f} runs/s as the client saw it); "
        f"median created->Running {_median(tp['created_to_running_s']):.1f} s (queueing), "
        f"Running->ended {_median(tp['running_to_end_s']) * 1e3:.0f} ms, "
        f"node idle between runs {_median(tp['gaps_s']) * 1e3:.0f} ms"
        if server_clock
        else f"first submit -> all Completed {wall:.1f} s (client: the wait loop returned)"
    )
    rows += [
        Row(
            f"dispatch throughput, {n} runs on a warm 4-node cluster",
            rate,
            n / parallel_s,
            "runs/s",
            f"{status_note}; {detail}; peer: the same {n} python train.py, 4 at a time, "
            f"no scheduler ({parallel_s:.1f} s)",
            higher_is_better=True,
            extra=dict(tp),
        ),
        Row(
            f"submit rate, {n} submits back to back",
            n / tp["submit_s"],
            None,
            "submits/s",
            f"exp.submit() loop alone, {tp['submit_s']:.1f} s in all "
            f"({tp['submit_s'] / n * 1e3:.0f} ms each); the runs start while it goes on",
        ),
        Row(
            f"per-run overhead on 4 nodes ({n} runs)",
            overhead,
            None,
            "s",
            f"wall x 4 nodes / {n} ({wall * 4 / n:.3f} s) minus the script's own "
            f"runtime with python directly ({script_s:.3f} s)",
            higher_is_better=False,
        ),
        Row(
            f"one SDK request, kept-alive connection (median of {len(req['get_run_s'])})",
            _median(req["get_run_s"]),
            None,
            "s",
            f"GET of one run, everything idle ({_spread(req['get_run_s'])}); "
            f"wait_for_completion() on a run that already ended: "
            f"{_median(req['wait_ended_run_s']) * 1e3:.0f} ms (4 requests)",
            higher_is_better=False,
            extra=req,
        ),
        Row(
            "cluster create -> nodes idle (1 / 4 nodes)",
            tf["warm_1_s"],
            None,
            "s",
            f"4 nodes: {tf['warm_4_s']:.2f} s; not in any figure above",
            higher_is_better=False,
        ),
    ]
    return rows
