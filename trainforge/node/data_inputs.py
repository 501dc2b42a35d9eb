"""A run's data on a node: data references and dataset inputs made local before the
processes start (``$AZUREML_DATAREFERENCE_<name>``, dataset input variables), and
``as_upload`` folders sent back when they end.

"Mount" of a local datastore is its folder itself, bound read-only into the processes'
view (``read_only_view``), never copied. "Mount" of a remote
store (Blob, S3) is a node cache under ``<work root>/cache/datastores``: filled on
first use, brought up to date (by size and ETag) and reused by every later run on the node.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from glob import has_magic  # type: ignore[attr-defined]
from pathlib import Path

import fsspec
from filelock import FileLock

from trainforge.client.api.datastores import DatastoresApi
from trainforge.client.http import TrainforgeClient
from trainforge.node import read_only_view
from trainforge.schemas.datastores import (
    DATASET_TOKEN,
    REFERENCE_TOKEN,
    DataReferenceSpec,
    DatasetInputSpec,
    DatasetPath,
    StorageAccess,
)
from trainforge.schemas.runs import RunDefinition
from trainforge.storage import dataset_files, transfer
from trainforge.storage.locations import datastore_path, join, open_filesystem
from trainforge.storage.paths import safe_relative_path

MANIFEST = ".trainforge-cache.json"


class DataPreparationError(Exception):
    """A data input could not be made local; the message is the run's error."""


class NodeCache:
    """Node-local copies of remote datastore files, shared by the runs of a node."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, datastore_name: str) -> Path:
        return self.root / datastore_name.lower()

    def materialize(
        self,
        datastore_name: str,
        fs: fsspec.AbstractFileSystem,
        store_root: str,
        files: dict[str, transfer.RemoteFile],
    ) -> dict[str, Path]:
        """The cached path of each remote file, downloading what is new or changed."""
        folder = self.folder(datastore_name)
        folder.mkdir(parents=True, exist_ok=True)
        base = fs._strip_protocol(store_root).rstrip("/")
        local = {
            remote: folder / safe_relative_path(remote[len(base) :].lstrip("/")) for remote in files
        }
        # Two runs filling the same store's cache take turns; the second finds it filled.
        with FileLock(str(folder / ".lock")):
            manifest_path = folder / MANIFEST
            manifest: dict[str, list[object]] = (
                json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
            )
            stale = [
                (remote, local[remote], info.size)
                for remote, info in files.items()
                if manifest.get(remote) != [info.size, info.version] or not local[remote].exists()
            ]
            transfer.download(fs, stale, overwrite=True, show_progress=False)
            for remote, info in files.items():
                manifest[remote] = [info.size, info.version]
            partial = manifest_path.with_suffix(".partial")
            partial.write_text(json.dumps(manifest))
            os.replace(partial, manifest_path)
        return local


class RunData:
    """Prepares one run attempt's data on this node and uploads its outputs."""

    def __init__(
        self,
        client: TrainforgeClient,
        workspace: str,
        work_dir: Path,
        cache: NodeCache,
        log: Callable[[str], None],
        mounts_dir: Path,
    ) -> None:
        self.client = client
        self.workspace = workspace
        self.work_dir = work_dir
        self.cache = cache
        self.log = log
        self.mounts_dir = mounts_dir
        # Local datastore folders the processes see read-only: source -> mount point.
        self.read_only_binds: dict[Path, Path] = {}
        self.accesses: dict[str, StorageAccess] = {}
        self.uploads: list[tuple[DataReferenceSpec, Path]] = []
        self.dataset_paths: dict[str, str] = {}

    def access(self, datastore_name: str) -> StorageAccess:
        if datastore_name not in self.accesses:
            self.accesses[datastore_name] = DatastoresApi(self.client, self.workspace).access(
                datastore_name
            )
        return self.accesses[datastore_name]

    # -- before the processes ------------------------------------------------------------
    def prepare(self, definition: RunDefinition) -> dict[str, str]:
        """Make every input local; returns the variables that point the processes at them."""
        try:
            return self._prepare(definition)
        except Exception as exc:
            raise DataPreparationError(f"Preparing the run's data failed: {exc}") from exc

    def _prepare(self, definition: RunDefinition) -> dict[str, str]:
        env: dict[str, str] = {}
        for name, ref in definition.data_references.items():
            env[f"AZUREML_DATAREFERENCE_{name}"] = str(self._reference(name, ref))
        for name, spec in definition.datasets.items():
            value = self._dataset(name, spec)
            env[name] = value
            self.dataset_paths[name] = value
        if definition.datasets:
            env["AZUREML_DATASET_ENVIRONMENT_VARS"] = ",".join(
                f"{name}:{name}" for name in definition.datasets
            )
        return env

    def expand(self, arguments: list[str], env: dict[str, str]) -> list[str]:
        """Arguments with data tokens replaced by local paths (``$VARS`` are the launcher's)."""
        expanded = []
        for arg in arguments:
            for name, value in self.dataset_paths.items():
                arg = arg.replace(f"{DATASET_TOKEN}{name}", value)
            for key, value in env.items():
                if key.startswith("AZUREML_DATAREFERENCE_"):
                    arg = arg.replace(f"{REFERENCE_TOKEN}{key[22:]}", value)
            expanded.append(arg)
        return expanded

    def _reference(self, name: str, ref: DataReferenceSpec) -> Path:
        access = self.access(ref.datastore_name)
        path = datastore_path(ref.path_on_datastore)
        if ref.mode == "upload":
            local = self._on_compute(ref.path_on_compute or path or ref.datastore_name)
            local.mkdir(parents=True, exist_ok=True)
            self.uploads.append((ref, local))
            self.log(
                f"Data reference {name}: {local} is uploaded to {ref.datastore_name}/{path} at the end"
            )
            return local
        fs = open_filesystem(access)
        found = transfer.list_files(fs, join(access.root, path))
        if not found and ref.allow_empty:
            local = self._on_compute(ref.path_on_compute or path or ref.datastore_name)
            local.mkdir(parents=True, exist_ok=True)
            self.log(f"Data reference {name}: {path} on {ref.datastore_name} is empty; {local}")
            return local
        if not found:
            raise FileNotFoundError(
                f"Data reference {name}: nothing at {path or '/'} on datastore {ref.datastore_name}"
            )
        target = fs._strip_protocol(join(access.root, path)).rstrip("/")
        single_file = len(found) == 1 and next(iter(found)) == target
        if ref.mode == "mount":
            if access.storage_kind == "local":
                local = self._read_only_root(ref.datastore_name, access) / path
                self.log(f"Data reference {name}: {local} (local datastore, read in place)")
                return local
            cached = self.cache.materialize(ref.datastore_name, fs, access.root, found)
            local = (
                self.cache.folder(ref.datastore_name) / path
                if path
                else self.cache.folder(ref.datastore_name)
            )
            self.log(f"Data reference {name}: {len(cached)} files cached at {local}")
            return local
        # download
        default = (path.rpartition("/")[0] if single_file else path) or ref.datastore_name
        folder = self._on_compute(ref.path_on_compute or default)
        base = target.rpartition("/")[0] if single_file else target
        pairs = [
            (remote, folder / safe_relative_path(remote[len(base) :].lstrip("/")), info.size)
            for remote, info in found.items()
        ]
        transfer.download(fs, pairs, overwrite=True, show_progress=False)
        self.log(f"Data reference {name}: {len(pairs)} files downloaded to {folder}")
        return pairs[0][1] if single_file else folder

    def _dataset(self, name: str, spec: DatasetInputSpec) -> str:
        if spec.mode == "direct":
            return spec.dataset_id or ""
        files, filesystems = dataset_files.resolve(spec.definition, self.access)
        if not files:
            raise FileNotFoundError(f"Dataset input {name}: the dataset names no files that exist")
        folder = self._on_compute(spec.path_on_compute or f"azureml_datasets/{name}")
        if spec.mode == "download":
            pairs_by_store: dict[str, list[tuple[str, Path, int]]] = {}
            for f in files:
                local = folder / safe_relative_path(f.relative)
                pairs_by_store.setdefault(f.datastore_name or "", []).append(
                    (f.remote, local, f.size)
                )
            for store, pairs in pairs_by_store.items():
                transfer.download(filesystems[store], pairs, overwrite=True, show_progress=False)
            self.log(f"Dataset input {name}: {len(files)} files downloaded to {folder}")
        else:
            sources = self._mounted_sources(files, filesystems)
            # The dataset's view: links to files read in place or cached, at their relative paths.
            for f in files:
                link = folder / safe_relative_path(f.relative)
                link.parent.mkdir(parents=True, exist_ok=True)
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(sources[f.remote])
            self.log(f"Dataset input {name}: {len(files)} files mounted at {folder}")
        single = (
            len(spec.definition.paths) == 1
            and len(files) == 1
            and "/" not in files[0].relative
            and not _names_a_folder(spec.definition.paths[0], files[0])
        )
        return str(folder / files[0].relative) if single else str(folder)

    def _mounted_sources(
        self,
        files: list[dataset_files.DatasetFile],
        filesystems: dict[str, fsspec.AbstractFileSystem],
    ) -> dict[str, Path]:
        sources: dict[str, Path] = {}
        by_store: dict[str, dict[str, transfer.RemoteFile]] = {}
        for f in files:
            if f.datastore_name is None:
                by_store.setdefault("", {})[f.remote] = transfer.RemoteFile(f.size, "")
            elif (access := self.access(f.datastore_name)).storage_kind == "local":
                root = self._read_only_root(f.datastore_name, access)
                sources[f.remote] = root / Path(f.remote).relative_to(access.root)
            else:
                by_store.setdefault(f.datastore_name, {})[f.remote] = transfer.RemoteFile(
                    f.size, f.version
                )
        for store, wanted in by_store.items():
            if store == "":
                folder = self.work_dir / "azureml_datasets" / ".urls"
                pairs = [
                    (url, folder / Path(url.split("?")[0]).name, i.size)
                    for url, i in wanted.items()
                ]
                transfer.download(filesystems[""], pairs, overwrite=True, show_progress=False)
                sources.update({url: local for url, local, _ in pairs})
                continue
            access = self.access(store)
            sources.update(self.cache.materialize(store, filesystems[store], access.root, wanted))
        return sources

    def _read_only_root(self, datastore_name: str, access: StorageAccess) -> Path:
        """Where the processes find a local datastore's folder: a read-only bind of it
        (no copy) where this node allows mount namespaces, else the folder itself."""
        source = Path(access.root)
        if not read_only_view.available():
            if source not in self.read_only_binds:
                self.read_only_binds[source] = source
                self.log(
                    f"Datastore {datastore_name}: read in place at {source}; this node cannot make "
                    "mount namespaces, so writes there are not prevented"
                )
            return source
        mount = self.read_only_binds.get(source)
        if mount is None:
            mount = self.mounts_dir / datastore_name.lower()
            mount.mkdir(parents=True, exist_ok=True)
            self.read_only_binds[source] = mount
            self.log(f"Datastore {datastore_name}: {source} mounted read-only at {mount}")
        return mount

    def binds(self) -> dict[Path, Path]:
        """The read-only binds the processes need (none where they read in place)."""
        return {s: m for s, m in self.read_only_binds.items() if s != m}

    def _on_compute(self, path: str) -> Path:
        return self.work_dir / safe_relative_path(path.strip(), "path_on_compute")

    # -- after the processes -------------------------------------------------------------
    def upload_outputs(self) -> None:
        """Send each ``as_upload`` folder to its datastore path."""
        for ref, local in self.uploads:
            access = self.access(ref.datastore_name)
            fs = open_filesystem(access)
            target = datastore_path(ref.path_on_datastore)
            files = sorted(p for p in local.rglob("*") if p.is_file())
            pairs = [(f, join(access.root, target, f.relative_to(local).as_posix())) for f in files]
            report = transfer.upload(fs, pairs, ref.overwrite, show_progress=False)
            self.log(
                f"Uploaded {len(report.transferred)} files from {local} to "
                f"{ref.datastore_name}/{target} ({len(report.skipped)} existed already)"
            )


def _names_a_folder(entry: DatasetPath, found: dataset_files.DatasetFile) -> bool:
    """Whether a dataset's path names a folder (that holds the one file found), not the
    file itself: its folder is what the run gets then, as for a step's output folder."""
    if entry.datastore_name is None or has_magic(entry.path):
        return False
    path = datastore_path(entry.path).rstrip("/")
    inside = f"{path}/{found.relative}"
    return bool(path) and (found.remote == inside or found.remote.endswith(f"/{inside}"))
