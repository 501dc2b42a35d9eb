"""Published pipelines and schedules on a real control plane, with the calls of the public
samples aml-pipelines-publish-and-run-using-rest-endpoint and
aml-pipelines-setup-schedule-for-a-published-pipeline (``azureml`` -> ``trainforge`` in
the imports): publish a pipeline run, POST to its endpoint with ``requests`` and the
authentication header, and a schedule fired by the control plane's own loop."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.helpers import restart_server, wait_until
from trainforge.client.api import api
from trainforge.client.api.schedules import SchedulesApi
from trainforge.core import Datastore, Experiment, Workspace
from trainforge.core.authentication import InteractiveLoginAuthentication
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core import (
    Pipeline,
    PipelineEndpoint,
    PipelineParameter,
    PublishedPipeline,
)
from trainforge.pipeline.core.run import PipelineRun
from trainforge.pipeline.core.schedule import Schedule, ScheduleRecurrence
from trainforge.pipeline.steps import PythonScriptStep

pytestmark = pytest.mark.slow

TRAIN = """
import argparse
parser = argparse.ArgumentParser("train")
parser.add_argument("--pipeline_param", type=int)
args = parser.parse_args()
print("pipeline_param:", args.pipeline_param)
"""


def _pipeline(ws: Workspace, tmp_path: Path) -> Pipeline:
    folder = tmp_path / "publish_run_train"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(textwrap.dedent(TRAIN))
    pipeline_param = PipelineParameter(name="pipeline_arg", default_value=10)
    train_step = PythonScriptStep(
        name="train.py",
        script_name="train.py",
        arguments=["--pipeline_param", pipeline_param],
        compute_target="local",
        source_directory=str(folder),
        allow_reuse=False,
    )
    return Pipeline(workspace=ws, steps=[train_step])


def _log(run: PipelineRun) -> str:
    return run.find_step_run("train.py")[0].get_job_log()


def test_publish_and_run_using_the_rest_endpoint(ws: Workspace, tmp_path: Path) -> None:
    pipeline1 = _pipeline(ws, tmp_path)
    pipeline_run1 = Experiment(ws, "Titanic_Pipeline_Notebook").submit(pipeline1)
    pipeline_run1.wait_for_completion(show_output=False)
    published_pipeline1 = pipeline_run1.publish_pipeline(
        name="Published_Titanic_Pipeline_Notebook",
        description="Titanic_Pipeline_Notebook Published Pipeline Description",
        version="1.0",
        continue_on_step_failure=True,
    )
    pipeline_id = published_pipeline1.id
    published_pipeline = PublishedPipeline.get(ws, pipeline_id)
    assert (published_pipeline.name, published_pipeline.version) == (
        "Published_Titanic_Pipeline_Notebook",
        "1.0",
    )
    assert published_pipeline.get_step_names() == ["train.py"]
    assert pipeline_id in [p.id for p in PublishedPipeline.list(ws)]

    auth = InteractiveLoginAuthentication()
    aad_token = auth.get_authentication_header()
    rest_endpoint1 = published_pipeline1.endpoint
    response = requests.post(
        rest_endpoint1,
        headers=aad_token,
        json={
            "ExperimentName": "Titanic_Pipeline_REST",
            "RunSource": "SDK",
            "ParameterAssignments": {"pipeline_arg": 45},
        },
        timeout=30,
    )
    response.raise_for_status()
    run_id = response.json()["Id"]
    published_pipeline_run = PipelineRun(ws.experiments["Titanic_Pipeline_REST"], run_id)
    assert published_pipeline_run.wait_for_completion(show_output=False) == "Completed"
    assert "pipeline_param: 45" in _log(published_pipeline_run)
    assert published_pipeline_run.get_properties()["azureml.pipelineid"] == pipeline_id

    # Without the header, or with an unknown parameter: refused, nothing runs.
    assert (
        requests.post(rest_endpoint1, json={"ExperimentName": "x"}, timeout=30).status_code == 401
    )
    bad = requests.post(
        rest_endpoint1,
        headers=aad_token,
        json={"ExperimentName": "Titanic_Pipeline_REST", "ParameterAssignments": {"nope": 1}},
        timeout=30,
    )
    assert bad.status_code == 400 and "'nope' not defined" in bad.text

    # From the SDK: the published pipeline's own submit, and a versioned endpoint.
    again = published_pipeline.submit(
        ws, "Titanic_Pipeline_SDK", pipeline_parameters={"pipeline_arg": 7}
    )
    assert again.wait_for_completion(show_output=False) == "Completed"
    assert "pipeline_param: 7" in _log(again)
    name = f"endpoint-{uuid.uuid4().hex[:6]}"
    endpoint = PipelineEndpoint.publish(ws, name=name, description="d", pipeline=published_pipeline)
    endpoint.add_default(pipeline1.publish(name="second", description="v1"))
    assert PipelineEndpoint.get(ws, name=name).default_version == "1"
    from_endpoint = endpoint.submit("Titanic_Pipeline_EP", pipeline_parameters={"pipeline_arg": 3})
    assert from_endpoint.wait_for_completion(show_output=False) == "Completed"
    assert endpoint.get_pipeline(version="0").id == pipeline_id

    published_pipeline.disable()
    assert PublishedPipeline.get(ws, pipeline_id).status == "Disabled"
    with pytest.raises(UserErrorException, match="is disabled"):
        published_pipeline.submit(ws, "Titanic_Pipeline_SDK")
    published_pipeline.enable()


def test_a_schedule_of_a_published_pipeline(ws: Workspace, tmp_path: Path) -> None:
    pipeline1 = _pipeline(ws, tmp_path)
    pipeline_name = datetime.now().strftime("%m-%d-%Y-%H-%M") + "-Pipeline"
    published_pipeline1 = pipeline1.publish(name=pipeline_name, description=pipeline_name)
    pub_pipeline_id = published_pipeline1.id
    assert pub_pipeline_id in [p.id for p in PublishedPipeline.get_all(ws)]

    with pytest.raises(ValueError, match="minutes: 75 is not a minute; minutes are 0 to 59"):
        Schedule.create(
            workspace=ws,
            name="bad",
            pipeline_id=pub_pipeline_id,
            experiment_name="Schedule_Run",
            recurrence=ScheduleRecurrence(frequency="Day", interval=1, minutes=[75]),
        )
    assert Schedule.list(ws, pipeline_id=pub_pipeline_id, active_only=False) == []

    # Every minute from 59 s ago: its next slot is a second away, not a minute.
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=59)
    recurrence = ScheduleRecurrence(frequency="Minute", interval=1, start_time=start)
    schedule = Schedule.create(
        workspace=ws,
        name="My_Schedule",
        pipeline_id=pub_pipeline_id,
        experiment_name="Schedule_Run",
        recurrence=recurrence,
        pipeline_parameters={"pipeline_arg": 99},
        wait_for_provisioning=True,
        description="Schedule Run",
    )
    schedule_id = schedule.id
    runs = wait_until(schedule.get_pipeline_runs, 60, "the schedule's first run")
    assert len(runs) == 1
    assert runs[0].wait_for_completion(show_output=False) == "Completed"
    assert "pipeline_param: 99" in _log(runs[0])

    schedules = Schedule.get_all(ws, pipeline_id=pub_pipeline_id)
    assert [s.id for s in schedules] == [schedule_id]
    assert schedules[0].recurrence is not None
    assert schedule_id in [s.id for s in Schedule.get_all(ws, active_only=True)]
    fetched_schedule = Schedule.get(ws, schedule_id)
    fetched_schedule.disable(wait_for_provisioning=True)
    assert Schedule.get(ws, schedule_id).status == "Disabled"
    fetched_schedule.enable(wait_for_provisioning=True)
    assert Schedule.get(ws, schedule_id).status == "Active"
    recurrence = ScheduleRecurrence(frequency="Hour", interval=2)
    fetched_schedule = Schedule.get(ws, schedule_id)
    fetched_schedule.update(
        name="My_Updated_Schedule",
        description="Updated_Schedule_Run",
        status="Active",
        wait_for_provisioning=True,
        recurrence=recurrence,
    )
    fetched_schedule = Schedule.get(ws, fetched_schedule.id)
    assert fetched_schedule.name == "My_Updated_Schedule"
    assert fetched_schedule.recurrence.frequency == "Hour"
    # A recurrence without start_time runs at once, then every interval (as the SDK says).
    wait_until(lambda: len(fetched_schedule.get_pipeline_runs()) == 2, 60, "the run at once")
    fetched_schedule.disable()

    datastore = Datastore(workspace=ws, name="workspaceblobstore")
    on_data = Schedule.create(
        workspace=ws,
        name="My_Schedule",
        pipeline_id=pub_pipeline_id,
        experiment_name="Schedule_Run",
        datastore=datastore,
        wait_for_provisioning=True,
        description="Schedule Run",
    )
    assert on_data.datastore_name == "workspaceblobstore" and on_data.polling_interval == 5
    on_data.disable(wait_for_provisioning=True)
    assert Schedule.get(ws, on_data.id).status == "Disabled"
    assert len(Schedule.get(ws, schedule_id).get_pipeline_runs()) == 2


def test_a_fired_slot_is_not_fired_again_after_a_control_plane_restart(
    tf_home: Path, ws: Workspace, tmp_path: Path
) -> None:
    published = _pipeline(ws, tmp_path).publish(name="restart", description="restart")
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=59)
    every_minute = Schedule.create(
        ws,
        name="every-minute",
        pipeline_id=published.id,
        experiment_name="Schedule_Restart",
        recurrence=ScheduleRecurrence(frequency="Minute", interval=1, start_time=start),
    )
    first = wait_until(every_minute.get_pipeline_runs, 60, "the first slot's run")
    restart_server(tf_home)
    # A schedule without start_time runs at once: once it has, the restarted control
    # plane's loop has made a pass, and the slot already fired did not fire again.
    at_once = Schedule.create(
        ws,
        name="at-once",
        pipeline_id=published.id,
        experiment_name="Schedule_Restart",
        recurrence=ScheduleRecurrence(frequency="Day", interval=1),
    )
    wait_until(at_once.get_pipeline_runs, 60, "the run at once after the restart")
    firings = api(ws, SchedulesApi).runs(every_minute.id)
    # Its first slot fired once; a later slot may have come by now (a slow machine), once.
    slots = [f.slot for f in firings]
    assert len(slots) == len(set(slots))
    assert [f.run_id for f in firings][-1] == first[0].id
    for schedule in (every_minute, at_once):
        schedule.disable()


def test_a_schedule_made_after_its_start_time_does_not_run_the_slots_it_missed(
    ws: Workspace, tmp_path: Path
) -> None:
    # Every minute from half an hour ago (less three seconds): thirty slots came before the
    # schedule existed. As the SDK documents, the first run is at the next slot; the
    # missed ones are not backfilled.
    published = _pipeline(ws, tmp_path).publish(name="late", description="late start")
    made = datetime.now(UTC)
    start = made.replace(tzinfo=None) - timedelta(minutes=30) + timedelta(seconds=3)
    late = Schedule.create(
        ws,
        name="late-start",
        pipeline_id=published.id,
        experiment_name="Schedule_Late",
        recurrence=ScheduleRecurrence(frequency="Minute", interval=1, start_time=start),
    )
    try:
        (run,) = wait_until(late.get_pipeline_runs, 60, "the run of the next slot")
        firings = api(ws, SchedulesApi).runs(late.id)
        assert [f.run_id for f in firings] == [run.id]
        slot = datetime.fromisoformat(firings[0].slot)
        next_slot = (start + timedelta(minutes=30)).replace(tzinfo=UTC)
        assert abs((slot - next_slot).total_seconds()) < 1
        assert slot > made
    finally:
        late.disable()


RECURRENCE_YAML = """
Schedule:
    description: "Test create with recurrence"
    recurrence:
        frequency: Week # Can be "Minute", "Hour", "Day", "Week", or "Month".
        interval: 1 # how often fires
        start_time: 2019-06-07T10:50:00
        time_zone: UTC
        hours:
        - 1
        minutes:
        - 0
        time_of_day: null
        week_days:
        - Friday
    pipeline_parameters: {'pipeline_arg': 1}
    wait_for_provisioning: True
    wait_timeout: 3600
    datastore_name: ~
    polling_interval: ~
    data_path_parameter_name: ~
    continue_on_step_failure: None
    path_on_datastore: ~
"""

DATASTORE_YAML = """
Schedule:
    description: "Test create with datastore"
    recurrence: ~
    pipeline_parameters: {}
    wait_for_provisioning: True
    wait_timeout: 3600
    datastore_name: "workspaceblobstore"
    polling_interval: 5
    data_path_parameter_name: ~
    continue_on_step_failure: None
    path_on_datastore: "file/path"
"""


def test_schedules_from_the_sdks_schedule_yaml_files(ws: Workspace, tmp_path: Path) -> None:
    published = _pipeline(ws, tmp_path).publish(name="yaml-scheduled", description="d")
    (tmp_path / "yaml").mkdir()
    (tmp_path / "yaml" / "test_schedule_with_recurrence.yaml").write_text(RECURRENCE_YAML)
    (tmp_path / "yaml" / "test_schedule_with_datastore.yaml").write_text(DATASTORE_YAML)

    # Schedule.load_yaml's docstring examples.
    schedule_info = Schedule.load_yaml(
        workspace=ws, filename=str(tmp_path / "yaml" / "test_schedule_with_recurrence.yaml")
    )
    schedule = Schedule.create(
        ws,
        name="TestSchedule",
        pipeline_id=published.id,
        experiment_name="helloworld",
        recurrence=schedule_info.get("recurrence"),
        description=schedule_info.get("description"),
        pipeline_parameters=schedule_info.get("pipeline_parameters"),
    )
    fetched = Schedule.get(ws, schedule.id)
    assert (fetched.description, fetched.recurrence.frequency) == (
        "Test create with recurrence",
        "Week",
    )
    assert fetched.recurrence.week_days == ["Friday"] and fetched.recurrence.hours == [1]
    assert schedule_info["continue_on_step_failure"] is None  # the file's word None
    fetched.disable()

    schedule_info = Schedule.load_yaml(
        workspace=ws, filename=str(tmp_path / "yaml" / "test_schedule_with_datastore.yaml")
    )
    on_data = Schedule.create(
        ws,
        name="TestSchedule",
        pipeline_id=published.id,
        experiment_name="helloworld",
        datastore=schedule_info.get("datastore_name"),
        polling_interval=schedule_info.get("polling_interval"),
        data_path_parameter_name=schedule_info.get("data_path_parameter_name"),
        continue_on_step_failure=schedule_info.get("continue_on_step_failure"),
        path_on_datastore=schedule_info.get("path_on_datastore"),
    )
    assert (on_data.datastore_name, on_data.path_on_datastore) == (
        "workspaceblobstore",
        "file/path",
    )
    on_data.disable()

    bad = tmp_path / "yaml" / "bad.yaml"
    bad.write_text("Schedule:\n    recurrence:\n        frequency: Week\n        interval: often\n")
    with pytest.raises(ValueError, match="recurrence.interval"):
        Schedule.load_yaml(ws, str(bad))
    bad.write_text("schedule: {}\n")
    with pytest.raises(ValueError, match='must have a "Schedule:" section'):
        Schedule.load_yaml(ws, str(bad))
