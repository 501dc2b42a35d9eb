"""The sweep's steps on a real store (SQLite and PostgreSQL, migrated), with the clock in the
test's hands."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.inprocess import DATABASES, database_url
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.schemas.runs import MetricBatch, MetricPoint, RunStatus
from trainforge.schemas.sweeps import SweepCreate
from trainforge.server.services import metrics, run_states, sweeps
from trainforge.server.services.runs import RunService
from trainforge.server.services.sweep_progress import advance
from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.store.models import utcnow
from trainforge.server.store.sweeps import Sweep


@pytest.fixture(params=DATABASES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = Store(database_url(str(request.param), tmp_path, request))
    yield opened
    opened.close()


def _sweep(store: Store, **options) -> str:  # type: ignore[no-untyped-def]
    request = SweepCreate.model_validate(
        {
            "generator_config": {
                "name": "RANDOM",
                "parameter_space": {"lr": ["uniform", [0, 1]]},
                "properties": {"rngSeed": 3},
            },
            "primary_metric_config": {"name": "acc", "goal": "maximize"},
            "definition": {"script": "train.py", "arguments": ["--epochs", "2"]},
            "snapshot_id": "snap",
            **options,
        }
    )
    with store.session() as db:
        ws = models.Workspace(
            id=str(uuid.uuid4()),
            name="ws-" + uuid.uuid4().hex[:6],
            subscription_id="s",
            resource_group="rg",
            location="local",
        )
        db.add(ws)
        db.flush()
        return sweeps.create(db, RunService(), ws, "exp", request).id


def _run(db: Session, run_id: str) -> models.Run:
    """The run of that id (the ids of these tests are unique on the server)."""
    return db.scalars(select(models.Run).where(models.Run.id == run_id)).one()


def _sweep_row(db: Session, run_id: str) -> Sweep:
    return db.scalars(select(Sweep).where(Sweep.run_id == run_id)).one()


def _step(store: Store, run_id: str, later: timedelta = timedelta(0)) -> list[str]:
    with store.session() as db:
        return advance(db, RunService(), _sweep_row(db, run_id), utcnow() + later).lines


def _children(store: Store, run_id: str) -> list[tuple[str, str]]:
    with store.reading() as db:
        rows = db.query(models.Run).filter(models.Run.parent_run_id == run_id).all()
        return sorted((row.id, row.status) for row in rows)


def _end(store: Store, run_id: str, status: RunStatus) -> None:
    with store.session() as db:
        run = _run(db, run_id)
        run_states.transition(run, RunStatus.RUNNING)
        run_states.transition(run, status)


def test_budgets_hold_at_every_step(store: Store) -> None:
    hd = _sweep(store, max_total_runs=5, max_concurrent_runs=2)
    _step(store, hd)
    for _ in range(10):
        children = _children(store, hd)
        active = [rid for rid, status in children if not RunStatus(status).is_terminal]
        assert len(active) <= 2 and len(children) <= 5
        if not active:
            break
        _end(store, active[0], RunStatus.COMPLETED)
        _step(store, hd)
    assert len(_children(store, hd)) == 5
    with store.session() as db:
        parent = _run(db, hd)
        assert parent.status == "Completed"
        assert _sweep_row(db, hd).state == "done"
        definition = _run(db, f"{hd}_0").definition
        assert (
            definition["arguments"][:2] == ["--epochs", "2"]
            and definition["arguments"][2] == "--lr"
        )


def test_max_duration_cancels_the_sweep_and_its_children(store: Store) -> None:
    hd = _sweep(store, max_total_runs=4, max_concurrent_runs=2, max_duration_minutes=1)
    _step(store, hd)
    assert [status for _, status in _children(store, hd)] == ["Queued", "Queued"]
    lines = _step(store, hd, later=timedelta(minutes=1, seconds=1))
    assert any("max_duration_minutes=1 reached" in line for line in lines)
    with store.reading() as db:
        assert _run(db, hd).status == "Canceled"
        for child_id, status in _children(store, hd):
            assert status == "Canceled"
            error = _run(db, child_id).error
            assert error["code"] == "HyperDriveMaxDuration"
            assert "max_duration_minutes=1" in error["message"]


def test_a_sweep_whose_first_children_all_fail_fails(store: Store) -> None:
    hd = _sweep(store, max_total_runs=20, max_concurrent_runs=5)
    _step(store, hd)
    for child_id, _ in _children(store, hd):
        _end(store, child_id, RunStatus.FAILED)
    lines = _step(store, hd)
    assert any("first 5 child runs all failed" in line for line in lines)
    with store.session() as db:
        parent = _run(db, hd)
        assert (
            parent.status == "Failed" and "first 5 child runs all failed" in parent.error["message"]
        )
    assert len(_children(store, hd)) == 5


def test_a_sweep_whose_cluster_is_gone_fails_with_the_reason(store: Store) -> None:
    with store.session() as db:
        ws = models.Workspace(
            id=str(uuid.uuid4()),
            name="ws-cluster",
            subscription_id="s",
            resource_group="rg",
            location="local",
        )
        compute = models.Compute(
            id=str(uuid.uuid4()),
            workspace_id=ws.id,
            name="cpu",
            compute_type="AmlCompute",
            backend="local",
            vm_size="STANDARD_D2_V2",
            vm_priority="dedicated",
            min_nodes=0,
            max_nodes=2,
            idle_seconds_before_scaledown=60,
            tags={},
            settings={},
            provisioning_state="Succeeded",
        )
        db.add(ws)
        db.flush()
        db.add(compute)
        db.flush()
        request = SweepCreate.model_validate(
            {
                "generator_config": {
                    "name": "GRID",
                    "parameter_space": {"lr": ["choice", [[1, 2, 3]]]},
                },
                "primary_metric_config": {"name": "acc", "goal": "maximize"},
                "definition": {"script": "train.py", "target": "cpu"},
                "snapshot_id": "snap",
                "max_total_runs": 3,
                "max_concurrent_runs": 1,
            }
        )
        hd = sweeps.create(db, RunService(), ws, "exp", request).id
    _step(store, hd)
    first = _children(store, hd)[0][0]
    with store.session() as db:
        db.delete(db.get(models.Compute, compute.id))
    _end(store, first, RunStatus.COMPLETED)
    lines = _step(store, hd)
    assert any(
        "could not create child run 1: definition.target: compute target 'cpu' not found" in line
        for line in lines
    )
    with store.session() as db:
        parent = _run(db, hd)
        assert (
            parent.status == "Failed"
            and "compute target 'cpu' not found" in parent.error["message"]
        )


def _log(store: Store, run_id: str, name: str, value: float) -> None:
    with store.session() as db:
        batch = MetricBatch(batch_id=uuid.uuid4().hex, points=[MetricPoint(name=name, value=value)])
        metrics.add_batch(db, _run(db, run_id), batch)


def test_a_trial_that_reports_each_interval_first_does_not_escape(store: Store) -> None:
    """The issue's grid: 8 learning curves, 4 at a time, Bandit; the worst of the four
    running logs every interval a little before the others, each value seen by a step."""
    ceilings = [0.5, 0.9, 0.3, 0.95, 0.6, 0.85, 0.4, 0.7]
    hd = _sweep(
        store,
        generator_config={
            "name": "GRID",
            "parameter_space": {"--ceiling": ["choice", [ceilings]]},
        },
        policy_config={
            "name": "Bandit",
            "properties": {"slack_factor": 0.2, "evaluation_interval": 1, "delay_evaluation": 2},
        },
        max_total_runs=8,
        max_concurrent_runs=4,
    )
    _step(store, hd)
    first = [run_id for run_id, _ in _children(store, hd)]
    assert len(first) == 4
    with store.session() as db:
        for run_id in first:
            run_states.transition(_run(db, run_id), RunStatus.RUNNING)
    curve = {f"{hd}_{i}": ceilings[i] for i in range(4)}
    worst = f"{hd}_2"
    order = [worst] + [run_id for run_id in sorted(curve) if run_id != worst]
    for n in range(1, 7):
        for run_id in order:
            with store.session() as db:
                if _run(db, run_id).status != "Running":
                    continue
            _log(store, run_id, "acc", curve[run_id] * n / 6)
            _step(store, hd)
    statuses = dict(_children(store, hd))
    assert statuses[worst] != "Running", "the worst trial escaped the policy"
    with store.session() as db:
        error = _run(db, worst).error
        assert error["code"] == "EarlyTermination"
        assert error["message"].startswith("BanditPolicy canceled the run at interval 2")
    assert statuses[f"{hd}_3"] == "Running"  # the best one goes on
