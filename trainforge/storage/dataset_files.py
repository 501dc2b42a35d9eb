"""Which files a dataset definition names: its datastore paths (globs allowed) and URLs
resolved to concrete files, each with the path a consumer sees it under."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from glob import has_magic  # type: ignore[attr-defined]
from typing import Any

import fsspec

from trainforge.schemas.datastores import DatasetDefinition, StorageAccess
from trainforge.storage import transfer
from trainforge.storage.locations import datastore_path, join, open_filesystem


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset: where it lives and its path relative to the dataset's base."""

    datastore_name: str | None
    remote: str
    relative: str
    size: int
    version: str = ""


def resolve(
    definition: DatasetDefinition, access_for: Callable[[str], StorageAccess]
) -> tuple[list[DatasetFile], dict[str, fsspec.AbstractFileSystem]]:
    """The dataset's files (in a stable order) and the filesystem of each datastore used."""
    filesystems: dict[str, fsspec.AbstractFileSystem] = {}
    files: list[DatasetFile] = []
    for entry in definition.paths:
        if entry.url is not None:
            fs = filesystems.setdefault("", fsspec.filesystem("http"))
            name = posixpath.basename(entry.url.split("?", 1)[0]) or "data"
            files.append(DatasetFile(None, entry.url, name, int(fs.size(entry.url) or 0)))
            continue
        assert entry.datastore_name is not None
        access = access_for(entry.datastore_name)
        fs = filesystems.setdefault(entry.datastore_name, open_filesystem(access))
        root = fs._strip_protocol(access.root).rstrip("/")
        path = datastore_path(entry.path)
        if has_magic(path):
            base = _static_prefix(path)
            found = {
                fs._strip_protocol(name): transfer.RemoteFile(
                    int(info.get("size") or 0), transfer.version_of(info)
                )
                for name, info in fs.glob(join(root, path), detail=True).items()
                if info.get("type") != "directory"
            }
        else:
            target = join(root, path)
            found = transfer.list_files(fs, target)
            is_file = len(found) == 1 and next(iter(found)) == fs._strip_protocol(target)
            base = posixpath.dirname(path) if is_file else path
        prefix = join(root, base)
        for remote, info in sorted(found.items()):
            relative = remote[len(prefix) :].lstrip("/") if prefix else remote
            files.append(
                DatasetFile(entry.datastore_name, remote, relative, info.size, info.version)
            )
    return files, filesystems


def read_table(
    definition: DatasetDefinition,
    files: list[DatasetFile],
    filesystems: dict[str, fsspec.AbstractFileSystem],
) -> Any:
    """A tabular dataset's files read as one pandas DataFrame (a ``Path`` column first
    when ``include_path``): what ``TabularDataset.to_pandas_dataframe`` gives, and what the
    control plane reads of an AutoMLStep's training data."""
    import pandas as pd

    frames = []
    for f in files:
        with filesystems[f.datastore_name or ""].open(f.remote, "rb") as handle:
            frame = pd.read_csv(
                handle,
                sep=definition.separator,
                header=0 if definition.header else None,
                encoding=definition.encoding,
            )
        if definition.include_path:
            frame.insert(0, "Path", f"/{f.relative}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _static_prefix(pattern: str) -> str:
    """The folders of a glob before its first wildcard."""
    parts = pattern.split("/")
    static = []
    for part in parts[:-1]:
        if has_magic(part):
            break
        static.append(part)
    return "/".join(static)
