"""What every command group shares: the console, the home and workspace options."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from trainforge.client import local_server

if TYPE_CHECKING:
    from trainforge.core import Workspace

console = Console()

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="State folder (default: TRAINFORGE_HOME or ~/.trainforge)"),
]
WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (default: from config.json)")
]


def _home(home: Path | None) -> Path:
    return (home or local_server.default_home()).expanduser().resolve()


def _workspace(name: str | None) -> Workspace:
    from trainforge.core import Workspace

    if name:
        return Workspace.get(name)
    # from_config prints where it found the file; keep stdout for the command's own output.
    with contextlib.redirect_stdout(sys.stderr):
        return Workspace.from_config()


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)
