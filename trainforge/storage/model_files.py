"""The files of registered models: ``<root>/<name>/<version>/<asset name>`` (a file or a
folder), filled once from an upload or from a run's files and never changed after.

Uploads are staged under ``<root>/.uploads/<upload id>/`` and moved into their version's
folder in one rename, so a version's folder is whole or absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import fsspec

from trainforge.storage.artifacts import ArtifactStore
from trainforge.storage.paths import safe_relative_path

UPLOADS = ".uploads"


class ModelFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.fs = fsspec.filesystem("file")

    def staging(self, upload_id: str) -> ArtifactStore:
        """Where the files of upload ``upload_id`` are written before it is registered."""
        return ArtifactStore(str(self.root / UPLOADS / upload_id))

    def version_dir(self, name: str, version: int) -> Path:
        return self.root / safe_relative_path(name, "name") / str(version)

    def store(self, name: str, version: int) -> ArtifactStore:
        """The version's files, read-only by convention."""
        return ArtifactStore(str(self.version_dir(name, version)))

    def commit_upload(self, upload_id: str, asset_name: str, name: str, version: int) -> Path:
        """Move upload ``upload_id`` (which holds ``asset_name``) into its version; the
        asset's path. FileNotFoundError when the upload holds no ``asset_name``."""
        staged = self.root / UPLOADS / upload_id
        if not (staged / asset_name).exists():
            raise FileNotFoundError(asset_name)
        dest = self.version_dir(name, version)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():  # a version whose registration failed before its commit
            shutil.rmtree(dest)
        staged.replace(dest)
        return dest / asset_name

    def copy_in(self, source: ArtifactStore, path: str, name: str, version: int) -> Path:
        """Copy the file or folder ``path`` of ``source`` (a run's files) into the version,
        under its base name; the asset's path. FileNotFoundError when ``path`` is absent."""
        origin = source.path(path)
        if not self.fs.exists(origin):
            raise FileNotFoundError(path)
        dest = self.version_dir(name, version)
        if dest.exists():
            shutil.rmtree(dest)
        partial = dest.with_name(f".{version}.partial")
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        target = partial / Path(path).name
        if self.fs.isdir(origin):
            shutil.copytree(origin, target, ignore=shutil.ignore_patterns(".partial-*"))
        else:
            shutil.copy2(origin, target)
        partial.replace(dest)
        return dest / Path(path).name

    def remove(self, name: str, version: int) -> None:
        shutil.rmtree(self.version_dir(name, version), ignore_errors=True)

    def discard_upload(self, upload_id: str) -> None:
        shutil.rmtree(self.root / UPLOADS / upload_id, ignore_errors=True)


def measure(asset: Path) -> tuple[int, int]:
    """(bytes, files) of a file or folder."""
    if asset.is_file():
        return asset.stat().st_size, 1
    files = [p for p in asset.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)
