"""``Dataset.File`` and ``Dataset.Tabular``: building datasets from paths
(``azureml.data.dataset_factory``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainforge.exceptions import UserErrorException
from trainforge.schemas.datastores import DatasetDefinition, DatasetPath
from trainforge.storage.locations import datastore_path
from trainforge.storage.paths import UnsafePathError

if TYPE_CHECKING:
    from trainforge.client.api import HasWorkspace as Workspace
    from trainforge.data.file_dataset import FileDataset
    from trainforge.data.tabular_dataset import TabularDataset


def _paths(path: Any) -> tuple[list[DatasetPath], Workspace | None]:
    """The SDK's path forms: ``(datastore, 'rel/path')``, a list of them, ``datastore.path(...)``,
    a DataPath, or an http(s) URL."""
    from trainforge.data.data_reference import DataReference
    from trainforge.data.datapath import DataPath
    from trainforge.data.datastore import Datastore

    items = path if isinstance(path, list) else [path]
    if not items:
        raise UserErrorException("path: give at least one path")
    found: list[DatasetPath] = []
    workspace = None
    for item in items:
        if isinstance(item, str) and item.startswith(("http://", "https://")):
            found.append(DatasetPath(url=item))
            continue
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore):
            store, relative = item
        elif isinstance(item, DataReference | DataPath):
            store, relative = item.datastore, item.path_on_datastore or ""
        elif isinstance(item, Datastore):
            store, relative = item, ""
        else:
            raise UserErrorException(
                f"path: {item!r} is not allowed; use (datastore, 'relative/path'), "
                "datastore.path('...'), a DataPath or an http(s) URL"
            )
        try:
            relative = datastore_path(relative, "path")
        except UnsafePathError as exc:
            raise UserErrorException(str(exc)) from None
        found.append(DatasetPath(datastore_name=store.name, path=relative))
        workspace = store.workspace
    return found, workspace


class FileDatasetFactory:
    """``Dataset.File``."""

    @staticmethod
    def from_files(
        path: Any, validate: bool = True, partition_format: str | None = None, is_file: bool = False
    ) -> FileDataset:
        """A FileDataset of the files at ``path`` (folders include everything below them)."""
        from trainforge.data.file_dataset import FileDataset

        paths, workspace = _paths(path)
        dataset = FileDataset(DatasetDefinition(dataset_type="File", paths=paths), workspace)
        if validate and workspace is not None and not dataset._files()[0]:
            raise UserErrorException(f"path: no files found at {path!r}")
        return dataset

    @staticmethod
    def upload_directory(
        src_dir: str,
        target: Any,
        pattern: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> FileDataset:
        """Upload ``src_dir`` (files matching ``pattern``) to ``target`` and return a
        FileDataset of what is there."""
        from trainforge.data.datapath import DataPath
        from trainforge.data.datastore import Datastore

        if isinstance(target, DataPath):
            store, target_path = target.datastore, target.path_on_datastore
        elif isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], Datastore):
            store, target_path = target
        else:
            raise UserErrorException("target: use (datastore, 'path') or a DataPath")
        source = Path(src_dir)
        if not source.is_dir():
            raise UserErrorException(f"src_dir: {src_dir!r} is not a folder")
        files = sorted(p for p in source.rglob(pattern or "*") if p.is_file())
        store._upload(files, source, target_path, overwrite, show_progress)
        return FileDatasetFactory.from_files((store, target_path or ""))


class TabularDatasetFactory:
    """``Dataset.Tabular``."""

    @staticmethod
    def from_delimited_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        infer_column_types: bool = True,
        set_column_types: dict[str, Any] | None = None,
        separator: str = ",",
        header: bool = True,
        partition_format: str | None = None,
        support_multi_line: bool = False,
        empty_as_string: bool = False,
        encoding: str = "utf8",
    ) -> TabularDataset:
        """A TabularDataset of delimited files (CSV by default) at ``path``."""
        from trainforge.data.tabular_dataset import TabularDataset

        if not separator:
            raise UserErrorException("separator: give a non-empty separator")
        paths, workspace = _paths(path)
        definition = DatasetDefinition(
            dataset_type="Tabular",
            paths=paths,
            separator=separator,
            header=bool(header),
            encoding=encoding,
            include_path=include_path,
        )
        dataset = TabularDataset(definition, workspace)
        if validate and workspace is not None and not dataset._files()[0]:
            raise UserErrorException(f"path: no files found at {path!r}")
        return dataset
