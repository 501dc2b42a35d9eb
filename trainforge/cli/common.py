"""What every command group shares: the consoles, the home and workspace options, errors.

Exit codes (``trainforge --help`` lists them): 0 done; 1 an error, or the run failed or
was canceled; 2 a usage error; 3 no server could be reached or started. Errors go to
stderr as one line ``error: ...``.
"""

from __future__ import annotations

import contextlib
import io
import runpy
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import httpx
import typer
from rich.console import Console
from typer.core import TyperGroup

from trainforge.client import local_server
from trainforge.client.http import ApiError
from trainforge.exceptions import AzureMLException, UserErrorException
from trainforge.schemas.settings import default_home

if TYPE_CHECKING:
    from trainforge.core import Workspace

console = Console()
errors = Console(stderr=True)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_SERVER = 3
EXIT_CODES = (
    "Exit codes: 0 done; 1 an error, or the run failed or was canceled; 2 a usage error; "
    "3 no trainforge server could be reached or started."
)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="State folder (default: TRAINFORGE_HOME or ~/.trainforge)"),
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace", "-w", help="Workspace name (default: the one .azureml/config.json names)"
    ),
]
NO_CONFIG_HINT = (
    "no workspace given and no config.json found here or above. Pass -w NAME "
    "(trainforge workspace list shows them), or write a config into this folder: "
    "trainforge workspace create NAME --exist-ok --write-config ."
)


def _home(home: Path | None) -> Path:
    return (home or default_home()).expanduser().resolve()


def _workspace(name: str | None) -> Workspace:
    from trainforge.core import Workspace

    if name:
        return Workspace.get(name)
    # from_config prints where it found the file: not part of any command's output.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return Workspace.from_config()
        except UserErrorException as exc:
            if "could not find config" in exc.message:
                _fail(NO_CONFIG_HINT, EXIT_USAGE)
            raise


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    errors.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def defined_in(path: Path, variable: str, what: str) -> Any:
    """Run a user's Python file and return what it names ``variable`` (the one error line
    when it names nothing so)."""
    found = runpy.run_path(str(path), run_name="__trainforge_cli__").get(variable)
    if found is None:
        _fail(f"{path}: define the {what} to submit as a variable named {variable}")
    return found


def _error_line(error: dict[str, Any] | None) -> str:
    """The first line of a run's error: the traceback is in the log the user just saw."""
    message = ((error or {}).get("error") or {}).get("message") or "no error details"
    return message.strip().splitlines()[0]


def _final(run: Any, details: dict[str, Any]) -> None:
    """Say how the run ended; exit 1 unless it completed."""
    status = details["status"]
    console.print(f"run {run.id}: {status}", highlight=False, soft_wrap=True)
    if status == "Completed":
        return
    if status == "Failed":
        _fail(f"run {run.id} failed: {_error_line(details.get('error'))}")
    _fail(f"run {run.id} was {status.lower()}")


class TrainforgeGroup(TyperGroup):
    """The top command group: any error a command lets through ends as one ``error:``
    line on stderr with its exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except local_server.ServerStartError as exc:
            # The message ends with the server log's tail: its first line and the error
            # the server died of are the line; the traceback stays in server.log.
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            said = lines[0].rstrip(":") + (f": {lines[-1]}" if len(lines) > 1 else "")
            _fail(f"{said} (the whole story is in server.log of the home)", EXIT_NO_SERVER)
        except httpx.TransportError as exc:
            _fail(
                f"cannot reach the trainforge server ({exc}); start it with trainforge up",
                EXIT_NO_SERVER,
            )
        except AzureMLException as exc:
            _fail(f"{type(exc).__name__}: {exc.message}")
        except ApiError as exc:
            _fail(exc.message)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
