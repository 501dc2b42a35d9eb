"""A run's files (outputs, logs, uploads) on an fsspec filesystem, written atomically."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import fsspec

from trainforge.exceptions import UserErrorException
from trainforge.storage.paths import safe_relative_path

CHUNK = 1 << 20


class PathConflict(UserErrorException):
    """A file where a folder of the run is, or under one of its files."""


class ArtifactStore:
    """Files under one root; every name is checked with ``safe_relative_path``."""

    def __init__(self, root: str, protocol: str = "file") -> None:
        self.fs = fsspec.filesystem(protocol)
        self.root = root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)

    def path(self, name: str) -> str:
        return f"{self.root}/{safe_relative_path(name, 'name')}"

    def _writable(self, name: str) -> str:
        """The path of ``name``, its folders made; PathConflict where a file or folder of
        the run is in the way (a move onto a folder would hide the file inside it)."""
        dest = self.path(name)
        if self.fs.isdir(dest):
            raise PathConflict(f"name: {name!r} is a folder of this run, not a file")
        folder = dest.rsplit("/", 1)[0]
        while len(folder) > len(self.root):
            if self.fs.isfile(folder):
                raise PathConflict(
                    f"name: {name!r} would go under {folder[len(self.root) + 1 :]!r}, "
                    "which is a file"
                )
            folder = folder.rsplit("/", 1)[0]
        self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        return dest

    def put_stream(self, name: str, chunks: Iterable[bytes]) -> int:
        """Write a whole file; readers see the old file or the new one, never a part."""
        dest = self._writable(name)
        # Next to the root, not the file: a name of the longest length allowed plus a
        # suffix would be longer than the file system takes.
        partial = f"{self.root}/.partial-{uuid.uuid4().hex}"
        size = 0
        try:
            with self.fs.open(partial, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
            self.fs.mv(partial, dest)
        except BaseException:
            if self.fs.exists(partial):
                self.fs.rm(partial)
            raise
        return size

    def append(self, name: str, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` (retries of the same offset are harmless).

        Returns the file's size afterwards. An offset beyond the end is refused with
        ValueError carrying the size, so the writer can resend from there.
        """
        size = self.size(name)
        if offset > size:
            raise ValueError(size)
        dest = self._writable(name)
        mode = "r+b" if self.fs.exists(dest) else "wb"
        with open(dest, mode) as out:  # appends at an offset need a seekable local file
            out.seek(offset)
            out.write(data)
            out.truncate()
        return offset + len(data)

    def size(self, name: str) -> int:
        dest = self.path(name)
        return self.fs.size(dest) if self.fs.isfile(dest) else 0

    def exists(self, name: str) -> bool:
        return self.fs.isfile(self.path(name))

    def open(self, name: str) -> BinaryIO:
        return self.fs.open(self.path(name), "rb")

    def read(self, name: str, offset: int = 0, length: int = -1) -> bytes:
        with self.open(name) as f:
            f.seek(offset)
            return f.read(length)

    def iter_chunks(self, name: str, length: int | None = None) -> Iterator[bytes]:
        """The file's bytes in chunks; with ``length`` only its first ``length`` bytes
        (a log that grows meanwhile is cut where it was)."""
        left = length
        with self.open(name) as f:
            while chunk := f.read(CHUNK if left is None else min(CHUNK, left)):
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        """(name, size) of every file under the root, sorted by name."""
        if not self.fs.exists(self.root):
            return []
        found = self.fs.find(self.root, detail=True)
        start = len(self.root) + 1
        files = [
            (path[start:], int(info["size"]))
            for path, info in found.items()
            if ".partial-" not in path
        ]
        return sorted(item for item in files if item[0].startswith(prefix))
