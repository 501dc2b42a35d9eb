"""Listing runs at scale: the runs list API of one workspace holding 100,000 runs, next to
MLflow's ``search_runs`` over the same runs on a SQLite store.

Generator: N runs (two tags each: ``team`` one of 5 values, ``seed`` unique; one property;
statuses Completed / Failed / Canceled, 1 in 10 Running; created one second apart) are
written straight into each store in bulk: trainforge's ``trainforge.db`` (under a running
control plane, whose listings then read them) and MLflow's SQLite tracking store (the
same runs: tags as tags, the property as a param, the same statuses and times). Writing
them one REST call at a time would measure submission, not listing.

Measured (p50 and p90 of R requests after one warm-up, each over the wire of a real
server: trainforge's REST API through the typed client, MLflow's ``MlflowClient.
search_runs`` against the SQLite store in this process, which is MLflow's fastest path):
  * the first page of 100 runs, newest first;
  * 100 runs with a tag filter (``team = vision``: a fifth of the runs);
  * 100 runs with a status filter (Running: a tenth);
  * the 50th page of 100 (cursor / page token, followed from the first);
  * trainforge only (MLflow's side is not generated yet): 100 runs with a metric threshold
    (``filter=metrics.accuracy > 0.9``: the last of each run's 3 accuracy points, above
    0.9 for a tenth of the runs), one that no run meets (every run probed: the worst
    case), and the first page with the accuracy column
    (``metric=accuracy``, the studio's chosen column); the first page sorted by the
    metric, best first (``order_by=metrics.accuracy desc``, the studio's click on that
    column's header), alone and with an ``or`` filter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import Row, progress, quiet_call, timed, trainforge_home

TEAMS = ["vision", "speech", "nlp", "rl", "tabular"]
PAGE = 100
DEEP_PAGE = 50


def sizes(quick: bool) -> dict[str, int]:
    return {"runs": 10_000, "repeats": 15} if quick else {"runs": 100_000, "repeats": 30}


def _status(i: int) -> str:
    if i % 10 == 0:
        return "Running"
    return ("Completed", "Completed", "Failed", "Canceled")[i % 4]


def _accuracy(i: int) -> float:
    """Run i's last accuracy: above 0.9 for one run in ten."""
    return (i % 10) / 10 + 0.05


def _start(n: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) - timedelta(seconds=n)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def _sample(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    fn()  # warm-up: connections, caches, query plans
    return _percentiles([timed(fn)[0] for _ in range(repeats)])


# -- trainforge ---------------------------------------------------------------------------
def generate_trainforge(home: Any, workspace: Any, experiment: Any, n: int) -> float:
    """Insert ``n`` runs of ``experiment`` into the server's store in bulk; seconds taken."""
    from sqlalchemy import insert, text, update

    from trainforge.schemas.runs import RunDefinition
    from trainforge.server.store import models
    from trainforge.server.store.database import make_engine

    engine = make_engine(f"sqlite:///{home / 'trainforge.db'}")
    definition = RunDefinition(script="train.py", arguments=["--lr", "0.01"]).model_dump(
        mode="json"
    )
    start = _start(n)
    began = time.perf_counter()
    with engine.begin() as db:
        ws_id = db.scalar(
            models.Workspace.__table__.select()
            .with_only_columns(models.Workspace.id)
            .where(models.Workspace.name == workspace.name)
        )
        for chunk in range(0, n, 10_000):
            rows = []
            for i in range(chunk, min(n, chunk + 10_000)):
                created = start + timedelta(seconds=i)
                status = _status(i)
                rows.append(
                    {
                        "id": f"{experiment.name}_{1700000000 + i}_{i:08x}",
                        "workspace_id": ws_id,
                        "experiment_id": experiment.id,
                        "number": i + 1,
                        "kind": "script",
                        "run_type": "azureml.scriptrun",
                        "status": status,
                        "parent_run_id": None,
                        "display_name": None,
                        "description": None,
                        "target": "cpu-cluster",
                        "definition": definition,
                        "snapshot_id": None,
                        "tags": {"team": TEAMS[i % len(TEAMS)], "seed": str(i)},
                        "properties": {"azureml.runsource": "experiment"},
                        "error": None,
                        "warnings": [],
                        "attempt": 1,
                        "priority": 0,
                        "submitted_by": "bench",
                        "created": created,
                        "started": created + timedelta(seconds=1),
                        "ended": None if status == "Running" else created + timedelta(seconds=60),
                    }
                )
            db.execute(insert(models.Run), rows)
            db.execute(
                insert(models.Metric),
                [
                    {
                        "workspace_id": ws_id,
                        "run_id": row["id"],
                        "name": "accuracy",
                        "kind": "scalar",
                        "step": step,
                        "value": value,
                        "description": "",
                        "time": 0.0,
                        "attempt": 1,
                    }
                    for row in rows
                    for step, value in enumerate((0.1, 0.2, _accuracy(row["number"] - 1)))
                ],
            )
        # Each run's last value, as the server keeps it with every batch (and as migration
        # 0076 backfills it): the highest id of each (run, name).
        db.execute(
            text(
                "INSERT INTO metric_last_values (workspace_id, run_id, name, metric_id, value,"
                " number) SELECT workspace_id, run_id, name, id, value, CAST(value AS REAL)"
                " FROM metrics WHERE id IN (SELECT max(id) FROM metrics WHERE workspace_id ="
                " :ws GROUP BY run_id, name)"
            ),
            {"ws": ws_id},
        )
        db.execute(
            update(models.Experiment)
            .where(models.Experiment.id == experiment.id)
            .values(run_counter=n)
        )
    engine.dispose()
    return time.perf_counter() - began


def measure_trainforge(n: int, repeats: int) -> dict[str, Any]:
    from trainforge.client.api import api
    from trainforge.client.api.runs import RunsApi
    from trainforge.core import Experiment, Workspace

    with trainforge_home("runs-list") as home:
        ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
        experiment = Experiment(ws, "bench")
        progress(f"trainforge: generating {n:,} runs")
        generate_s = generate_trainforge(home, ws, experiment, n)
        runs = api(ws, RunsApi)
        first = runs.page(experiment="bench", limit=PAGE)
        if len(first.runs) != PAGE or first.next_cursor is None:
            raise RuntimeError(f"trainforge listed {len(first.runs)} runs, expected {PAGE}")
        vision = runs.page(experiment="bench", tags={"team": "vision"}, limit=PAGE)
        if not all(r.tags["team"] == "vision" for r in vision.runs) or len(vision.runs) != PAGE:
            raise RuntimeError("trainforge's tag filter gave other runs")

        cursor: str | None = None
        for _ in range(DEEP_PAGE - 1):
            cursor = runs.page(experiment="bench", limit=PAGE, cursor=cursor).next_cursor
        deep_ids = [r.run_id for r in runs.page(experiment="bench", limit=PAGE, cursor=cursor).runs]
        expected = [f"bench_{1700000000 + i}_{i:08x}" for i in range(n - 1, -1, -1)]
        if deep_ids != expected[(DEEP_PAGE - 1) * PAGE : DEEP_PAGE * PAGE]:
            raise RuntimeError("trainforge's 50th page is not the 50th hundred runs")
        above = runs.page(experiment="bench", filter=["metrics.accuracy > 0.9"], limit=PAGE)
        if len(above.runs) != PAGE or not all(r.number % 10 == 0 for r in above.runs):
            raise RuntimeError("trainforge's metric filter gave other runs")
        best = runs.page(
            experiment="bench", order_by="metrics.accuracy desc", metric=["accuracy"], limit=PAGE
        )
        if [best.metrics[r.run_id]["accuracy"] for r in best.runs] != [_accuracy(9)] * PAGE:
            raise RuntimeError("trainforge's metric sort did not put the best runs first")
        shown = runs.page(experiment="bench", metric=["accuracy"], limit=PAGE)
        if shown.metrics[shown.runs[0].run_id] != {"accuracy": _accuracy(n - 1)}:
            raise RuntimeError("trainforge's metric column is not the last value")
        progress("trainforge: timing the list API")
        return {
            "generate_s": generate_s,
            "first": _sample(lambda: runs.page(experiment="bench", limit=PAGE), repeats),
            "tag": _sample(
                lambda: runs.page(experiment="bench", tags={"team": "vision"}, limit=PAGE),
                repeats,
            ),
            "status": _sample(
                lambda: runs.page(experiment="bench", status="Running", limit=PAGE), repeats
            ),
            "deep": _sample(
                lambda: runs.page(experiment="bench", limit=PAGE, cursor=cursor), repeats
            ),
            "metric": _sample(
                lambda: runs.page(
                    experiment="bench", filter=["metrics.accuracy > 0.9"], limit=PAGE
                ),
                repeats,
            ),
            # The worst case: a threshold no run meets probes every run of the experiment.
            "no-match": _sample(
                lambda: runs.page(experiment="bench", filter=["metrics.accuracy > 2"], limit=PAGE),
                repeats,
            ),
            "column": _sample(
                lambda: runs.page(experiment="bench", metric=["accuracy"], limit=PAGE), repeats
            ),
            # The studio's click on the metric column's header: best first, with the column.
            "sort": _sample(
                lambda: runs.page(
                    experiment="bench",
                    order_by="metrics.accuracy desc",
                    metric=["accuracy"],
                    limit=PAGE,
                ),
                repeats,
            ),
            "sort-threshold": _sample(
                lambda: runs.page(
                    experiment="bench",
                    order_by="metrics.accuracy desc",
                    filter=["metrics.accuracy > 0.5 or tags.team = vision"],
                    limit=PAGE,
                ),
                repeats,
            ),
        }


# -- MLflow -------------------------------------------------------------------------------
@contextlib.contextmanager
def _mlflow_store() -> Iterator[tuple[Any, str, str]]:
    folder = tempfile.mkdtemp(prefix="trainforge-bench-mlflow-runs-")
    try:
        yield __import__("mlflow"), f"sqlite:///{os.path.join(folder, 'mlflow.db')}", folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def generate_mlflow(client: Any, url: str, n: int) -> tuple[str, float]:
    """The same ``n`` runs in MLflow's store, in bulk; (experiment id, seconds taken)."""
    from mlflow.store.tracking.dbmodels import models as ml
    from sqlalchemy import create_engine, insert

    experiment_id = client.create_experiment("bench")
    engine = create_engine(url)
    start = _start(n)
    began = time.perf_counter()
    mlflow_status = {
        "Running": "RUNNING",
        "Completed": "FINISHED",
        "Failed": "FAILED",
        "Canceled": "KILLED",
    }
    with engine.begin() as db:
        for chunk in range(0, n, 10_000):
            runs, tags, params = [], [], []
            for i in range(chunk, min(n, chunk + 10_000)):
                run_uuid = uuid.UUID(int=i).hex
                millis = int((start + timedelta(seconds=i)).timestamp() * 1000)
                status = _status(i)
                runs.append(
                    {
                        "run_uuid": run_uuid,
                        "name": f"run-{i}",
                        "source_type": "LOCAL",
                        "source_name": "train.py",
                        "entry_point_name": "",
                        "user_id": "bench",
                        "status": mlflow_status[status],
                        "start_time": millis,
                        "end_time": None if status == "Running" else millis + 60_000,
                        "source_version": "",
                        "lifecycle_stage": "active",
                        "artifact_uri": f"/tmp/mlflow-artifacts/{run_uuid}",
                        "experiment_id": int(experiment_id),
                    }
                )
                tags += [
                    {"run_uuid": run_uuid, "key": "team", "value": TEAMS[i % len(TEAMS)]},
                    {"run_uuid": run_uuid, "key": "seed", "value": str(i)},
                ]
                params.append({"run_uuid": run_uuid, "key": "runsource", "value": "experiment"})
            db.execute(insert(ml.SqlRun), runs)
            db.execute(insert(ml.SqlTag), tags)
            db.execute(insert(ml.SqlParam), params)
    engine.dispose()
    return experiment_id, time.perf_counter() - began


def measure_mlflow(n: int, repeats: int) -> dict[str, Any] | None:
    try:
        import mlflow  # noqa: F401
        from mlflow.tracking import MlflowClient
    except ImportError:
        return None
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    with _mlflow_store() as (_, url, _folder):
        client = MlflowClient(tracking_uri=url)
        progress(f"MLflow: generating {n:,} runs")
        experiment_id, generate_s = generate_mlflow(client, url, n)
        ids = [experiment_id]

        def search(**kwargs: Any) -> Any:
            return client.search_runs(
                ids, max_results=PAGE, order_by=["attributes.start_time DESC"], **kwargs
            )

        first = search()
        if len(first) != PAGE:
            raise RuntimeError(f"MLflow listed {len(first)} runs, expected {PAGE}")
        token = None
        for _ in range(DEEP_PAGE - 1):
            token = search(page_token=token).token
        progress("MLflow: timing search_runs")
        return {
            "generate_s": generate_s,
            "first": _sample(search, repeats),
            "tag": _sample(lambda: search(filter_string="tags.team = 'vision'"), repeats),
            "status": _sample(
                lambda: search(filter_string="attributes.status = 'RUNNING'"), repeats
            ),
            "deep": _sample(lambda: search(page_token=token), repeats),
        }


def run(quick: bool = False) -> list[Row]:
    counts = sizes(quick)
    n, repeats = counts["runs"], counts["repeats"]
    tf = measure_trainforge(n, repeats)
    ml = measure_mlflow(n, repeats)
    labels = {
        "first": "first page",
        "tag": "tag filter (team = vision)",
        "status": "status filter (Running)",
        "deep": f"page {DEEP_PAGE} by cursor",
        "metric": "metric threshold (accuracy > 0.9)",
        "no-match": "metric threshold no run meets (accuracy > 2)",
        "column": "first page with a metric column",
        "sort": "sorted by the metric, best first (order_by=metrics.accuracy desc)",
        "sort-threshold": "sorted by the metric, filtered with or (accuracy > 0.5 or team)",
    }
    rows = []
    for key, label in labels.items():
        tf_p50, tf_p90 = tf[key]
        note = f"trainforge p90 {tf_p90 * 1e3:.1f} ms"
        peer = None
        if key in ("metric", "no-match", "column", "sort", "sort-threshold"):
            note += "; MLflow's side not generated yet"
        elif ml is not None:
            peer, ml_p90 = ml[key]
            note += f", MLflow search_runs p90 {ml_p90 * 1e3:.1f} ms"
        else:
            note += "; MLflow not installed (pip install -r bench/requirements.txt)"
        rows.append(
            Row(
                f"runs list p50, {n:,} runs, {PAGE} per page: {label}",
                tf_p50,
                peer,
                "s",
                note,
                higher_is_better=False,
                extra={"trainforge_p90": tf_p90},
            )
        )
    generated = f"generated in bulk: trainforge {tf['generate_s']:.1f} s"
    if ml is not None:
        generated += f", MLflow {ml['generate_s']:.1f} s"
    rows[0].note += f"; {generated}"
    return rows
