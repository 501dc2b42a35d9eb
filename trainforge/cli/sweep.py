"""``trainforge sweep submit|show|cancel``: HyperDrive sweeps from a shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from trainforge.cli.output import print_table
from trainforge.client.api import api
from trainforge.client.api.sweeps import SweepsApi
from trainforge.client.errors import sdk_errors
from trainforge.client.http import ApiError
from trainforge.schemas.sweeps import SweepInfo
from trainforge.train.hyperdrive.run import HyperDriveRun  # registers the 'hyperdrive' run type

sweep_app = typer.Typer(
    help="Submit, show and cancel HyperDrive sweeps (hyperparameter tuning).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console()
WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (default: from config.json)")
]


def _workspace(name: str | None):  # type: ignore[no-untyped-def]
    from trainforge.cli.common import _workspace as find

    return find(name)


def _fail(message: str) -> None:
    from trainforge.cli.common import _fail as fail

    fail(message)


@sweep_app.command("submit")
def sweep_submit(
    spec: Annotated[
        Path,
        typer.Argument(help="A sweep file (.yaml/.yml/.json) or a Python file defining hd_config"),
    ],
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment", "-e", help="Experiment name (default: the file's, else 'default')"
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Stream the sweep's log until it ends")
    ] = False,
) -> None:
    """Submit a sweep: trainforge sweep submit sweep.yaml --wait"""
    from trainforge.cli.sweep_spec import load
    from trainforge.core import Experiment

    if not spec.is_file():
        _fail(f"{spec}: no such file")
    name = experiment
    if spec.suffix == ".py":
        from trainforge.cli.common import defined_in

        config = defined_in(spec, "hd_config", "HyperDriveConfig")
    else:
        try:
            parsed, config = load(spec)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            _fail(f"{spec}: {problems}")
        name = name or parsed.experiment
    run = Experiment(_workspace(workspace), name or "default").submit(config)
    console.print(f"submitted HyperDrive run {run.id} (experiment {run.experiment.name})")
    if wait:
        from trainforge.cli.common import _final

        _final(run, run.wait_for_completion(show_output=True, raise_on_error=False))


@sweep_app.command("show")
def sweep_show(
    run_id: str,
    workspace: WorkspaceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sweep as JSON")] = False,
) -> None:
    """Show a sweep: its child runs best first, their values, status and policy verdicts."""
    sweep = _sweep_of(workspace, run_id).model_dump(mode="json")
    run = _workspace(workspace).get_run(run_id)
    assert isinstance(run, HyperDriveRun)  # its type is registered: this module imports it
    if as_json:
        console.print_json(json.dumps(sweep, default=str))
        return
    metric = sweep["primary_metric_config"]
    console.print(
        f"HyperDrive run {run_id}: {sweep['status']} - {sweep['generator_config']['name']} sampling, "
        f"policy {sweep['policy_config']['name']}, {metric['name']} ({metric['goal']}); "
        f"{len(sweep['trials'])}/{sweep['max_total_runs']} child runs, "
        f"at most {sweep['max_concurrent_runs']} at a time"
    )
    if sweep["best_run_id"]:
        console.print(
            f"best: {sweep['best_run_id']} {metric['name']}={sweep['best_primary_metric']:.6g}"
        )
    rows = []
    for child in run.get_children_sorted_by_primary_metric():
        trial = next(t for t in sweep["trials"] if t["run_id"] == child["run_id"])
        best = child["best_primary_metric"]
        rows.append(
            [
                child["run_id"],
                child["status"],
                child["hyperparameters"] or "",
                "" if best is None else f"{best:.6g}",
                str(trial["intervals"]),
                (trial["canceled_by_policy"] or "").split(":")[0],
            ]
        )
    # Child ids differ only at their end: the table never cuts them.
    print_table(
        ["child run", "status", "hyperparameters", f"best {metric['name']}", "intervals", "note"],
        rows,
    )


@sweep_app.command("cancel")
def sweep_cancel(run_id: str, workspace: WorkspaceOption = None) -> None:
    """Cancel a sweep and every child run still queued or running."""
    ws = _workspace(workspace)
    _sweep_of(workspace, run_id)
    with sdk_errors():
        cancelled = api(ws, SweepsApi).cancel(run_id)
    console.print(f"HyperDrive run {run_id}: {cancelled.status.value}")


def _sweep_of(workspace: str | None, run_id: str) -> SweepInfo:
    """The sweep of HyperDrive run ``run_id``; a run that is none is the user's error."""
    ws = _workspace(workspace)
    ws.get_run(run_id)  # an unknown run: the SDK's own error
    with sdk_errors():
        try:
            return api(ws, SweepsApi).get(run_id)
        except ApiError as exc:
            if exc.status_code != 404:
                raise
    _fail(f"run {run_id} is not a HyperDrive run")
    raise AssertionError("unreachable: _fail exits")
