"""Many runs logging at once: is every value stored, and what does the control plane keep up with?

Each of ``runs`` processes opens its own run and logs one metric at ``rate`` values/s for
``seconds`` (paced in 10 ms slices, as a training loop would), then flushes and completes.
Afterwards every run's metrics are read back and counted. The peer is MLflow's tracking
client with its async logging, one run per process, writing to one SQLite tracking store,
the self-hosted default a team gets from ``mlflow ui``: the same load in the same run.

Full size 20 runs x 1,000 values/s x 30 s (600,000 values); ``--quick`` 10 x 1,000 x 8 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import Row, progress, quiet_call, trainforge_home

METRIC = "load"

# One writer process: log `rate` values/s for `seconds` in 10 ms slices, then print a
# JSON line with its run id and how late it fell behind its schedule.
PACED_LOOP = """
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
total, per_slice = int(rate * seconds), max(1, rate // 100)
start = time.perf_counter()
i = 0
while i < total:
    due = start + i / rate
    now = time.perf_counter()
    if due > now:
        time.sleep(due - now)
    for _ in range(min(per_slice, total - i)):
        log(METRIC, float(i), step=i)
        i += 1
behind = max(0.0, time.perf_counter() - start - seconds)
"""

TRAINFORGE_WRITER = (
    textwrap.dedent(
        """
    import json, sys, time
    from trainforge.core import Experiment, Workspace
    ws = Workspace.get("bench-ws")
    run = Experiment(ws, "load").start_logging(snapshot_directory=None)
    log = run.log
    METRIC = "load"
    """
    )
    + PACED_LOOP
    + textwrap.dedent(
        """
    run.flush()
    run.complete()
    print(json.dumps({"run": run.id, "behind_s": behind}))
    """
    )
)

MLFLOW_WRITER = (
    textwrap.dedent(
        """
    import json, sys, time
    import mlflow
    mlflow.set_tracking_uri(sys.argv[3])
    mlflow.set_experiment("load")
    active = mlflow.start_run()
    METRIC = "load"
    def log(name, value, step):
        mlflow.log_metric(name, value, step=step, synchronous=False)
    """
    )
    + PACED_LOOP
    + textwrap.dedent(
        """
    errors = 0
    try:
        mlflow.flush_async_logging()
    except Exception:
        errors += 1
    mlflow.end_run()
    print(json.dumps({"run": active.info.run_id, "behind_s": behind, "errors": errors}))
    """
    )
)


def sizes(quick: bool) -> dict[str, float]:
    if quick:
        return {"runs": 10, "rate": 1_000, "seconds": 8}
    return {"runs": 20, "rate": 1_000, "seconds": 30}


def _writers(code: str, size: dict[str, float], extra: list[str]) -> tuple[float, list[dict]]:
    """Start every writer at once; wait for all; (seconds in all, their JSON lines)."""
    args = [str(int(size["rate"])), str(size["seconds"]), *extra]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(int(size["runs"]))
    ]
    deadline = start + size["seconds"] * 4 + 60
    reports = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()  # by its pid: this benchmark started it
            proc.communicate()
            reports.append({"failed": f"still writing {deadline - start:.0f} s after the start"})
            continue
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            reports.append({"failed": (err or out)[-400:]})
        else:
            reports.append(json.loads(lines[-1]))
    return time.perf_counter() - start, reports


def measure_trainforge(size: dict[str, float]) -> dict[str, Any]:
    from trainforge.core import Run, Workspace

    with trainforge_home("load"):
        ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
        elapsed, reports = _writers(TRAINFORGE_WRITER, size, [])
        stored = 0
        for report in reports:
            if "run" in report:
                values = Run.get(ws, report["run"]).get_metrics().get(METRIC, [])
                stored += len(values) if isinstance(values, list) else 1
    return {"elapsed_s": elapsed, "stored": stored, "reports": reports}


def measure_mlflow(size: dict[str, float]) -> dict[str, Any] | None:
    try:
        import mlflow
    except ImportError:
        return None
    with tempfile.TemporaryDirectory(prefix="mlflow-load-") as folder:
        uri = f"sqlite:///{Path(folder) / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("load")  # create the store once, before the writers race to
        elapsed, reports = _writers(MLFLOW_WRITER, size, [uri])
        client = mlflow.tracking.MlflowClient(uri)
        stored = sum(
            len(client.get_metric_history(report["run"], METRIC))
            for report in reports
            if "run" in report
        )
    return {"elapsed_s": elapsed, "stored": stored, "reports": reports}


def _note(result: dict[str, Any], expected: int) -> str:
    failed = [r["failed"] for r in result["reports"] if "failed" in r]
    behind = max((r.get("behind_s", 0.0) for r in result["reports"]), default=0.0)
    note = f"{result['stored']:,}/{expected:,} stored, slowest writer {behind:.1f} s behind"
    if failed:
        note += f", {len(failed)} writers failed ({failed[0].strip().splitlines()[-1]})"
    return note


def run(quick: bool = False) -> list[Row]:
    size = sizes(quick)
    runs, rate, seconds = int(size["runs"]), int(size["rate"]), size["seconds"]
    expected = int(runs * rate * seconds)
    label = f"{runs} runs x {rate:,} values/s x {seconds:g} s at once"
    progress(f"trainforge: {label}")
    tf = measure_trainforge(size)
    progress(f"MLflow (async, SQLite store): {label}")
    ml = measure_mlflow(size)
    tf_rate = tf["stored"] / tf["elapsed_s"]
    ml_rate = ml["stored"] / ml["elapsed_s"] if ml else None
    note = f"trainforge {_note(tf, expected)}; " + (
        f"MLflow {_note(ml, expected)}" if ml else "MLflow not installed"
    )
    error = None if tf["stored"] == expected else f"{tf['stored']:,} of {expected:,} stored"
    return [Row(f"stored under load, {label}", tf_rate, ml_rate, "values/s", note, error=error)]
