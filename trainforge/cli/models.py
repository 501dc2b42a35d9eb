"""``trainforge model ...``: register, list, show, download and delete registered models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trainforge.cli.common import WorkspaceOption, _fail, _workspace, console
from trainforge.cli.output import OutputFormat, OutputOption, emit

if TYPE_CHECKING:
    from trainforge.core.model import Model

model_app = typer.Typer(
    help="Register, list, show, download and delete models of the workspace's registry.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
VersionOption = Annotated[
    int | None, typer.Option("--version", "-v", help="Version (default: the latest)")
]
TagOption = Annotated[
    list[str] | None, typer.Option("--tag", "-t", help="key=value (repeat for more)")
]


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"{what}: {item!r} is not key=value", 2)
        found[key] = value
    return found


def _row(model: Model) -> dict[str, Any]:
    return {
        "name": model.name,
        "version": model.version,
        "framework": model.model_framework,
        "asset": model.asset_name,
        "run": model.run_id or "",
        "tags": ", ".join(f"{k}={v}" for k, v in model.tags.items()),
        "created": model.created_time.isoformat(timespec="seconds"),
    }


@model_app.command("register")
def model_register(
    path: Annotated[Path, typer.Argument(help="The model's local file or folder")],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name")],
    tag: TagOption = None,
    prop: Annotated[
        list[str] | None, typer.Option("--property", "-p", help="key=value (repeat for more)")
    ] = None,
    description: Annotated[str | None, typer.Option(help="Description")] = None,
    framework: Annotated[
        str | None, typer.Option(help="ScikitLearn, PyTorch, TensorFlow, Onnx, ... ")
    ] = None,
    framework_version: Annotated[str | None, typer.Option(help="The framework's version")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Upload a file or folder as the next version of a model (Model.register)."""
    from trainforge.core.model import Model

    model = Model.register(
        _workspace(workspace),
        model_path=str(path),
        model_name=name,
        tags=_pairs(tag, "--tag"),
        properties=_pairs(prop, "--property"),
        description=description,
        model_framework=framework,
        model_framework_version=framework_version,
    )
    console.print(f"model {model.name} version {model.version}: {model.asset_name}", markup=False)


@model_app.command("list")
def model_list(
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only this name")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="key or key=value (repeat for more)")
    ] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Only each name's latest")] = False,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Only from this run")] = None,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List registered models, newest version first within each name."""
    from trainforge.core.model import Model

    tags: list[Any] = [t.split("=", 1) if "=" in t else t for t in tag or []]
    models = Model.list(_workspace(workspace), name=name, tags=tags, latest=latest, run_id=run_id)
    if output is OutputFormat.json:
        emit([m.serialize() for m in models], output)
        return
    emit(
        [_row(m) for m in models],
        output,
        ["name", "version", "framework", "asset", "run", "tags", "created"],
        id_key="name",
    )


@model_app.command("show")
def model_show(name: str, version: VersionOption = None, workspace: WorkspaceOption = None) -> None:
    """Show one version of a model (default: the latest) as JSON."""
    from trainforge.core.model import Model

    model = Model(_workspace(workspace), name, version=version)
    typer.echo(json.dumps(model.serialize(), indent=2, default=str))


@model_app.command("download")
def model_download(
    name: str,
    version: VersionOption = None,
    target_dir: Annotated[
        Path, typer.Option("--target-dir", "-d", help="Folder to put it in")
    ] = Path("."),
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Overwrite what is there")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Download a model's file or folder; prints where it went."""
    from trainforge.core.model import Model

    model = Model(_workspace(workspace), name, version=version)
    typer.echo(model.download(str(target_dir), exist_ok=exist_ok))


@model_app.command("delete")
def model_delete(
    name: str,
    version: Annotated[int, typer.Option("--version", "-v", help="The version to delete")],
    workspace: WorkspaceOption = None,
) -> None:
    """Delete one version of a model (its number is not given again)."""
    from trainforge.core.model import Model

    Model(_workspace(workspace), name, version=version).delete()
    console.print(f"deleted model {name} version {version}", markup=False)
