"""``trainforge datastore ...``: register datastores and move data to and from them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from trainforge.cli.common import WorkspaceOption, _fail, _workspace, console
from trainforge.cli.output import OutputFormat, OutputOption, emit
from trainforge.core.datastore import info_of
from trainforge.exceptions import AzureMLException

datastore_app = typer.Typer(
    help="Register datastores, list their files, upload and download.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
DatastoreOption = Annotated[
    str | None, typer.Option("--datastore", "-d", help="Datastore name (default: the default)")
]


class Kind(StrEnum):
    blob = "blob"
    s3 = "s3"
    local = "local"


def _store(workspace: str | None, name: str | None):  # type: ignore[no-untyped-def]
    from trainforge.core import Datastore

    ws = _workspace(workspace)
    return Datastore(ws, name)


def _location(store) -> str:  # type: ignore[no-untyped-def]
    info = info_of(store)
    if info.storage_kind == "s3":
        return f"s3://{info.bucket_name}" + (f" ({info.endpoint_url})" if info.endpoint_url else "")
    if info.storage_kind == "local":
        return info.path or ""
    return f"{info.account_name} / {info.container_name} ({info.endpoint})"


@datastore_app.command("list")
def datastore_list(
    workspace: WorkspaceOption = None, output: OutputOption = OutputFormat.table
) -> None:
    """The workspace's datastores (credentials are never shown)."""
    try:
        stores = _workspace(workspace).datastores
    except AzureMLException as exc:
        _fail(str(exc))
    rows = [
        {
            "name": name,
            "type": store.datastore_type,
            "where": _location(store),
            "credential": store.credential_type,
            "default": "yes" if info_of(store).is_default else "",
        }
        for name, store in sorted(stores.items())
    ]
    emit(rows, output)


@datastore_app.command("files")
def datastore_files(
    name: Annotated[str | None, typer.Argument(help="Datastore (default: the default one)")] = None,
    prefix: Annotated[str | None, typer.Option(help="Only paths that start so")] = None,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the files on a datastore, with their sizes."""
    try:
        _fs, found = _store(workspace, name)._files(prefix)
    except AzureMLException as exc:
        _fail(str(exc))
    emit(
        [{"path": path, "bytes": size} for _remote, path, size in found], output, ["path", "bytes"]
    )


@datastore_app.command("show")
def datastore_show(name: str, workspace: WorkspaceOption = None) -> None:
    """One datastore, as JSON (without credentials)."""
    try:
        store = _store(workspace, name)
    except AzureMLException as exc:
        _fail(str(exc))
    console.print_json(info_of(store).model_dump_json())


@datastore_app.command("upload")
def datastore_upload(
    src_dir: Annotated[Path, typer.Argument(help="Local folder to upload")],
    target_path: Annotated[str | None, typer.Option(help="Folder on the datastore")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace files that exist")] = False,
    datastore: DatastoreOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Upload a folder, in parallel, with a progress bar."""
    try:
        _store(workspace, datastore).upload(
            str(src_dir), target_path, overwrite, show_progress=True
        )
    except AzureMLException as exc:
        _fail(str(exc))


@datastore_app.command("download")
def datastore_download(
    target_path: Annotated[Path, typer.Argument(help="Local folder to download into")],
    prefix: Annotated[str | None, typer.Option(help="Only files whose path starts so")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace local files that exist")] = False,
    datastore: DatastoreOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Download files (their datastore paths kept under TARGET_PATH)."""
    try:
        _store(workspace, datastore).download(
            str(target_path), prefix, overwrite, show_progress=True
        )
    except AzureMLException as exc:
        _fail(str(exc))


@datastore_app.command("register")
def datastore_register(
    name: str,
    kind: Annotated[Kind, typer.Option("--kind", help="What the datastore is")],
    container: Annotated[str | None, typer.Option(help="Blob container")] = None,
    account_name: Annotated[str | None, typer.Option(help="Storage account")] = None,
    account_key: Annotated[
        str | None, typer.Option(envvar="TRAINFORGE_ACCOUNT_KEY", help="Account key")
    ] = None,
    sas_token: Annotated[
        str | None, typer.Option(envvar="TRAINFORGE_SAS_TOKEN", help="SAS token instead of a key")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Endpoint suffix, or an emulator URL such as Azurite's")
    ] = None,
    bucket: Annotated[str | None, typer.Option(help="S3 bucket")] = None,
    access_key_id: Annotated[
        str | None, typer.Option(envvar="AWS_ACCESS_KEY_ID", help="S3 access key id")
    ] = None,
    secret_access_key: Annotated[
        str | None, typer.Option(envvar="AWS_SECRET_ACCESS_KEY", help="S3 secret key")
    ] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="S3 endpoint (MinIO, moto...)")] = None,
    region: Annotated[str | None, typer.Option(help="S3 region")] = None,
    path: Annotated[Path | None, typer.Option(help="Local folder")] = None,
    create_if_not_exists: Annotated[
        bool, typer.Option(help="Create the container, bucket or folder if it is missing")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a datastore of that name")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Register a blob container, an S3 bucket or a local folder. Secrets may come from
    TRAINFORGE_ACCOUNT_KEY, TRAINFORGE_SAS_TOKEN or AWS_* variables instead of options."""
    from trainforge.core import Datastore

    try:
        ws = _workspace(workspace)
        if kind is Kind.blob:
            if not container or not account_name:
                _fail("--container and --account-name are required for a blob datastore")
            store = Datastore.register_azure_blob_container(
                ws, name, container or "", account_name or "", sas_token=sas_token,
                account_key=account_key, endpoint=endpoint,
                create_if_not_exists=create_if_not_exists, overwrite=overwrite,
            )  # fmt: skip
        elif kind is Kind.s3:
            if not bucket:
                _fail("--bucket is required for an s3 datastore")
            store = Datastore.register_s3(
                ws, name, bucket or "", access_key_id, secret_access_key, endpoint_url=endpoint_url,
                region=region, create_if_not_exists=create_if_not_exists, overwrite=overwrite,
            )  # fmt: skip
        else:
            if path is None:
                _fail("--path is required for a local datastore")
            store = Datastore.register_local_folder(
                ws, name, str(path), overwrite=overwrite, create_if_not_exists=create_if_not_exists
            )
    except AzureMLException as exc:
        _fail(str(exc))
    console.print(f"registered datastore {store.name} ({store.datastore_type}: {_location(store)})")


@datastore_app.command("unregister")
def datastore_unregister(name: str, workspace: WorkspaceOption = None) -> None:
    """Forget a datastore (its data stays where it is)."""
    try:
        _store(workspace, name).unregister()
    except AzureMLException as exc:
        _fail(str(exc))
    console.print(f"unregistered datastore {name}")
