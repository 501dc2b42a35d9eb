"""Code snapshots: zip files, content-addressed within their workspace, checked before they
are kept (their entries, the size limit, and that the id is the hash of what they hold)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from trainforge.server.errors import BadRequest
from trainforge.server.store import models
from trainforge.server.store.database import insert_unless_present
from trainforge.storage.paths import UnsafePathError, safe_relative_path
from trainforge.storage.snapshot import MAX_BYTES, SNAPSHOT_ID, content_id

CHUNK = 2**20


def snapshot_path(workspace_dir: Path, snapshot_id: str) -> Path:
    if not SNAPSHOT_ID.fullmatch(snapshot_id):
        raise BadRequest(f"snapshot_id: {snapshot_id!r} is not a snapshot id")
    return workspace_dir / "snapshots" / f"{snapshot_id}.zip"


def exists(db: Session, ws: models.Workspace, snapshot_id: str) -> bool:
    return db.get(models.Snapshot, (ws.id, snapshot_id)) is not None


def _file_digest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    digest = hashlib.sha256()
    with archive.open(info) as entry:  # reading to the end checks the entry's CRC too
        while chunk := entry.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def store(
    db: Session, ws: models.Workspace, workspace_dir: Path, snapshot_id: str, body: Iterable[bytes]
) -> models.Snapshot:
    """Keep an uploaded snapshot after checking its entries and the service's limits."""
    dest = snapshot_path(workspace_dir, snapshot_id)
    existing = db.get(models.Snapshot, (ws.id, snapshot_id))
    if existing is not None:
        return existing
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".partial", delete=False) as tmp:
        for chunk in body:
            tmp.write(chunk)
    partial = Path(tmp.name)
    try:
        with zipfile.ZipFile(partial) as archive:
            entries = [info for info in archive.infolist() if not info.is_dir()]
            for info in entries:
                safe_relative_path(info.filename, "snapshot entry")
        total = sum(info.file_size for info in entries)
        # The file-count limit is the client's to lift (AML_SNAPSHOT_NO_FILE_LIMIT), as in
        # the SDK; the size limit protects the service and always holds.
        if total > MAX_BYTES:
            raise BadRequest(f"snapshot: {total} bytes exceed the limit of {MAX_BYTES // 2**20} MB")
        # The id names the content: a wrong one would let a later submit run other code.
        with zipfile.ZipFile(partial) as archive:
            actual = content_id((info.filename, _file_digest(archive, info)) for info in entries)
        if actual != snapshot_id:
            raise BadRequest(
                f"snapshot_id: {snapshot_id} is not the hash of the uploaded content ({actual})"
            )
    except (zipfile.BadZipFile, UnsafePathError) as exc:
        partial.unlink(missing_ok=True)
        raise BadRequest(f"snapshot: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    shutil.move(partial, dest)
    # Two uploads of the same content to one workspace may race (runs submitted side by
    # side); both wrote the same bytes, so the second insert is a no-op rather than an error.
    insert_unless_present(
        db,
        models.Snapshot,
        {"id": snapshot_id, "workspace_id": ws.id, "size": total, "file_count": len(entries)},
        ["workspace_id", "id"],
    )
    row = db.get(models.Snapshot, (ws.id, snapshot_id))
    assert row is not None
    return row
