"""run.log throughput: trainforge next to MLflow's log_metric on a local sqlite store.

trainforge: ``run.log`` N scalars in one interactive run, then ``run.flush()``; the figure
is N / (time of the log calls + flush), and ``run.get_metrics()`` must give back exactly N.

MLflow, in the same process, one run, sqlite backend in a temp folder:
  * synchronous ``mlflow.log_metric``: slow per call, so a smaller count, reported as
    values/s (and extrapolated to N for the time-in-calls row);
  * asynchronous ``log_metric(..., synchronous=False)`` + ``mlflow.flush_async_logging()``
    as shipped (every call is its own batch on a 10-thread pool): smaller count too;
  * asynchronous with ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1`` (the queue merges calls
    into batches of up to 1,000): the full N.
Each MLflow mode logs its own metric key and is checked with ``get_metric_history``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from typing import Any

from _common import Row, progress, quiet_call, timed, trainforge_home

METRIC = "m"


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"n": 10_000, "mlflow_sync": 500, "mlflow_async": 500, "mlflow_buffered": 10_000}
    return {"n": 100_000, "mlflow_sync": 2_000, "mlflow_async": 2_000, "mlflow_buffered": 100_000}


# -- trainforge ---------------------------------------------------------------------------


def measure_trainforge(n: int) -> dict[str, Any]:
    from trainforge.core import Experiment, Workspace

    with trainforge_home("metrics"):
        server_start_s, ws = timed(quiet_call, Workspace.create, "bench-ws", exist_ok=True)
        exp = Experiment(ws, "bench")
        run = exp.start_logging(snapshot_directory=None)
        try:
            log = run.log
            start = time.perf_counter()
            for i in range(n):
                log(METRIC, float(i), step=i)
            calls_done = time.perf_counter()
            run.flush()
            stored_at = time.perf_counter()
            read_s, metrics = timed(run.get_metrics)
        finally:
            run.complete()
    values = metrics.get(METRIC, [])
    if not isinstance(values, list):  # one value comes back as a scalar, as in the SDK
        values = [values]
    return {
        "n": n,
        "calls_s": calls_done - start,
        "total_s": stored_at - start,
        "stored": len(values),
        "exact": len(values) == n and sorted(values) == [float(i) for i in range(n)],
        "read_s": read_s,
        "server_start_s": server_start_s,
    }


# -- MLflow -------------------------------------------------------------------------------


def _mlflow_loop(mlflow: Any, key: str, n: int, synchronous: bool) -> tuple[float, float]:
    """(seconds in the log calls, seconds until everything is stored)."""
    log_metric = mlflow.log_metric
    start = time.perf_counter()
    for i in range(n):
        log_metric(key, float(i), step=i, synchronous=synchronous)
    calls_done = time.perf_counter()
    if not synchronous:
        mlflow.flush_async_logging()
    return calls_done - start, time.perf_counter() - start


def measure_mlflow(counts: dict[str, int]) -> dict[str, Any]:
    import mlflow
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    tmp = tempfile.mkdtemp(prefix="trainforge-bench-mlflow-")
    previous_buffering = os.environ.pop("MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS", None)
    try:
        uri = f"sqlite:///{tmp}/mlflow.db"
        mlflow.set_tracking_uri(uri)
        experiment_id = mlflow.create_experiment(
            "bench", artifact_location=f"file://{tmp}/artifacts"
        )
        mlflow.set_experiment(experiment_id=experiment_id)
        results: dict[str, Any] = {"backend": "sqlite", "version": mlflow.__version__}
        with mlflow.start_run() as active:
            run_id = active.info.run_id
            # Warm-up: the first calls create the run's rows and load the store's code paths.
            for i in range(20):
                mlflow.log_metric("warmup", float(i), step=i)
            mlflow.log_metric("warmup_async", 0.0, step=0, synchronous=False)
            mlflow.flush_async_logging()

            modes = [
                ("sync", "m_sync", counts["mlflow_sync"], True, None),
                ("async", "m_async", counts["mlflow_async"], False, None),
                ("buffered", "m_buffered", counts["mlflow_buffered"], False, "1"),
            ]
            for mode, key, n, synchronous, buffering in modes:
                progress(f"MLflow {mode}: {n:,} log_metric calls")
                if buffering is not None:
                    os.environ["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = buffering
                try:
                    calls_s, total_s = _mlflow_loop(mlflow, key, n, synchronous)
                finally:
                    os.environ.pop("MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS", None)
                results[mode] = {"n": n, "calls_s": calls_s, "total_s": total_s}
        client = MlflowClient(tracking_uri=uri)
        for mode, key, n, _, _ in modes:
            read_s, history = timed(client.get_metric_history, run_id, key)
            results[mode]["stored"] = len(history)
            results[mode]["exact"] = len(history) == n and sorted(m.value for m in history) == [
                float(i) for i in range(n)
            ]
            results[mode]["read_s"] = read_s
        return results
    finally:
        if previous_buffering is not None:
            os.environ["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = previous_buffering
        shutil.rmtree(tmp, ignore_errors=True)


# -- rows ---------------------------------------------------------------------------------


def _stored_note(stored: int, n: int, exact: bool) -> str:
    if exact:
        return f"{stored:,}/{n:,} stored"
    return f"MISMATCH: {stored:,} stored of {n:,}"


MODE_LABEL = {
    "sync": "MLflow sync",
    "async": "MLflow async (default)",
    "buffered": "MLflow async, buffered 1 s",
}


def run(quick: bool = False) -> list[Row]:
    counts = sizes(quick)
    n = counts["n"]
    progress(f"trainforge: run.log x {n:,} + flush")
    tf = measure_trainforge(n)
    tf_rate = n / tf["total_s"]
    tf_note = (
        f"{_stored_note(tf['stored'], n, tf['exact'])} "
        f"(calls {tf['calls_s']:.2f} s + flush {tf['total_s'] - tf['calls_s']:.2f} s)"
    )
    rows: list[Row] = []
    try:
        import mlflow  # noqa: F401
    except ImportError:
        rows.append(
            Row(
                f"log throughput, {n:,} values (log + flush)",
                tf_rate,
                None,
                "values/s",
                f"trainforge {tf_note}; MLflow not installed (pip install -r bench/requirements.txt)",
            )
        )
        rows.append(
            Row(
                f"time inside run.log, {n:,} values",
                tf["calls_s"],
                None,
                "s",
                "",
                higher_is_better=False,
            )
        )
        return rows

    ml = measure_mlflow(counts)
    for mode in ("sync", "async", "buffered"):
        m = ml[mode]
        rate = m["n"] / m["total_s"]
        scaled = "" if m["n"] == n else f", MLflow on {m['n']:,} calls"
        rows.append(
            Row(
                f"log throughput vs {MODE_LABEL[mode]}",
                tf_rate,
                rate,
                "values/s",
                f"tf {tf_note}; MLflow {_stored_note(m['stored'], m['n'], m['exact'])}{scaled}",
                extra={"trainforge": tf, "mlflow": m},
            )
        )
    for mode in ("sync", "async", "buffered"):
        m = ml[mode]
        per_call = m["calls_s"] / m["n"]
        peer_total = per_call * n
        how = "measured" if m["n"] == n else f"extrapolated from {m['n']:,} calls"
        rows.append(
            Row(
                f"time in log calls, {n:,} values, vs {MODE_LABEL[mode]}",
                tf["calls_s"],
                peer_total,
                "s",
                f"per call {tf['calls_s'] / n * 1e6:.2f} µs vs {per_call * 1e6:,.0f} µs; "
                f"MLflow {how}",
                higher_is_better=False,
                extra={"trainforge_per_call_s": tf["calls_s"] / n, "mlflow_per_call_s": per_call},
            )
        )
    b = ml["buffered"]
    rows.append(
        Row(
            f"read back {n:,} values: get_metrics vs get_metric_history",
            tf["read_s"],
            b["read_s"] * (n / b["n"]) if b["n"] else None,
            "s",
            "MLflow: the buffered series"
            + ("" if b["n"] == n else f" ({b['n']:,} values, scaled)"),
            higher_is_better=False,
        )
    )
    progress(
        f"metrics done (trainforge server start {tf['server_start_s']:.2f} s, "
        f"MLflow {ml['version']} {ml['backend']})"
    )
    for row in rows:
        row.extra.setdefault("mlflow_version", ml["version"])
    return rows
