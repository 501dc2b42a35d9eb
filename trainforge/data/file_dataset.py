"""FileDataset: references to files in datastores or at URLs (``azureml.data.FileDataset``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainforge.data.abstract_dataset import AbstractDataset
from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig
from trainforge.exceptions import UserErrorException
from trainforge.storage import transfer
from trainforge.storage.paths import safe_relative_path


class FileDataset(AbstractDataset):
    """Files to download, mount, or hand to a run as a folder."""

    _dataset_type = "File"

    def to_path(self) -> list[str]:
        """The files' paths relative to the dataset's base, each starting with '/'."""
        files, _ = self._files()
        return [f"/{f.relative}" for f in files]

    def download(
        self,
        target_path: str | None = None,
        overwrite: bool = False,
        ignore_not_found: bool = False,
    ) -> list[str]:
        """Download the files under ``target_path`` (a new temporary folder by default);
        returns their local paths."""
        target = Path(target_path or tempfile.mkdtemp(prefix="trainforge-dataset-"))
        files, filesystems = self._files()
        if not files and not ignore_not_found:
            raise UserErrorException("The dataset names no files that exist")
        by_store: dict[str, list[tuple[str, Path, int]]] = {}
        for f in files:
            local = target / safe_relative_path(f.relative)
            by_store.setdefault(f.datastore_name or "", []).append((f.remote, local, f.size))
        for store, pairs in by_store.items():
            transfer.download(filesystems[store], pairs, overwrite, show_progress=False)
        return [str(target / safe_relative_path(f.relative)) for f in files]

    @contextmanager
    def mount(self, mount_point: str | None = None) -> Iterator[_MountContext]:
        """A context whose ``mount_point`` holds the files while it is open."""
        folder = Path(mount_point or tempfile.mkdtemp(prefix="trainforge-mount-"))
        self.download(str(folder), overwrite=True, ignore_not_found=True)
        try:
            yield _MountContext(str(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self._default_input_name(), self).as_mount(path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self._default_input_name(), self).as_download(
            path_on_compute
        )


class _MountContext:
    def __init__(self, mount_point: str) -> None:
        self.mount_point = mount_point
