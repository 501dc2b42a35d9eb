"""Signed, expiring links to a run's files: a plain HTTP GET (with a Range header) reads one
without a bearer token until the link expires, as an Azure SAS URL is read. Batch AI's
``jobs.list_output_files`` hands them out as ``download_url``.

A link is ``/api/v1/links/{ws}/{run_id}/{name}?se=<expiry, unix s>&sig=<HMAC-SHA256>``,
signed with the server's signing key over the workspace, run, file name and expiry: it
reaches that one file only, and a changed name, run or expiry breaks the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import re
import time
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from trainforge.schemas.runs import FileLink, FileLinksRequest
from trainforge.server.errors import BadRequest, Forbidden, NotFound, ServiceError
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import plane
from trainforge.server.settings import API_PREFIX
from trainforge.storage.artifacts import ArtifactStore
from trainforge.storage.paths import UnsafePathError

router = APIRouter(prefix="/workspaces/{ws}")
public_router = APIRouter()
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# A range answer is read whole into memory: at most this much at once (a client asks again).
MAX_RANGE_BYTES = 16 * 2**20


class RangeNotSatisfiable(ServiceError):
    status_code = 416
    code = "InvalidRange"


def _signature(key: bytes, ws: str, run_id: str, name: str, expiry: int) -> str:
    message = f"{ws}\n{run_id}\n{name}\n{expiry}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@router.post("/runs/{run_id}/file-links", response_model=list[FileLink])
def file_links(
    ws: str,
    run_id: str,
    body: FileLinksRequest,
    request: Request,
    cp: ControlPlane = Depends(plane),
) -> list[FileLink]:
    """Signed links to each file under ``prefix`` (logs as the newest attempt wrote them)."""
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        run = cp.runs.row(db, row, run_id)
        files = cp.run_files(ws, run_id, run.attempt)
    expiry = int(time.time()) + body.expiry_minutes * 60
    base = str(request.base_url).rstrip("/")
    links = []
    try:
        found = files.list(body.prefix)
    except UnsafePathError as exc:
        raise BadRequest(str(exc)) from exc
    for name, size in found:
        store, _ = files.newest(name)
        try:
            modified = store.fs.info(store.path(name)).get("mtime") or time.time()
        except FileNotFoundError:
            continue
        sig = _signature(cp.settings.signing_key, ws, run_id, name, expiry)
        url = f"{base}{API_PREFIX}/links/{quote(ws)}/{quote(run_id)}/{quote(name)}?se={expiry}&sig={sig}"
        links.append(
            FileLink(
                name=name,
                size=size,
                last_modified=datetime.fromtimestamp(float(modified), UTC),
                url=url,
            )
        )
    return links


@public_router.get("/links/{ws}/{run_id}/{name:path}", include_in_schema=True)
async def read_link(
    ws: str, run_id: str, name: str, se: int, sig: str, request: Request,
    cp: ControlPlane = Depends(plane),
) -> Response:  # fmt: skip
    """The file a signed link names, whole or the ``Range`` asked (206)."""
    expected = _signature(cp.settings.signing_key, ws, run_id, name, se)
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise Forbidden("The link's signature does not match: it was not issued for this file")
    if se < time.time():
        raise Forbidden("The link has expired; list the files again for a fresh one")

    def locate() -> tuple[ArtifactStore, int]:
        with cp.store.session() as db:
            row = cp.workspaces.get_row(db, ws)
            run = cp.runs.row(db, row, run_id)
            files = cp.run_files(ws, run_id, run.attempt)
        store, _ = files.newest(name)
        if not store.exists(name):
            raise NotFound(f"Run {run_id} has no file {name!r}")
        return store, store.size(name)

    store, size = await run_in_threadpool(locate)
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    asked = request.headers.get("range")
    start, end = 0, size - 1
    if asked:
        match = RANGE.match(asked.strip())
        if match is None or match.groups() == ("", ""):
            raise BadRequest(f"Range: {asked!r} is not 'bytes=<first>-[<last>]'")
        first, last = match.groups()
        if first == "":  # the last N bytes
            start, end = max(size - int(last), 0), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            raise RangeNotSatisfiable(f"Range {asked!r} is beyond the file's {size} bytes")
    if not asked:  # the whole file, streamed (the bytes there were when asked)
        return StreamingResponse(
            store.iter_chunks(name, size),
            media_type=media,
            headers={"Accept-Ranges": "bytes", "Content-Length": str(size)},
        )
    length = min(end - start + 1, MAX_RANGE_BYTES)
    data = await run_in_threadpool(store.read, name, start, length)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(len(data)),
        "Content-Range": f"bytes {start}-{start + len(data) - 1}/{size}",
    }
    return Response(content=data, status_code=206, media_type=media, headers=headers)
