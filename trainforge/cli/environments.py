"""``trainforge environment``: registered environments and the built-environment cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from trainforge.cli.output import OutputFormat, OutputOption, emit
from trainforge.node.work_root import work_root

environment_app = typer.Typer(
    help="List and show registered environments and the environments built on this machine.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (default: from config.json)")
]


@environment_app.command("list")
def environment_list(
    workspace: WorkspaceOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """List the registered environments, each at its latest version."""
    from trainforge.cli.common import _workspace
    from trainforge.core import Environment

    rows = []
    for name, env in Environment.list(_workspace(workspace)).items():
        deps = env.python.conda_dependencies
        rows.append(
            {
                "name": name,
                "version": env.version or "",
                "pip packages": ", ".join(deps.pip_packages) if deps else "",
                "conda packages": ", ".join(deps.conda_packages) if deps else "",
                "user managed": "yes" if env.python.user_managed_dependencies else "no",
            }
        )
    emit(rows, output)


@environment_app.command("show")
def environment_show(
    name: str,
    version: Annotated[str | None, typer.Option(help="Version (default: the latest)")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show a registered environment: its definition and conda specification."""
    from trainforge.cli.common import _workspace
    from trainforge.core import Environment

    env = Environment.get(_workspace(workspace), name, version=version)
    definition = env._definition().model_dump(mode="json")
    typer.echo(json.dumps({"name": env.name, "version": env.version, **definition}, indent=2))


@environment_app.command("cache")
def environment_cache(
    home: Annotated[
        Path | None, typer.Option("--home", help="State folder (default: TRAINFORGE_HOME)")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the environments built on this machine, per workspace (beside TRAINFORGE_HOME:
    <home>-work/workspaces/<ws>/envs)."""
    from trainforge.cli.common import _home
    from trainforge.node.environments import READY_MARKER

    rows = []
    workspaces = work_root(_home(home)) / "workspaces"
    for marker in sorted(workspaces.glob(f"*/envs/*/{READY_MARKER}")):
        built = json.loads(marker.read_text())
        rows.append(
            {
                "workspace": marker.parent.parent.parent.name,
                "hash": marker.parent.name,
                "installer": built.get("installer", ""),
                "build seconds": built.get("seconds", ""),
                "requirements": ", ".join(built.get("requirements", [])),
            }
        )
    emit(rows, output, ["workspace", "hash", "installer", "build seconds", "requirements"])
