"""``trainforge environment``: registered environments and the built-environment cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trainforge.node.work_root import envs_root

environment_app = typer.Typer(
    help="List and show registered environments and the environments built on this machine.",
    no_args_is_help=True,
)
WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (default: from config.json)")
]


@environment_app.command("list")
def environment_list(workspace: WorkspaceOption = None) -> None:
    """List the registered environments, each at its latest version."""
    from trainforge.cli.common import _workspace, console
    from trainforge.core import Environment

    table = Table("name", "version", "pip packages", "conda packages", "user managed")
    for name, env in Environment.list(_workspace(workspace)).items():
        deps = env.python.conda_dependencies
        table.add_row(
            name,
            env.version or "",
            ", ".join(deps.pip_packages) if deps else "",
            ", ".join(deps.conda_packages) if deps else "",
            "yes" if env.python.user_managed_dependencies else "no",
        )
    console.print(table)


@environment_app.command("show")
def environment_show(
    name: str,
    version: Annotated[str | None, typer.Option(help="Version (default: the latest)")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show a registered environment: its definition and conda specification."""
    from trainforge.cli.common import _workspace, console
    from trainforge.core import Environment

    env = Environment.get(_workspace(workspace), name, version=version)
    definition = env._definition().model_dump(mode="json")
    console.print_json(json.dumps({"name": env.name, "version": env.version, **definition}))


@environment_app.command("cache")
def environment_cache(
    home: Annotated[
        Path | None, typer.Option("--home", help="State folder (default: TRAINFORGE_HOME)")
    ] = None,
) -> None:
    """List the environments built on this machine (beside TRAINFORGE_HOME: <home>-work/envs)."""
    from trainforge.cli.common import _home, console
    from trainforge.node.environments import READY_MARKER

    table = Table("hash", "installer", "build seconds", "requirements")
    root = envs_root(_home(home))
    for marker in sorted(root.glob(f"*/{READY_MARKER}")):
        built = json.loads(marker.read_text())
        table.add_row(
            marker.parent.name,
            built.get("installer", ""),
            str(built.get("seconds", "")),
            ", ".join(built.get("requirements", [])),
        )
    console.print(table)
