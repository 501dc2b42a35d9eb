"""Scoring a sklearn model: requests/s and p50/p99 latency at concurrency 10 and 64.

The same Ridge model (sklearn's diabetes data) served three ways in the same run:
- trainforge: registered, ``Model.deploy`` to a LocalWebservice (its uvicorn scoring
  process, ``POST /score`` with ``{"data": [[...]]}``);
- the peer: ``mlflow models serve --env-manager local`` of the same fitted model
  (``POST /invocations`` with ``{"inputs": [[...]]}``);
- the floor: a bare uvicorn app (Starlette) calling the same entry script's ``run()``;
- trainforge's AKS-style service: 2 replicas on a 2-node local cluster behind the control
  plane's scoring address (its router: auth, fewest-in-flight balancing, httpx to the
  replica), side by side with the LocalWebservice: what the one stable address costs.

One load generator (httpx, asyncio) sends every request of a level, after a warm-up, in
three rounds that take the servers in turn (a change of the machine's load falls on all
alike); any answer other than 200 makes the row failed. Each server is stopped by pid at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
from _common import Row, progress, quiet_call, trainforge_home

SCORE = """
    import json, os
    import joblib

    def init():
        global model
        model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.pkl"))

    def run(raw_data):
        return model.predict(json.loads(raw_data)["data"]).tolist()
"""

FLOOR = """
    import importlib.util, os, sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    os.environ["AZUREML_MODEL_DIR"] = sys.argv[2]
    spec = importlib.util.spec_from_file_location("score", sys.argv[1])
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    score.init()

    async def handle(request):
        body = (await request.body()).decode()
        return JSONResponse(await run_in_threadpool(score.run, body))

    app = Starlette(routes=[Route("/score", handle, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning", access_log=False)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_up(url: str, body: bytes, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


async def _load(url: str, body: bytes, concurrency: int, total: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[int] = []
    left = total
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                start = time.perf_counter()
                answer = await client.post(
                    url, content=body, headers={"Content-Type": "application/json"}
                )
                latencies.append(time.perf_counter() - start)
                if answer.status_code != 200:
                    failures.append(answer.status_code)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return {"latencies": latencies, "wall": wall, "failures": failures}


ROUNDS = 3


def _measure_all(
    targets: dict[str, tuple[str, bytes]], concurrency: int, total: int
) -> dict[str, dict[str, Any]]:
    """Each target's req/s, p50 and p99 over ROUNDS rounds that take the targets in turn,
    so that a change of the machine's load falls on all of them alike."""
    for url, body in targets.values():  # warm-up
        asyncio.run(_load(url, body, concurrency, min(200, total)))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(ROUNDS):
        for name, (url, body) in targets.items():
            runs[name].append(asyncio.run(_load(url, body, concurrency, total // ROUNDS)))
    results = {}
    for name, parts in runs.items():
        latencies = sorted(x for part in parts for x in part["latencies"])
        results[name] = {
            "rps": len(latencies) / sum(part["wall"] for part in parts),
            "p50": latencies[len(latencies) // 2],
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "failures": [f for part in parts for f in part["failures"]],
        }
    return results


def _stop(process: subprocess.Popen[bytes]) -> None:
    import psutil

    from trainforge import processes

    try:
        processes.stop_tree(psutil.Process(process.pid), grace=10.0)
    except psutil.Error:
        pass
    process.wait(30)


def _deploy_aks(ws: Any, model: Any, config: Any) -> Any:
    """The same model as an AKS-style service: 2 replicas, one per node of a 2-node local
    cluster (its node agents started by the bench's server), no auth (as the others)."""
    from trainforge.core.compute import AmlCompute, ComputeTarget
    from trainforge.core.model import Model
    from trainforge.core.webservice import AksWebservice

    cluster = quiet_call(
        ComputeTarget.create,
        ws,
        "bench-aks",
        AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", min_nodes=2, max_nodes=2),
    )
    deadline = time.monotonic() + 180
    while True:
        status = cluster.get_status()
        counts = status.node_state_counts if status is not None else None
        if counts is not None and counts.idle_node_count >= 2:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the bench cluster's 2 nodes did not come up within 180 s")
        time.sleep(0.5)
    service = quiet_call(
        Model.deploy,
        ws,
        "bench-aks",
        [model],
        config,
        AksWebservice.deploy_configuration(
            autoscale_enabled=False, num_replicas=2, auth_enabled=False
        ),
        deployment_target=cluster,
    )
    service.wait_for_deployment(timeout_sec=180)
    return service


def run(quick: bool = False) -> list[Row]:
    try:
        import joblib
        from sklearn.datasets import load_diabetes
        from sklearn.linear_model import Ridge
    except ImportError:
        return [Row("serving", None, None, "req/s", note="scikit-learn is not installed")]
    total = 1_500 if quick else 6_000
    work = Path(tempfile.mkdtemp(prefix="trainforge-bench-serving-"))
    started: list[subprocess.Popen[bytes]] = []
    rows: list[Row] = []
    try:
        X, y = load_diabetes(return_X_y=True)
        fitted = Ridge(alpha=0.4).fit(X, y)
        joblib.dump(fitted, work / "model.pkl")
        app = work / "app"
        app.mkdir()
        (app / "score.py").write_text(textwrap.dedent(SCORE))
        sample = X[:1].tolist()
        ours = json.dumps({"data": sample}).encode()

        # The peer: mlflow models serve of the same fitted model.
        peer_url = None
        try:
            import mlflow.sklearn

            # cloudpickle: the default (skops) needs a package mlflow-skinny does not bring.
            mlflow.sklearn.save_model(
                fitted, str(work / "mlflow-model"), serialization_format="cloudpickle"
            )
            port = _free_port()
            mlflow_bin = Path(sys.executable).with_name("mlflow")
            # Its console script, or the module where mlflow is on PYTHONPATH only.
            mlflow_cmd = (
                [str(mlflow_bin)] if mlflow_bin.exists() else [sys.executable, "-m", "mlflow"]
            )
            started.append(
                subprocess.Popen(
                    [
                        *mlflow_cmd,
                        "models",
                        "serve",
                        "-m",
                        str(work / "mlflow-model"),
                        "--env-manager",
                        "local",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    # mlflow starts `uvicorn` from PATH: the venv's.
                    env={
                        **os.environ,
                        "PATH": f"{mlflow_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                        "MLFLOW_TRACKING_URI": f"file://{work}/mlruns",
                    },
                )
            )
            peer_url = f"http://127.0.0.1:{port}/invocations"
            peer_body = json.dumps({"inputs": sample}).encode()
            _wait_up(peer_url, peer_body)
            progress("mlflow models serve is up")
        except Exception as exc:  # no full mlflow: the rows show trainforge alone
            progress(f"mlflow models serve is not available: {exc!r}")
            peer_url = None

        # The floor: a bare uvicorn app calling the same run().
        floor_dir = work / "floor-models"
        floor_dir.mkdir()
        shutil.copy2(work / "model.pkl", floor_dir / "model.pkl")
        (work / "floor.py").write_text(textwrap.dedent(FLOOR))
        floor_port = _free_port()
        started.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(work / "floor.py"),
                    str(app / "score.py"),
                    str(floor_dir),
                    str(floor_port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        floor_url = f"http://127.0.0.1:{floor_port}/score"
        _wait_up(floor_url, ours)

        with trainforge_home("serving"):
            from trainforge.core import Environment, InferenceConfig, Model, Workspace
            from trainforge.core.webservice import LocalWebservice

            ws = quiet_call(Workspace.create, "bench-serving", exist_ok=True, show_output=False)
            model = quiet_call(Model.register, ws, str(work / "model.pkl"), "diabetes-ridge")
            env = Environment("bench-serving")
            env.python.user_managed_dependencies = True
            config = InferenceConfig(
                entry_script="score.py", source_directory=str(app), environment=env
            )
            service = quiet_call(
                Model.deploy, ws, "bench", [model], config, LocalWebservice.deploy_configuration()
            )
            aks_service = None
            try:
                progress("trainforge LocalWebservice is up")
                aks_service = _deploy_aks(ws, model, config)
                progress("trainforge AKS-style service (2 replicas) is up")
                for concurrency in (10, 64):
                    targets = {"ours": (service.scoring_uri, ours), "floor": (floor_url, ours)}
                    targets["aks"] = (aks_service.scoring_uri, ours)
                    if peer_url:
                        targets["peer"] = (peer_url, peer_body)
                    measured = _measure_all(targets, concurrency, total)
                    ours_result, floor_result = measured["ours"], measured["floor"]
                    peer_result, aks_result = measured.get("peer"), measured["aks"]
                    failed = (
                        ours_result["failures"]
                        or floor_result["failures"]
                        or aks_result["failures"]
                        or (peer_result["failures"] if peer_result else [])
                    )
                    error = f"answers other than 200: {failed[:5]}" if failed else None
                    note = f"{total} requests of one row"
                    for key, unit, higher in (
                        ("rps", "req/s", True),
                        ("p50", "s", False),
                        ("p99", "s", False),
                    ):
                        rows.append(
                            Row(
                                f"serving c={concurrency} {key} vs mlflow models serve",
                                ours_result[key],
                                peer_result[key] if peer_result else None,
                                unit,
                                note=note,
                                higher_is_better=higher,
                                error=error,
                            )
                        )
                        rows.append(
                            Row(
                                f"serving c={concurrency} {key} AKS 2 replicas vs Local",
                                aks_result[key],
                                ours_result[key],
                                unit,
                                note="through the control plane's router, on a 2-node cluster",
                                higher_is_better=higher,
                                error=error,
                            )
                        )
                        rows.append(
                            Row(
                                f"serving c={concurrency} {key} vs bare uvicorn",
                                ours_result[key],
                                floor_result[key],
                                unit,
                                note="the floor: the same run() behind a bare Starlette app",
                                higher_is_better=higher,
                                error=error,
                            )
                        )
                    progress(
                        f"c={concurrency}: trainforge {ours_result['rps']:.0f} req/s (AKS "
                        f"{aks_result['rps']:.0f}), floor "
                        f"{floor_result['rps']:.0f}, mlflow "
                        f"{peer_result['rps'] if peer_result else float('nan'):.0f}"
                    )
            finally:
                service.delete()
                if aks_service is not None:
                    aks_service.delete()
    finally:
        for process in started:
            _stop(process)
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row.as_dict())
