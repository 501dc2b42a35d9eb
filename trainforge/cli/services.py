"""``trainforge service ...``: list, show, follow the logs of, and delete scoring services."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from trainforge.cli.common import WorkspaceOption, _workspace, console
from trainforge.cli.output import OutputFormat, OutputOption, emit

service_app = typer.Typer(
    help="List, show, read the logs of and delete scoring services (Model.deploy).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@service_app.command("list")
def service_list(
    workspace: WorkspaceOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """List the workspace's services with their state and scoring URI."""
    from trainforge.core.webservice import Webservice

    services = Webservice.list(_workspace(workspace))
    if output is OutputFormat.json:
        emit([s.serialize() for s in services], output)
        return
    rows = [
        {
            "name": s.name,
            "kind": s.compute_type,
            "state": s.state,
            "models": ", ".join(s.serialize()["models"]),
            "scoring uri": s.scoring_uri,
        }
        for s in services
    ]
    emit(rows, output, ["name", "kind", "state", "models", "scoring uri"], id_key="name")


@service_app.command("show")
def service_show(name: str, workspace: WorkspaceOption = None) -> None:
    """Show one service as JSON."""
    from trainforge.core.webservice import Webservice

    typer.echo(json.dumps(Webservice(_workspace(workspace), name).serialize(), indent=2))


@service_app.command("logs")
def service_logs(
    name: str,
    num_lines: Annotated[int, typer.Option("--num-lines", "-n", help="How many lines")] = 5000,
    workspace: WorkspaceOption = None,
) -> None:
    """The end of a service's log (its host and scoring process), then its request counts."""
    from trainforge.core.webservice import Webservice

    typer.echo(Webservice(_workspace(workspace), name).get_logs(num_lines=num_lines), nl=False)


@service_app.command("delete")
def service_delete(name: str, workspace: WorkspaceOption = None) -> None:
    """Stop a service and remove it."""
    from trainforge.core.webservice import Webservice

    Webservice(_workspace(workspace), name).delete()
    console.print(f"deleted service {name}", markup=False)
