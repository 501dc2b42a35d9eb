"""The one transfer engine of every datastore kind: parallel file copies between this
machine and an fsspec filesystem, with a rich progress bar, skipping what exists unless
told to overwrite, and never leaving a partial file visible under its final name."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from fsspec.callbacks import Callback
from fsspec.implementations.local import LocalFileSystem
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

DEFAULT_WORKERS = 16


@dataclass
class TransferReport:
    """What a transfer did: files copied, files left alone because they existed, bytes."""

    transferred: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0


class _Bar:
    """A thread-safe view of one rich progress task (or nothing, when quiet)."""

    def __init__(self, progress: Progress | None, description: str, total_bytes: int, files: int):
        self.progress = progress
        self.lock = threading.Lock()
        self.task = (
            progress.add_task(description, total=total_bytes, files=f"0/{files}")
            if progress
            else None
        )
        self.files = files
        self.done = 0

    def advance(self, nbytes: int) -> None:
        if self.progress is not None and self.task is not None and nbytes:
            with self.lock:
                self.progress.advance(self.task, nbytes)

    def file_done(self) -> None:
        if self.progress is not None and self.task is not None:
            with self.lock:
                self.done += 1
                self.progress.update(self.task, files=f"{self.done}/{self.files}")


class _BytesCallback(Callback):  # type: ignore[misc]
    """fsspec's per-file callback feeding the shared bar; returns how much it reported."""

    def __init__(self, bar: _Bar) -> None:
        super().__init__()
        self.bar = bar
        self.reported = 0

    def call(self, *args: object, **kwargs: object) -> None:
        delta = self.value - self.reported
        if delta > 0:
            self.reported = self.value
            self.bar.advance(delta)


@contextmanager
def _progress(show: bool, console: Console | None = None) -> Iterator[Progress | None]:
    if not show:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[files]} files"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress


def _partial_name(dest: str) -> str:
    head, _, tail = dest.rpartition("/")
    return f"{head}/.{tail}.partial-{uuid.uuid4().hex[:12]}" if head else f".{tail}.partial"


def _local_copy(fs: fsspec.AbstractFileSystem) -> Callable[[str, str, _BytesCallback], None]:
    """A copy between local paths, written aside; folders made once per transfer."""
    made: set[str] = set()

    def copy(source: str, dest: str, callback: _BytesCallback) -> None:
        _write_aside(dest, lambda partial: fs.put_file(source, partial), made)

    return copy


def _write_aside(dest: str, write: Callable[[str], object], made: set[str] | None = None) -> None:
    """Write a local file under a hidden partial name, then rename it into place: readers
    see the old file or the whole new one, never a part."""
    folder = os.path.dirname(dest)
    if made is None or folder not in made:
        os.makedirs(folder, exist_ok=True)
        if made is not None:
            made.add(folder)
    partial = _partial_name(dest)
    try:
        write(partial)
        os.replace(partial, dest)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _run(
    jobs: Sequence[tuple[str, str, int]],
    copy: Callable[[str, str, _BytesCallback], None],
    description: str,
    show_progress: bool,
    workers: int,
) -> TransferReport:
    report = TransferReport()
    total = sum(size for _, _, size in jobs)
    with _progress(show_progress) as progress:
        bar = _Bar(progress, description, total, len(jobs))

        def one(source: str, dest: str, size: int) -> str:
            callback = _BytesCallback(bar)
            copy(source, dest, callback)
            bar.advance(size - callback.reported)  # some filesystems report nothing
            bar.file_done()
            return dest

        if workers == 1:
            report.transferred = [one(*job) for job in jobs]
        else:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1))) as pool:
                futures = [pool.submit(one, *job) for job in jobs]
                for future in as_completed(futures):
                    report.transferred.append(future.result())
    report.bytes = total
    return report


def upload(
    fs: fsspec.AbstractFileSystem,
    pairs: Sequence[tuple[Path, str]],
    overwrite: bool = False,
    show_progress: bool = True,
    workers: int = DEFAULT_WORKERS,
    description: str = "Uploading",
) -> TransferReport:
    """Copy local files to ``fs`` (``pairs`` of local path and remote path)."""
    existing: set[str] = set()
    if not overwrite and pairs:
        existing = _existing_remote(fs, [remote for _, remote in pairs])
    jobs: list[tuple[str, str, int]] = []
    skipped: list[str] = []
    for local, remote in pairs:
        if not overwrite and fs._strip_protocol(remote) in existing:
            skipped.append(remote)
        else:
            jobs.append((str(local), remote, local.stat().st_size))
    if isinstance(fs, LocalFileSystem):
        # Disk to disk: threads only add overhead (the GIL) on small files.
        report = _run(jobs, _local_copy(fs), description, show_progress, workers=1)
        report.skipped = skipped
        return report

    def copy(source: str, dest: str, callback: _BytesCallback) -> None:
        # Blob and S3 uploads commit at the end (block list / multipart), so an
        # interrupted upload is never visible under its name.
        fs.put_file(source, dest, callback=callback)

    report = _run(jobs, copy, description, show_progress, workers)
    report.skipped = skipped
    return report


def write_bytes(fs: fsspec.AbstractFileSystem, dest: str, data: bytes) -> None:
    """Write one small file whole: readers see none of it or all of it (a local file is
    written aside and renamed; Blob and S3 commit a put at its end)."""
    if isinstance(fs, LocalFileSystem):
        _write_aside(dest, lambda partial: fs.pipe_file(partial, data))
    else:
        fs.pipe_file(dest, data)


def put_file(fs: fsspec.AbstractFileSystem, source: str, dest: str) -> None:
    """Copy one local file to ``dest`` whole: readers see none of it or all of it (a local
    store's copy is written aside and renamed)."""
    if isinstance(fs, LocalFileSystem):
        _write_aside(dest, lambda partial: fs.put_file(source, partial))
    else:
        fs.put_file(source, dest)


def download(
    fs: fsspec.AbstractFileSystem,
    pairs: Sequence[tuple[str, Path, int]],
    overwrite: bool = False,
    show_progress: bool = True,
    workers: int = DEFAULT_WORKERS,
    description: str = "Downloading",
) -> TransferReport:
    """Copy files from ``fs`` to this machine (``pairs`` of remote path, local path, size)."""
    jobs: list[tuple[str, str, int]] = []
    skipped: list[str] = []
    for remote, local, size in pairs:
        if not overwrite and local.exists():
            skipped.append(str(local))
        else:
            jobs.append((remote, str(local), size))

    if isinstance(fs, LocalFileSystem):
        report = _run(jobs, _local_copy(fs), description, show_progress, workers=1)
        report.skipped = skipped
        return report

    def copy(source: str, dest: str, callback: _BytesCallback) -> None:
        _write_aside(dest, lambda partial: fs.get_file(source, partial, callback=callback))

    report = _run(jobs, copy, description, show_progress, workers)
    report.skipped = skipped
    return report


@dataclass(frozen=True)
class RemoteFile:
    """A file found on a store: its size and whatever tells its versions apart."""

    size: int
    version: str


def list_files(fs: fsspec.AbstractFileSystem, prefix: str) -> dict[str, RemoteFile]:
    """Every file under ``prefix`` (a folder or a file), partial files left out."""
    prefix = prefix.rstrip("/")
    try:
        if "/" not in prefix.strip("/") and not fs.ls(prefix, detail=False):
            # An empty container: adlfs would ask for its properties, which a container SAS
            # is not allowed to read.
            return {}
        if fs.isfile(prefix):
            found = {prefix: fs.info(prefix)}
        else:
            found = fs.find(prefix, detail=True)
    except FileNotFoundError:
        return {}
    return {
        fs._strip_protocol(name): RemoteFile(int(info.get("size") or 0), version_of(info))
        for name, info in found.items()
        if info.get("type") != "directory" and ".partial-" not in name.rsplit("/", 1)[-1]
    }


def version_of(info: dict[str, Any]) -> str:
    for key in ("etag", "ETag", "last_modified", "LastModified", "mtime"):
        if info.get(key) is not None:
            return str(info[key])
    return ""


def _existing_remote(fs: fsspec.AbstractFileSystem, remotes: list[str]) -> set[str]:
    """Which of ``remotes`` exist, from one listing of their common folder."""
    common = os.path.commonpath(remotes) if len(remotes) > 1 else remotes[0].rsplit("/", 1)[0]
    return set(list_files(fs, common))


class CountingReader:
    """A local file opened for a transfer that reports the bytes read to an fsspec
    callback, so that a body an HTTP client reads moves the progress bar. It seeks (a
    retry sends the file again from its start) and never reports a byte twice."""

    def __init__(self, path: str, callback: Callback) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close() / the with block
        self._callback = callback
        self._reported = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        position = self._file.tell()
        if position > self._reported:
            self._callback.relative_update(position - self._reported)
            self._reported = position
        return data

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:  # lets an HTTP client send the size as Content-Length
        return self._file.fileno()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(1 << 16):
            yield chunk

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send(
    jobs: Sequence[tuple[str, str, int]],
    copy: Callable[[str, str, Callback], None],
    show_progress: bool = True,
    workers: int = 4,
    description: str = "Uploading",
) -> TransferReport:
    """Copy each (source, destination, size) with ``copy(source, destination, callback)``,
    which reports its bytes to ``callback``: files that travel through the control plane's
    REST API (a model's files) get the same parallel pool and progress bar as datastore
    transfers."""
    return _run(jobs, copy, description, show_progress, workers)
