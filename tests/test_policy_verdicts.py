"""A HyperDrive trial hears its early termination policy's verdict in the answer to the
metrics batch that brought the judged value, and ``run.log``'s sender acts on it at once."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers import wait_until
from tests.inprocess import TOKEN, Api, InProcessTransport, api_fixture  # noqa: F401
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.client.metrics import MetricsSender
from trainforge.schemas.runs import RunStatus
from trainforge.server.services import run_states
from trainforge.server.store import models

SWEEP = {
    "generator_config": {
        "name": "GRID",
        "parameter_space": {"--ceiling": ["choice", [[0.9, 0.3]]]},
    },
    "primary_metric_config": {"name": "acc", "goal": "maximize"},
    "policy_config": {
        "name": "Bandit",
        "properties": {"slack_factor": 0.2, "evaluation_interval": 1, "delay_evaluation": 0},
    },
    "max_total_runs": 2,
    "max_concurrent_runs": 2,
    "definition": {"script": "train.py", "target": "local"},
    "snapshot_id": "snap",
}


def _running_trials(api: Api, ws: str, run_id: str | None = None) -> tuple[str, list[str]]:
    """A Bandit sweep of two trials (ceilings 0.9 and 0.3), both Running."""
    body = {**SWEEP, "run_id": run_id} if run_id else SWEEP
    hd = api.call("POST", f"/workspaces/{ws}/experiments/exp/sweeps", json=body)["run_id"]
    api.plane.sweeper.tick()
    trials = [f"{hd}_0", f"{hd}_1"]
    with api.plane.store.session() as db:
        workspace = db.query(models.Workspace).filter(models.Workspace.name == ws).one()
        children = db.query(models.Run).filter(
            models.Run.workspace_id == workspace.id, models.Run.parent_run_id == hd
        )
        for run in children:
            run_states.transition(run, RunStatus.RUNNING)
    return hd, trials


def _post(api: Api, ws: str, run_id: str, **point: Any) -> dict[str, Any]:
    body = {"batch_id": uuid.uuid4().hex, "points": [point]}
    return dict(api.call("POST", f"/workspaces/{ws}/runs/{run_id}/metrics:batch", json=body))


def test_the_answer_to_a_trials_batch_carries_the_policys_verdict(api: Api) -> None:
    ws = api.workspace("ws-verdict")
    _, (good, bad) = _running_trials(api, ws)
    first = _post(api, ws, good, name="acc", value=0.9)
    assert first["judged_metric"] == "acc" and first["verdict"] is None
    # Another metric is not judged: no verdict yet, and the judged name is said.
    other = _post(api, ws, bad, name="loss", value=1.0)
    assert other["judged_metric"] == "acc" and other["verdict"] is None
    # The bad trial's first value is judged before the answer: Bandit cancels it there.
    judged = _post(api, ws, bad, name="acc", value=0.3)
    assert judged["verdict"]["cancel"] is True
    assert judged["verdict"]["reason"].startswith("BanditPolicy canceled the run at interval 1")
    status = api.call("GET", f"/workspaces/{ws}/runs/{bad}")["status"]
    assert status in ("CancelRequested", "Canceled")
    assert api.call("GET", f"/workspaces/{ws}/runs/{good}")["status"] == "Running"


def test_a_verdict_stays_in_its_workspace(api: Api) -> None:
    """Two workspaces with the same sweep id and trial ids: a value judged in one cancels
    nothing in the other."""
    first, second = api.workspace("ws-one"), api.workspace("ws-two")
    _, (good_a, bad_a) = _running_trials(api, first, "HD_same")
    _, (good_b, bad_b) = _running_trials(api, second, "HD_same")
    assert (bad_a, good_a) == (bad_b, good_b)
    _post(api, first, good_a, name="acc", value=0.9)
    assert _post(api, first, bad_a, name="acc", value=0.3)["verdict"] is not None
    # In the other workspace the same-named trial is alone with its value: no verdict.
    assert _post(api, second, bad_b, name="acc", value=0.3)["verdict"] is None
    assert api.call("GET", f"/workspaces/{second}/runs/{bad_b}")["status"] == "Running"


def test_a_run_outside_a_sweep_gets_no_verdict(api: Api) -> None:
    ws = api.workspace("ws-plain")
    run = api.call(
        "POST",
        f"/workspaces/{ws}/experiments/exp/runs",
        json={"definition": {"script": "train.py", "target": "local"}, "snapshot_id": "snap"},
    )
    answer = _post(api, ws, run["run_id"], name="acc", value=0.1)
    assert answer == {"stored": True, "count": 1, "judged_metric": None, "verdict": None}


def test_the_sender_posts_a_judged_value_at_once_and_stops_its_run(api: Api) -> None:
    ws = api.workspace("ws-sender")
    _, (good, bad) = _running_trials(api, ws)
    _post(api, ws, good, name="acc", value=0.9)
    client = TrainforgeClient(
        Endpoint("http://testserver", TOKEN), transport=InProcessTransport(api)
    )
    # A timer that never fires here: what reaches the server was sent without it.
    sender = MetricsSender(client, interval=3600)
    sender.context_run = (ws, bad)
    stopped: list[str] = []
    sender.stop = stopped.append
    try:
        sender.log((ws, bad), "loss", "scalar", 1.0, None, "")
        # The first points go out at once; their answer names the judged metric.
        wait_until(
            lambda: api.call("GET", f"/workspaces/{ws}/runs/{bad}/metrics").get("loss") == 1.0,
            30,
            "the first point to be stored",
        )
        wait_until(lambda: sender._judged.get((ws, bad)) == "acc", 30, "the judged metric")
        sender.log((ws, bad), "acc", "scalar", 0.3, None, "")
        wait_until(lambda: bool(stopped), 30, "the sender to act on the verdict")
        assert stopped[0].startswith("BanditPolicy canceled the run at interval 1")
        # A value logged while the run stops (refused once it has ended) stops nothing twice.
        sender.log((ws, bad), "acc", "scalar", 0.31, None, "")
        assert sender.flush(30)
        assert len(stopped) == 1
    finally:
        sender.close()
        client.close()
