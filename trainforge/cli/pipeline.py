"""``trainforge pipeline list|show|submit|publish|enable|disable`` and ``trainforge
pipeline schedule create|list|show|enable|disable``: published pipelines and their
schedules from a shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from trainforge.cli.output import OutputFormat, OutputOption, emit
from trainforge.pipeline.core import PublishedPipeline, Schedule, ScheduleRecurrence
from trainforge.pipeline.core.run import PipelineRun

pipeline_app = typer.Typer(
    help="Publish, list, show, submit and disable published pipelines; their schedules.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
schedule_app = typer.Typer(
    help="Create, list, show, enable and disable schedules of published pipelines.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
pipeline_app.add_typer(schedule_app, name="schedule")
console = Console()
WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (default: from config.json)")
]
ParameterOption = Annotated[
    list[str] | None,
    typer.Option("--parameter", "-p", help="A pipeline parameter: name=value (repeatable)"),
]


def _workspace(name: str | None):  # type: ignore[no-untyped-def]
    from trainforge.cli.common import _workspace as find

    return find(name)


def _fail(message: str) -> None:
    from trainforge.cli.common import _fail as fail

    fail(message)


def _value(text: str) -> Any:
    """A parameter's value from the shell: JSON where it parses (45, 0.1, true), else text."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def _parameters(given: list[str] | None) -> dict[str, Any]:
    found = {}
    for item in given or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            _fail(f"--parameter {item!r}: give name=value")
        found[name] = _value(value)
    return found


def _row(p: PublishedPipeline) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "version": p.version or "",
        "status": p.status,
        "steps": p.total_run_steps,
        "endpoint": p.endpoint,
    }


@pipeline_app.command("list")
def pipeline_list(
    workspace: WorkspaceOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Disabled ones too")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the workspace's published pipelines (PublishedPipeline.list)."""
    found = PublishedPipeline.list(_workspace(workspace), active_only=not all_)
    emit([_row(p) for p in found], output, ["id", "name", "version", "status", "steps", "endpoint"])


@pipeline_app.command("show")
def pipeline_show(pipeline_id: str, workspace: WorkspaceOption = None) -> None:
    """Show a published pipeline: its steps, parameters and endpoint, as JSON."""
    published = PublishedPipeline.get(_workspace(workspace), pipeline_id)
    shown = {**_row(published), "description": published.description}
    shown["step_names"] = published.get_step_names()
    shown["parameters"] = {
        p.name: p.model_dump(mode="json")["default_value"] for p in published._info.parameters
    }
    typer.echo(json.dumps(shown, indent=2, default=str))


@pipeline_app.command("submit")
def pipeline_submit(
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="Experiment name")],
    pipeline_id: Annotated[
        str | None, typer.Argument(help="A published pipeline's id (or give --pipeline-yaml)")
    ] = None,
    pipeline_yaml: Annotated[
        Path | None,
        typer.Option(
            "--pipeline-yaml",
            "-y",
            help="A pipeline YAML file (Pipeline.load_yaml), or a Python file defining pipeline",
        ),
    ] = None,
    parameter: ParameterOption = None,
    workspace: WorkspaceOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends")] = False,
) -> None:
    """Run a published pipeline, or the pipeline a YAML file defines (as ``az ml run
    submit-pipeline``) or a Python file names ``pipeline``: trainforge pipeline submit <id>
    -e exp -p pipeline_arg=45, or trainforge pipeline submit -y pipeline.yml -e exp"""
    if (pipeline_id is None) == (pipeline_yaml is None):
        _fail("give a published pipeline's id or --pipeline-yaml FILE (one of the two)")
    ws = _workspace(workspace)
    values = _parameters(parameter)
    if pipeline_yaml is not None:
        from trainforge.core import Experiment
        from trainforge.pipeline.core import Pipeline

        if pipeline_yaml.suffix == ".py":
            from trainforge.cli.common import defined_in

            pipeline = defined_in(pipeline_yaml, "pipeline", "Pipeline")
            if not isinstance(pipeline, Pipeline):
                _fail(f"{pipeline_yaml}: pipeline is a {type(pipeline).__name__}, not a Pipeline")
        else:
            try:
                pipeline = Pipeline.load_yaml(ws, str(pipeline_yaml))
            except ValueError as exc:
                _fail(str(exc))
        run = Experiment(ws, experiment).submit(pipeline, pipeline_parameters=values)
    else:
        assert pipeline_id is not None
        run = PublishedPipeline.get(ws, pipeline_id).submit(
            ws, experiment, pipeline_parameters=values
        )
    console.print(f"submitted pipeline run {run.id} (experiment {experiment})", highlight=False)
    if wait:
        from trainforge.cli.common import _final

        run.wait_for_completion(show_output=True, raise_on_error=False)
        _final(run, run.get_details())


@pipeline_app.command("publish")
def pipeline_publish(
    run_id: str,
    name: Annotated[str, typer.Option("--name", help="The published pipeline's name")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    version: Annotated[str | None, typer.Option("--version")] = None,
    continue_on_step_failure: Annotated[
        bool, typer.Option("--continue-on-step-failure", help="Its runs go on past a failed step")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Publish the pipeline a pipeline run ran (pipeline_run.publish_pipeline)."""
    run = _workspace(workspace).get_run(run_id)
    if not isinstance(run, PipelineRun):
        _fail(f"run {run_id} is not a pipeline run")
    assert isinstance(run, PipelineRun)
    published = run.publish_pipeline(name, description, version, continue_on_step_failure)
    console.print(f"published pipeline {published.id}: {published.endpoint}", highlight=False)


def _set_pipeline(pipeline_id: str, workspace: str | None, enable: bool) -> None:
    published = PublishedPipeline.get(_workspace(workspace), pipeline_id)
    published.enable() if enable else published.disable()
    console.print(f"published pipeline {published.id}: {published.status}", highlight=False)


@pipeline_app.command("enable")
def pipeline_enable(pipeline_id: str, workspace: WorkspaceOption = None) -> None:
    """Accept submits again."""
    _set_pipeline(pipeline_id, workspace, True)


@pipeline_app.command("disable")
def pipeline_disable(pipeline_id: str, workspace: WorkspaceOption = None) -> None:
    """Refuse submits (its schedules do not fire)."""
    _set_pipeline(pipeline_id, workspace, False)


def _schedule_row(s: Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "pipeline id": s.pipeline_id or s.pipeline_endpoint_id or "",
        "status": s.status,
        "trigger": repr(s.recurrence) if s.recurrence else f"datastore {s.datastore_name}",
        "next run": "" if s.next_run_time is None else s.next_run_time.isoformat(),
    }


def _ints(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        _fail(f"{text!r}: give whole numbers separated by commas")
        raise


@schedule_app.command("create")
def schedule_create(
    pipeline_id: str,
    name: Annotated[str, typer.Option("--name", help="The schedule's name")],
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="Experiment name")],
    frequency: Annotated[
        str | None, typer.Option("--frequency", help="Minute, Hour, Day, Week or Month")
    ] = None,
    interval: Annotated[int, typer.Option("--interval", help="Every how many")] = 1,
    hours: Annotated[str | None, typer.Option("--hours", help="e.g. 8,22")] = None,
    minutes: Annotated[str | None, typer.Option("--minutes", help="e.g. 0,30")] = None,
    week_days: Annotated[str | None, typer.Option("--week-days", help="e.g. Monday,Friday")] = None,
    start_time: Annotated[
        str | None, typer.Option("--start-time", help="YYYY-MM-DDThh:mm:ss")
    ] = None,
    time_zone: Annotated[str | None, typer.Option("--time-zone")] = None,
    datastore: Annotated[
        str | None, typer.Option("--datastore", help="Fire on new or changed files there")
    ] = None,
    path_on_datastore: Annotated[str | None, typer.Option("--path-on-datastore")] = None,
    polling_interval: Annotated[int, typer.Option("--polling-interval", help="Minutes")] = 5,
    parameter: ParameterOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Schedule a published pipeline: --frequency Day --interval 2 --hours 22 --minutes 30,
    or --datastore workspaceblobstore --path-on-datastore incoming."""
    recurrence = None
    if frequency is not None:
        recurrence = ScheduleRecurrence(
            frequency,
            interval,
            start_time=start_time,
            time_zone=time_zone,
            hours=_ints(hours),
            minutes=_ints(minutes),
            week_days=week_days.split(",") if week_days else None,
        )
        try:
            recurrence.validate()
        except ValueError as exc:
            _fail(str(exc))
    schedule = Schedule.create(
        _workspace(workspace),
        name=name,
        pipeline_id=pipeline_id,
        experiment_name=experiment,
        recurrence=recurrence,
        pipeline_parameters=_parameters(parameter),
        datastore=datastore,
        polling_interval=polling_interval,
        path_on_datastore=path_on_datastore,
    )
    console.print(f"schedule {schedule.id}: {schedule.status}", highlight=False)


@schedule_app.command("list")
def schedule_list(
    workspace: WorkspaceOption = None,
    pipeline_id: Annotated[str | None, typer.Option("--pipeline-id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Disabled ones too")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the workspace's schedules (Schedule.list)."""
    found = Schedule.list(_workspace(workspace), active_only=not all_, pipeline_id=pipeline_id)
    emit(
        [_schedule_row(s) for s in found],
        output,
        ["id", "name", "pipeline id", "status", "trigger", "next run"],
    )


@schedule_app.command("show")
def schedule_show(schedule_id: str, workspace: WorkspaceOption = None) -> None:
    """Show a schedule and the pipeline runs it submitted, as JSON."""
    schedule = Schedule.get(_workspace(workspace), schedule_id)
    shown = {**_schedule_row(schedule), "runs": [r.id for r in schedule.get_pipeline_runs()]}
    typer.echo(json.dumps(shown, indent=2, default=str))


def _set_schedule(schedule_id: str, workspace: str | None, enable: bool) -> None:
    schedule = Schedule.get(_workspace(workspace), schedule_id)
    schedule.enable() if enable else schedule.disable()
    console.print(f"schedule {schedule.id}: {schedule.status}", highlight=False)


@schedule_app.command("enable")
def schedule_enable(schedule_id: str, workspace: WorkspaceOption = None) -> None:
    """Fire again from the next slot (no backfill)."""
    _set_schedule(schedule_id, workspace, True)


@schedule_app.command("disable")
def schedule_disable(schedule_id: str, workspace: WorkspaceOption = None) -> None:
    """Stop firing."""
    _set_schedule(schedule_id, workspace, False)
