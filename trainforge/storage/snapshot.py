"""Snapshots of a source directory, as the SDK takes them on submit.

Files matched by ``.amlignore`` (or, without one, ``.gitignore``) are left out; the
snapshot is refused above 300 MB or 2,000 files (``AML_SNAPSHOT_NO_FILE_LIMIT`` lifts the
file limit). The id is a hash of the contents, so an unchanged folder is uploaded once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pathspec

MAX_BYTES = 300 * 2**20
MAX_FILES = 2000
SNAPSHOT_ID = re.compile(r"^[0-9a-f]{64}$")
ALWAYS_IGNORED = (".git/",)


class SnapshotLimitError(ValueError):
    """The source directory is larger than a snapshot may be."""


class SnapshotLinkError(SnapshotLimitError):
    """A symbolic link in the source directory leads out of it (or nowhere, or in a loop)."""


@dataclass(frozen=True)
class Snapshot:
    id: str
    zip_path: Path
    files: list[str]
    size: int


def _ignore_spec(source: Path) -> pathspec.PathSpec:
    lines = list(ALWAYS_IGNORED)
    for name in (".amlignore", ".gitignore"):
        ignore_file = source / name
        if ignore_file.is_file():
            lines += ignore_file.read_text(errors="replace").splitlines()
            break
    return pathspec.PathSpec.from_lines("gitignore", lines)


def _check_link(source: Path, path: Path, rel: str) -> None:
    """One rule for links, to files and to folders alike: a link is followed when it stays
    inside ``source``; one that leaves it (or leads nowhere, or back to a folder that holds
    it) is refused, since the run would see something other than what was submitted."""
    advice = "copy what it points to into the folder, or list the link in .amlignore"
    try:
        target = path.resolve()
    except (RuntimeError, OSError):  # a link to itself, through any number of links
        raise SnapshotLinkError(f"{rel} in {source} is a link in a loop; {advice}") from None
    if not target.exists():
        raise SnapshotLinkError(
            f"{rel} in {source} is a link to {target}, which is missing; {advice}"
        )
    if not target.is_relative_to(source):
        raise SnapshotLinkError(
            f"{rel} in {source} is a link to {target}, outside the folder: a snapshot holds "
            f"only what is inside it; {advice}"
        )
    if target.is_dir():
        # Walked through links, a folder's real path may be anywhere in the source: check
        # every folder above the link as the walk reached it.
        above = path.parent
        while True:
            if above.resolve().is_relative_to(target):
                raise SnapshotLinkError(
                    f"{rel} in {source} links back to a folder that holds it; {advice}"
                )
            if above == source:
                break
            above = above.parent


def list_files(source: Path) -> list[tuple[str, Path, int]]:
    """(relative name, path, size) of each file a snapshot of ``source`` holds."""
    source = source.resolve()
    spec = _ignore_spec(source)
    file_limit = None if os.environ.get("AML_SNAPSHOT_NO_FILE_LIMIT") else MAX_FILES
    found: list[tuple[str, Path, int]] = []
    total = 0
    for folder, dirs, files in os.walk(source, followlinks=True):
        rel_folder = Path(folder).relative_to(source).as_posix()
        prefix = "" if rel_folder == "." else f"{rel_folder}/"
        dirs[:] = sorted(d for d in dirs if not spec.match_file(f"{prefix}{d}/"))
        for name in dirs:
            if (Path(folder) / name).is_symlink():
                _check_link(source, Path(folder) / name, f"{prefix}{name}")
        for name in sorted(files):
            rel = f"{prefix}{name}"
            if spec.match_file(rel):
                continue
            path = Path(folder) / name
            if path.is_symlink():
                _check_link(source, path, rel)
            size = path.stat().st_size
            total += size
            found.append((rel, path, size))
            if file_limit is not None and len(found) > file_limit:
                raise SnapshotLimitError(
                    f"Your snapshot of {source} has more than {file_limit} files; list what to "
                    "leave out in .amlignore, or set AML_SNAPSHOT_NO_FILE_LIMIT"
                )
            if total > MAX_BYTES:
                raise SnapshotLimitError(
                    f"Your total snapshot size exceeds the limit of {MAX_BYTES / 2**20:.1f} MB; "
                    f"list what to leave out of {source} in .amlignore"
                )
    return found


def content_id(entries: Iterable[tuple[str, bytes]]) -> str:
    """The id of a snapshot holding, in archive order, files of these names whose contents
    have these SHA-256 digests; the server recomputes it from an upload to check its id."""
    digest = hashlib.sha256()
    for rel, file_digest in entries:
        digest.update(rel.encode() + b"\0" + file_digest)
    return digest.hexdigest()


def take(source: str | os.PathLike[str]) -> Snapshot:
    """Zip ``source`` into a temporary file; the caller deletes ``zip_path``."""
    root = Path(source).resolve()
    files = list_files(root)
    digests: list[tuple[str, bytes]] = []
    fd, zip_name = tempfile.mkstemp(suffix=".zip", prefix="trainforge-snapshot-")
    os.close(fd)
    with zipfile.ZipFile(zip_name, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for rel, path, _size in files:
            data = path.read_bytes()
            digests.append((rel, hashlib.sha256(data).digest()))
            archive.writestr(rel, data)
    return Snapshot(
        id=content_id(digests),
        zip_path=Path(zip_name),
        files=[rel for rel, _, _ in files],
        size=sum(size for _, _, size in files),
    )
