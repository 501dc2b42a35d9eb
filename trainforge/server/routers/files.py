"""Run files (artifacts and logs) and code snapshots: byte streams, not JSON."""

from __future__ import annotations

import mimetypes
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from trainforge.schemas.limits import Offset, PositiveCount, WaitSeconds
from trainforge.schemas.runs import FileInfo, RunStatus
from trainforge.server.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import plane
from trainforge.server.services import fencing, snapshots
from trainforge.storage.artifacts import ArtifactStore, PathConflict
from trainforge.storage.paths import UnsafePathError
from trainforge.storage.run_files import RunFiles

router = APIRouter(prefix="/workspaces/{ws}")
T = TypeVar("T")
SPOOL_BYTES = 8 * 2**20
MAX_TAIL_BYTES = 4 * 2**20
MAX_WAIT_S = 30.0


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"body: a file takes at most {limit} bytes on this server")


async def _spool(request: Request, limit: int) -> tempfile.SpooledTemporaryFile[bytes]:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            spool.close()
            raise _too_large(limit)
        spool.write(chunk)
    spool.seek(0)
    return spool


def _chunks(spool: tempfile.SpooledTemporaryFile[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(2**20):
        yield chunk


def send(store: ArtifactStore, name: str) -> StreamingResponse:
    """The file ``name`` of ``store`` as it is now, typed by its name."""
    # Launchers append to logs while they are read: send the bytes there were when asked
    # (streaming to the end would exceed the Content-Length and break the connection).
    size = store.size(name)
    return StreamingResponse(
        store.iter_chunks(name, size),
        media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        headers={"Content-Length": str(size)},
    )


def check_name(store: ArtifactStore, name: str) -> str:
    """The path of ``name`` in ``store``; a 400 when it leaves the store."""
    return _checked(name, lambda: store.path(name))


async def receive(request: Request, store: ArtifactStore, name: str, limit: int) -> FileInfo:
    """The request's body stored whole as ``name`` of ``store``: a name that leaves the
    store is a 400, a body above ``limit`` bytes a 413."""
    _checked(name, lambda: store.path(name))
    spool = await _spool(request, limit)
    with spool:
        size = await run_in_threadpool(
            _checked, name, lambda: store.put_stream(name, _chunks(spool))
        )
    return FileInfo(name=name, size=size)


def _run_files(cp: ControlPlane, ws: str, run_id: str) -> tuple[RunFiles, RunStatus]:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        run = cp.runs.row(db, row, run_id)
        status, attempt = RunStatus(run.status), run.attempt
    return cp.run_files(ws, run_id, attempt), status


def _writable(cp: ControlPlane, ws: str, run_id: str, attempt: int | None, what: str) -> RunFiles:
    """The run's files, if a write of ``attempt`` may go there (else 409)."""
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        run = cp.runs.row(db, row, run_id)
        fencing.check_write(db, run, attempt, what)
        current = run.attempt
    return cp.run_files(ws, run_id, current)


def _checked(name: str, action: Callable[[], T]) -> T:
    try:
        return action()
    except UnsafePathError as exc:
        raise BadRequest(str(exc)) from exc
    except PathConflict as exc:
        raise Conflict(str(exc)) from exc


@router.get("/runs/{run_id}/files", response_model=list[FileInfo])
def list_files(
    ws: str, run_id: str, prefix: str = "", cp: ControlPlane = Depends(plane)
) -> list[FileInfo]:
    files, _ = _run_files(cp, ws, run_id)
    return [FileInfo(name=name, size=size) for name, size in files.list(prefix)]


@router.put("/runs/{run_id}/files/{name:path}", response_model=FileInfo)
async def put_file(
    ws: str,
    run_id: str,
    name: str,
    request: Request,
    attempt: PositiveCount | None = None,
    cp: ControlPlane = Depends(plane),
) -> FileInfo:
    """Store a whole file; a run's processes name their ``attempt`` (a superseded one: 409)."""
    files = await run_in_threadpool(_writable, cp, ws, run_id, attempt, f"files ({name})")
    return await receive(request, files.files, name, cp.settings.max_file_bytes)


def append_log(store: ArtifactStore, name: str, offset: int, data: bytes, limit: int) -> int:
    """Write ``data`` at ``offset`` of the log ``name`` (the same bytes again are harmless);
    its size after. Shared by a log append and a launcher's last report, which carries
    what its logs gained since they were last shipped."""
    if offset + len(data) > limit:
        raise _too_large(limit)
    try:
        return _checked(name, lambda: store.append(name, offset, data))
    except ValueError as exc:
        raise Conflict(
            f"offset {offset} is beyond the end of {name} ({exc.args[0]} bytes)"
        ) from exc


@router.post("/runs/{run_id}/files/{name:path}", response_model=FileInfo)
async def append_file(
    ws: str,
    run_id: str,
    name: str,
    offset: Offset,
    request: Request,
    attempt: PositiveCount | None = None,
    cp: ControlPlane = Depends(plane),
) -> FileInfo:
    """Write the body at ``offset``: how launchers ship logs as they grow. Each attempt's
    logs are kept apart; a superseded attempt's, or any once the run has ended, get 409."""
    files = await run_in_threadpool(_writable, cp, ws, run_id, attempt, f"logs ({name})")
    store = files.of_attempt(attempt or files.attempt)
    data = await request.body()
    size = await run_in_threadpool(
        append_log, store, name, offset, data, cp.settings.max_file_bytes
    )
    cp.events.notify([await run_in_threadpool(cp.run_key, ws, run_id)])  # wake log followers
    return FileInfo(name=name, size=size)


@router.get("/runs/{run_id}/files/{name:path}")
async def get_file(
    ws: str,
    run_id: str,
    name: str,
    request: Request,
    offset: Offset | None = None,
    wait: WaitSeconds = 0.0,
    attempt: PositiveCount | None = None,
    cp: ControlPlane = Depends(plane),
) -> Response:
    """The whole file, or (with ``offset``) what follows it, waiting up to ``wait`` s for more.

    A log is the newest attempt's copy, or that of ``attempt``. Tail reads answer with
    X-Next-Offset, X-Run-Status and X-Attempt (the attempt whose copy was read) so a
    follower knows where to continue, when to start again from 0, and when to stop.
    """
    files, status = await run_in_threadpool(_run_files, cp, ws, run_id)
    _checked(name, lambda: files.files.path(name))  # a name that leaves the run folder: 400
    if attempt is not None:
        store, found_attempt = files.of_attempt(attempt), attempt
    else:
        store, found_attempt = await run_in_threadpool(files.newest, name)
    if offset is None:
        if not store.exists(name):
            raise NotFound(f"Run {run_id} has no file {name!r}")
        return send(store, name)
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_S)
    key = await run_in_threadpool(cp.run_key, ws, run_id)
    while True:
        size = store.size(name)
        if size > offset or status.is_terminal or time.monotonic() >= deadline:
            break
        if await request.is_disconnected():
            break
        await cp.events.wait(key, deadline - time.monotonic())
        files, status = await run_in_threadpool(_run_files, cp, ws, run_id)
        if attempt is None:  # a new attempt may have started its own copy meanwhile
            store, found_attempt = await run_in_threadpool(files.newest, name)
    data = b""
    if size > offset:
        data = await run_in_threadpool(store.read, name, offset, min(size - offset, MAX_TAIL_BYTES))
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "X-Next-Offset": str(offset + len(data)),
            "X-Run-Status": status.value,
            "X-Attempt": str(found_attempt),
        },
    )


@router.put("/snapshots/{snapshot_id}", status_code=201)
async def put_snapshot(
    ws: str, snapshot_id: str, request: Request, cp: ControlPlane = Depends(plane)
) -> dict[str, int | str]:
    spool = await _spool(request, cp.settings.max_file_bytes)

    def keep() -> dict[str, int | str]:
        with cp.store.session() as db, spool:
            row = cp.workspaces.get_row(db, ws)
            snap = snapshots.store(
                db, row, cp.settings.workspace_dir(ws), snapshot_id, _chunks(spool)
            )
            return {"id": snap.id, "size": snap.size, "file_count": snap.file_count}

    return await run_in_threadpool(keep)


@router.get("/snapshots/{snapshot_id}")
def get_snapshot(ws: str, snapshot_id: str, cp: ControlPlane = Depends(plane)) -> Response:
    with cp.store.reading() as db:
        if not snapshots.exists(db, cp.workspaces.get_row(db, ws), snapshot_id):
            raise NotFound(f"Snapshot {snapshot_id} not found in workspace {ws!r}")
    return FileResponse(snapshots.snapshot_path(cp.settings.workspace_dir(ws), snapshot_id))


@router.head("/snapshots/{snapshot_id}")
def has_snapshot(ws: str, snapshot_id: str, cp: ControlPlane = Depends(plane)) -> Response:
    with cp.store.reading() as db:
        found = snapshots.exists(db, cp.workspaces.get_row(db, ws), snapshot_id)
    return Response(status_code=200 if found else 404)
