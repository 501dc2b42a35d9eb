"""Published pipelines, pipeline endpoints and schedules in-process: the REST trigger's
body and answer, and the schedule loop stepped by hand with its own clock (a one-minute
recurrence goes through its slots without waiting for them), across a restart of the
control plane on the same store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.inprocess import Api, error_message
from trainforge.schemas.schedules import Recurrence
from trainforge.server.services import datastores
from trainforge.server.services.recurrence import latest_due, next_slot
from trainforge.storage.locations import open_filesystem

# Far ahead of the wall clock: the server's own loop never finds these slots due.
T0 = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_recurrence_slots_are_the_sdks() -> None:
    every_other_day = Recurrence(frequency="Day", interval=2, hours=[22], minutes=[30])
    anchor = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
    first = next_slot(every_other_day, anchor, anchor)
    assert first == datetime(2031, 3, 4, 22, 30, tzinfo=UTC)
    assert next_slot(every_other_day, anchor, first) == datetime(2031, 3, 6, 22, 30, tzinfo=UTC)
    minute = Recurrence(frequency="Minute", interval=1, start_time=T0)
    assert next_slot(minute, T0, at(0.5)) == at(1)
    assert next_slot(minute, T0, at(-5)) == T0
    # Monday 2031-03-03; every week on Tuesday and Friday at 08:15 in Lisbon (UTC in March).
    weekly = Recurrence(
        frequency="Week",
        interval=1,
        week_days=["Tuesday", "Friday"],
        time_of_day="08:15",
        time_zone="Europe/Lisbon",
    )
    assert next_slot(weekly, anchor, anchor) == datetime(2031, 3, 7, 8, 15, tzinfo=UTC)
    hourly = Recurrence(frequency="Hour", interval=2, minutes=[0, 30])
    assert next_slot(hourly, T0, at(31)) == at(120)
    monthly = Recurrence(frequency="Month", interval=1)
    jan31 = datetime(2031, 1, 31, 6, 0, tzinfo=UTC)
    assert next_slot(monthly, jan31, jan31) == datetime(2031, 2, 28, 6, 0, tzinfo=UTC)
    # No start_time: slots count from the moment the schedule was made, its first run at once.
    made = datetime(2031, 3, 4, 9, 12, 34, 500, tzinfo=UTC)
    daily = Recurrence(frequency="Day", interval=1)
    assert next_slot(daily, made, made - timedelta(microseconds=1)) == made
    assert next_slot(daily, made, made) == made + timedelta(days=1)
    # Ten minutes away: the latest slot fires, the nine before it are not backfilled.
    assert latest_due(minute, T0, at(1), at(10.5)) == (at(10), 9, at(11))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"frequency": "Day", "interval": 1, "minutes": [60]}, "minutes: 60 is not a minute"),
        ({"frequency": "Day", "interval": 1, "hours": [24]}, "hours: 24 is not an hour"),
        ({"frequency": "Minute", "interval": 1, "hours": [1]}, "hours: only for a frequency"),
        ({"frequency": "Day", "interval": 1, "week_days": ["Monday"]}, "week_days: only for"),
        ({"frequency": "Week", "interval": 1, "week_days": ["Mon"]}, "'Mon' is not a day"),
        ({"frequency": "Day", "interval": 1, "time_zone": "Mars/Base"}, "time_zone: 'Mars/Base'"),
        ({"frequency": "Fortnight", "interval": 1}, "frequency"),
        ({"frequency": "Day", "interval": 0}, "interval"),
    ],
)
def test_bad_recurrences_are_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Recurrence(**fields)


def _graph(api: Api, ws: str, tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "s.py").write_text("print('s')\n")
    snap = api.upload(ws, tmp_path / "src")
    return {
        "steps": [
            {
                "name": "train",
                "definition": {"script": "s.py", "target": "local"},
                "snapshot_id": snap,
                "arguments": ["--arg", {"parameter": "pipeline_arg"}],
                "inputs": [{"name": "data", "kind": "datapath_parameter", "parameter": "data"}],
            }
        ],
        "parameters": [
            {"name": "pipeline_arg", "default_value": 10},
            {
                "name": "data",
                "default_value": {
                    "datastore_name": "workspaceblobstore",
                    "path_on_datastore": "in/first.csv",
                },
            },
        ],
    }


def _publish(api: Api, ws: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    body = {"name": "Titanic", "description": "d", "graph": _graph(api, ws, tmp_path), **extra}
    return api.call("POST", f"/workspaces/{ws}/publishedpipelines", json=body)  # type: ignore[no-any-return]


def _arguments(api: Api, ws: str, run_id: str) -> list[str]:
    api.plane.pipeliner.tick()
    step = api.call("GET", f"/workspaces/{ws}/runs/{run_id}/graph")["steps"][0]
    child = api.call("GET", f"/workspaces/{ws}/runs/{step['run_id']}")
    return child["definition"]["arguments"]  # type: ignore[no-any-return]


def test_a_published_pipeline_runs_from_a_rest_post_with_its_parameters(
    alpha_and_beta: Api, tmp_path: Path
) -> None:
    api = alpha_and_beta
    pipeline = _publish(api, "alpha", tmp_path, version="1.0", continue_on_step_failure=True)
    assert (pipeline["status"], pipeline["version"], pipeline["total_run_steps"]) == (
        "Active",
        "1.0",
        1,
    )
    endpoint = pipeline["endpoint_path"]
    assert endpoint == f"/workspaces/alpha/publishedpipelines/{pipeline['id']}/runs"
    body = {
        "ExperimentName": "Titanic_Pipeline_REST",
        "RunSource": "SDK",
        "ParameterAssignments": {"pipeline_arg": 45},
    }
    started = api.call("POST", endpoint, json=body)
    assert (started["ExperimentName"], started["PipelineId"]) == (
        "Titanic_Pipeline_REST",
        pipeline["id"],
    )
    run = api.call("GET", f"/workspaces/alpha/runs/{started['Id']}")
    assert run["run_type"] == "azureml.PipelineRun"
    assert run["properties"]["azureml.pipelineid"] == pipeline["id"]
    assert run["properties"]["azureml.continue_on_step_failure"] == "True"
    assert _arguments(api, "alpha", started["Id"]) == ["--arg", "45"]
    # A DataPath by the REST API's DataPathAssignments.
    moved = api.call(
        "POST",
        endpoint,
        json={
            "ExperimentName": "e",
            "DataPathAssignments": {
                "data": {"DataStoreName": "workspaceblobstore", "RelativePath": "in/b.csv"}
            },
        },
    )
    graph = api.call("GET", f"/workspaces/alpha/runs/{moved['Id']}/graph")
    assert graph["parameters"]["data"]["path_on_datastore"] == "in/b.csv"
    assert graph["parameters"]["pipeline_arg"] == 10

    unknown = {"ExperimentName": "e", "ParameterAssignments": {"pipeline_argg": 1}}
    assert "'pipeline_argg' not defined in the pipeline" in error_message(
        api.request("POST", endpoint, json=unknown), 400
    )
    assert "ExperimentName" in error_message(
        api.request("POST", endpoint, json={"ParameterAssignments": {}}), 422
    )
    assert "Extra inputs" in error_message(
        api.request("POST", endpoint, json={"ExperimentName": "e", "Parameters": {}}), 422
    )
    # Another workspace knows nothing of it.
    assert (
        api.request("GET", f"/workspaces/beta/publishedpipelines/{pipeline['id']}").status_code
        == 404
    )
    assert (
        api.request(
            "POST", f"/workspaces/beta/publishedpipelines/{pipeline['id']}/runs", json=body
        ).status_code
        == 404
    )

    api.call(
        "PATCH",
        f"/workspaces/alpha/publishedpipelines/{pipeline['id']}",
        json={"status": "Disabled"},
    )
    assert "is disabled" in error_message(api.request("POST", endpoint, json=body), 409)
    assert api.call("GET", "/workspaces/alpha/publishedpipelines") == []
    listed = api.call("GET", "/workspaces/alpha/publishedpipelines", params={"active_only": False})
    assert [p["id"] for p in listed] == [pipeline["id"]]

    # publish_pipeline from a pipeline run keeps the graph that run ran.
    again = api.call(
        "POST",
        "/workspaces/alpha/publishedpipelines",
        json={"name": "from-run", "source_run_id": started["Id"]},
    )
    assert again["step_names"] == ["train"] and again["id"] != pipeline["id"]


def test_a_pipeline_endpoint_runs_its_default_version_or_the_one_asked(
    app_api: Api, tmp_path: Path
) -> None:
    ws = app_api.workspace("alpha")
    first, second = _publish(app_api, ws, tmp_path), _publish(app_api, ws, tmp_path)
    made = app_api.call(
        "POST",
        f"/workspaces/{ws}/pipelineendpoints",
        json={"name": "ep", "pipeline_id": first["id"]},
    )
    assert (made["default_version"], made["versions"]) == (
        "0",
        [{"version": "0", "pipeline_id": first["id"]}],
    )
    app_api.call(
        "POST",
        f"/workspaces/{ws}/pipelineendpoints/ep/versions",
        json={"pipeline_id": second["id"], "set_default": True},
    )
    path = made["endpoint_path"]
    run = app_api.call("POST", path, json={"ExperimentName": "e"})
    assert run["PipelineId"] == second["id"]
    old = app_api.call("POST", path, json={"ExperimentName": "e", "PipelineVersion": "0"})
    assert old["PipelineId"] == first["id"]
    assert "has no version '7'" in error_message(
        app_api.request("POST", path, json={"ExperimentName": "e", "PipelineVersion": "7"}), 404
    )
    assert "exists" in error_message(
        app_api.request(
            "POST",
            f"/workspaces/{ws}/pipelineendpoints",
            json={"name": "ep", "pipeline_id": first["id"]},
        ),
        409,
    )


def _runs(api: Api, ws: str, schedule_id: str) -> list[dict[str, Any]]:
    return api.call("GET", f"/workspaces/{ws}/schedules/{schedule_id}/runs")  # type: ignore[no-any-return]


def test_a_one_minute_schedule_fires_once_per_slot_across_a_restart(tmp_path: Path) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'trainforge.db'}"
    api = Api(home, url)
    try:
        ws = api.workspace("alpha")
        pipeline = _publish(api, ws, tmp_path)
        api.plane.schedule_loop.clock = lambda: at(-0.5)
        schedule = api.call(
            "POST",
            f"/workspaces/{ws}/schedules",
            json={
                "name": "every-minute",
                "pipeline_id": pipeline["id"],
                "experiment_name": "Schedule_Run",
                "recurrence": {"frequency": "Minute", "interval": 1, "start_time": T0.isoformat()},
                "pipeline_parameters": {"pipeline_arg": 3},
            },
        )
        assert schedule["next_run_time"].startswith("2031-03-04T10:00:00")
        loop = api.plane.schedule_loop
        assert loop.run_due(at(-0.1)) == []
        fired = loop.run_due(at(0.2))
        assert len(fired) == 1
        assert loop.run_due(at(0.4)) == []  # the same slot, again: nothing
        run = api.call("GET", f"/workspaces/{ws}/runs/{fired[0]}")
        assert run["properties"]["azureml.scheduleid"] == schedule["id"]
        assert run["properties"]["runSource"] == "Schedule"
        assert _arguments(api, ws, fired[0]) == ["--arg", "3"]
    finally:
        api.close()

    api = Api(home, url)  # the control plane restarted on the same store
    try:
        loop = api.plane.schedule_loop
        assert loop.run_due(at(0.6)) == []
        assert [r["run_id"] for r in _runs(api, ws, schedule["id"])] == fired
        second = loop.run_due(at(1.01))
        assert len(second) == 1
        # Away for ten minutes: the latest slot fires once, the others are not backfilled.
        late = loop.run_due(at(11.5))
        assert len(late) == 1 and loop.run_due(at(11.6)) == []
        slots = [r["slot"] for r in _runs(api, ws, schedule["id"])]
        assert sorted(slots) == [at(0).isoformat(), at(1).isoformat(), at(11).isoformat()]
        # Disabled, it does not fire; enabled again, it counts from then on.
        api.call(
            "PATCH", f"/workspaces/{ws}/schedules/{schedule['id']}", json={"status": "Disabled"}
        )
        assert loop.run_due(at(13)) == []
        loop.clock = lambda: at(20.5)
        api.call("PATCH", f"/workspaces/{ws}/schedules/{schedule['id']}", json={"status": "Active"})
        assert loop.run_due(at(20.7)) == []
        assert len(loop.run_due(at(21))) == 1
        assert len(_runs(api, ws, schedule["id"])) == 4
    finally:
        api.close()


def test_a_schedule_made_after_missed_slots_starts_at_the_next_one(tmp_path: Path) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'trainforge.db'}"
    api = Api(home, url)
    try:
        ws = api.workspace("alpha")
        pipeline = _publish(api, ws, tmp_path)
        loop = api.plane.schedule_loop
        loop.clock = lambda: at(0.5)
        # Every minute since half an hour before it was made; daily at 09:00 (passed today).
        minutely, daily = (
            api.call(
                "POST",
                f"/workspaces/{ws}/schedules",
                json={
                    "name": name,
                    "pipeline_id": pipeline["id"],
                    "experiment_name": "Schedule_Late",
                    "recurrence": recurrence,
                },
            )
            for name, recurrence in (
                (
                    "minutely",
                    {"frequency": "Minute", "interval": 1, "start_time": at(-30).isoformat()},
                ),
                (
                    "daily",
                    {
                        "frequency": "Day",
                        "interval": 1,
                        "hours": [9],
                        "minutes": [0],
                        "start_time": at(-3 * 24 * 60).isoformat(),
                    },
                ),
            )
        )
        assert minutely["next_run_time"].startswith("2031-03-04T10:01:00")
        assert daily["next_run_time"].startswith("2031-03-05T09:00:00")
        assert loop.run_due(at(0.9)) == []  # none of the thirty missed minutes
        fired = loop.run_due(at(1.0))
        assert len(fired) == 1
        assert [r["slot"] for r in _runs(api, ws, minutely["id"])] == [at(1).isoformat()]
        assert _runs(api, ws, daily["id"]) == []
    finally:
        api.close()


def test_bad_schedules_are_refused_and_nothing_is_made(alpha_and_beta: Api, tmp_path: Path) -> None:
    app_api, ws = alpha_and_beta, "alpha"
    pipeline = _publish(app_api, ws, tmp_path)
    path = f"/workspaces/{ws}/schedules"
    base = {"name": "s", "pipeline_id": pipeline["id"], "experiment_name": "e"}
    bad_minutes = {**base, "recurrence": {"frequency": "Day", "interval": 1, "minutes": [75]}}
    assert "minutes: 75 is not a minute; minutes are 0 to 59" in error_message(
        app_api.request("POST", path, json=bad_minutes), 422
    )
    recurrence = {"frequency": "Hour", "interval": 1}
    unknown = {**base, "recurrence": recurrence, "pipeline_parameters": {"nope": 1}}
    assert "'nope' not defined in the pipeline" in error_message(
        app_api.request("POST", path, json=unknown), 400
    )
    lost = {**base, "pipeline_id": "no-such-id", "recurrence": recurrence}
    assert "no-such-id" in error_message(app_api.request("POST", path, json=lost), 404)
    both = {**base, "recurrence": recurrence, "datastore_name": "workspaceblobstore"}
    assert "either recurrence or datastore" in error_message(
        app_api.request("POST", path, json=both), 422
    )
    # Another workspace's schedule cannot name this one's pipeline.
    theirs = {**base, "recurrence": recurrence}
    assert pipeline["id"] in error_message(
        app_api.request("POST", "/workspaces/beta/schedules", json=theirs), 404
    )
    assert app_api.call("GET", path, params={"active_only": False}) == []


def test_a_datastore_schedule_fires_once_per_new_or_changed_file(
    app_api: Api, tmp_path: Path
) -> None:
    ws = app_api.workspace("alpha")
    pipeline = _publish(app_api, ws, tmp_path)
    with app_api.plane.store.reading() as db:
        row = app_api.plane.workspaces.get_row(db, ws)
        access = datastores.access(db, row, "workspaceblobstore", app_api.plane.vault)
    fs = open_filesystem(access)
    root = access.root.rstrip("/")
    fs.makedirs(f"{root}/in/deeper", exist_ok=True)
    fs.pipe(f"{root}/in/first.csv", b"a,b\n")
    loop = app_api.plane.schedule_loop
    loop.clock = lambda: T0
    schedule = app_api.call(
        "POST",
        f"/workspaces/{ws}/schedules",
        json={
            "name": "on-new-data",
            "pipeline_id": pipeline["id"],
            "experiment_name": "e",
            "datastore_name": "workspaceblobstore",
            "path_on_datastore": "in",
            "polling_interval": 5,
            "data_path_parameter_name": "data",
        },
    )
    assert loop.run_due(T0) == []  # the first look notes what is there
    fs.pipe(f"{root}/in/second.csv", b"c,d\n")
    fs.pipe(f"{root}/in/deeper/ignored.csv", b"x\n")  # subfolders are not watched
    assert loop.run_due(at(2)) == []  # not yet time to look
    fired = loop.run_due(at(5))
    assert len(fired) == 1
    graph = app_api.call("GET", f"/workspaces/{ws}/runs/{fired[0]}/graph")
    assert graph["parameters"]["data"]["path_on_datastore"] == "in/second.csv"
    assert loop.run_due(at(10)) == []  # nothing changed
    fs.pipe(f"{root}/in/first.csv", b"a,b\n1,2\n")  # changed bytes, same name
    changed = loop.run_due(at(15))
    assert len(changed) == 1
    graph = app_api.call("GET", f"/workspaces/{ws}/runs/{changed[0]}/graph")
    assert graph["parameters"]["data"]["path_on_datastore"] == "in/first.csv"
    assert len(_runs(app_api, ws, schedule["id"])) == 2


def test_a_run_token_reads_published_pipelines_but_runs_and_schedules_none(
    app_api: Api, tmp_path: Path
) -> None:
    from trainforge.server.auth import run_token

    ws = app_api.workspace("alpha")
    pipeline = _publish(app_api, ws, tmp_path)
    run = app_api.call("POST", f"/workspaces/{ws}/experiments/e/runs", json={"kind": "interactive"})
    as_run = {"Authorization": f"Bearer {run_token(b'k' * 32, ws, run['run_id'])}"}
    assert (
        app_api.request(
            "GET", pipeline["endpoint_path"][: -len("/runs")], headers=as_run
        ).status_code
        == 200
    )
    posted = app_api.request(
        "POST", pipeline["endpoint_path"], json={"ExperimentName": "e"}, headers=as_run
    )
    assert posted.status_code == 403
    schedule = {
        "name": "s",
        "pipeline_id": pipeline["id"],
        "experiment_name": "e",
        "recurrence": {"frequency": "Hour", "interval": 1},
    }
    assert (
        app_api.request(
            "POST", f"/workspaces/{ws}/schedules", json=schedule, headers=as_run
        ).status_code
        == 403
    )
    assert (
        app_api.request(
            "PATCH",
            f"/workspaces/{ws}/publishedpipelines/{pipeline['id']}",
            json={"status": "Disabled"},
            headers=as_run,
        ).status_code
        == 403
    )
