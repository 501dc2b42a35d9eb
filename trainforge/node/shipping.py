"""Shipping a run's files from the node while it runs: growing logs and changed outputs."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from trainforge.client.api.files import FilesApi
from trainforge.client.http import ApiError
from trainforge.schemas.compute import LogChunk

log = logging.getLogger("trainforge.launcher")
MAX_APPEND = 4 * 2**20


def _fenced(exc: ApiError) -> bool:
    """The server refuses this attempt's writes (superseded, or the run has ended)."""
    return exc.status_code == 409


class LogShipper:
    """Appends what each local log file gained since the last call to its run file.

    Every write names the attempt, so the server keeps each attempt's logs apart and
    refuses those of an attempt it gave up on: that ApiError (409) is raised.
    """

    def __init__(self, files: FilesApi, run_id: str, attempt: int) -> None:
        self.files = files
        self.run_id = run_id
        self.attempt = attempt
        self._files: dict[Path, str] = {}
        self._offsets: dict[Path, int] = {}
        self._created: set[Path] = set()

    def add(self, local: Path, name: str) -> None:
        self._files[local] = name
        self._offsets.setdefault(local, 0)

    def name_of(self, local: Path) -> str:
        return self._files[local]

    def ship(self) -> None:
        for local, name in self._files.items():
            self._ship_one(local, name)

    def unshipped(self, limit: int) -> list[LogChunk] | None:
        """What each log gained since it was last shipped, as chunks a report can carry;
        None when that is more than ``limit`` bytes (then ``ship`` them). ``shipped``
        records them once the report went through."""
        chunks = []
        total = 0
        for local, name in self._files.items():
            try:
                size = local.stat().st_size
            except FileNotFoundError:
                continue
            offset = self._offsets[local]
            if size == offset and (size > 0 or local in self._created):
                continue
            total += size - offset
            if total > limit:
                return None
            with open(local, "rb") as f:
                f.seek(offset)
                data = f.read(size - offset)
            # The field takes base64 (its JSON form) and holds the bytes.
            chunks.append(LogChunk(name=name, offset=offset, data=base64.b64encode(data)))
        return chunks

    def shipped(self, chunks: list[LogChunk]) -> None:
        by_name = {name: local for local, name in self._files.items()}
        for chunk in chunks:
            local = by_name[chunk.name]
            self._created.add(local)
            self._offsets[local] = chunk.offset + len(chunk.data)

    def _ship_one(self, local: Path, name: str) -> None:
        try:
            size = local.stat().st_size
        except FileNotFoundError:
            return
        offset = self._offsets[local]
        if size == 0 and local not in self._created:
            # The log exists from the start, as in Azure ML, even before the script prints.
            self._created.add(local)
            self._append(name, 0, b"")
        while offset < size:
            with open(local, "rb") as f:
                f.seek(offset)
                data = f.read(min(size - offset, MAX_APPEND))
            try:
                self._append(name, offset, data)
            except ApiError as exc:
                if _fenced(exc):
                    raise
                log.warning("could not ship %s: %s", name, exc.message)
                return
            offset += len(data)
            self._offsets[local] = offset

    def _append(self, name: str, offset: int, data: bytes) -> None:
        # Writing at an offset is idempotent: safe to send again after a lost answer.
        self.files.append(self.run_id, name, offset, data, self.attempt)


class FolderSync:
    """Uploads files of a local folder that are new or changed since the last sync."""

    def __init__(
        self, files: FilesApi, run_id: str, folder: Path, prefix: str, attempt: int
    ) -> None:
        self.files = files
        self.run_id = run_id
        self.attempt = attempt
        self.folder = folder
        self.prefix = prefix.rstrip("/")
        self._seen: dict[str, tuple[int, int]] = {}

    def sync(self) -> int:
        """Upload what changed; return how many files went up."""
        if not self.folder.is_dir():
            return 0
        uploaded = 0
        for root, _dirs, files in os.walk(self.folder):
            for file_name in files:
                path = Path(root) / file_name
                relative = path.relative_to(self.folder).as_posix()
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                stamp = (stat.st_size, stat.st_mtime_ns)
                if self._seen.get(relative) == stamp:
                    continue
                try:
                    with open(path, "rb") as body:
                        self.files.upload(
                            self.run_id, f"{self.prefix}/{relative}", body, self.attempt
                        )
                except ApiError as exc:
                    if _fenced(exc):
                        raise
                    log.warning("could not upload %s/%s: %s", self.prefix, relative, exc)
                    continue
                except OSError as exc:
                    log.warning("could not upload %s/%s: %s", self.prefix, relative, exc)
                    continue
                self._seen[relative] = stamp
                uploaded += 1
        return uploaded
