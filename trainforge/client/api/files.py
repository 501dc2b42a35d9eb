"""A run's files: artifacts (outputs, uploads) and logs, written whole or (logs) at an
offset, and read whole or followed as they grow."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any, BinaryIO

import httpx

from trainforge.client.api import WorkspaceResource
from trainforge.client.http import API
from trainforge.schemas.runs import FileInfo, FileLink, FileLinksRequest


class FilesApi(WorkspaceResource):
    """``/workspaces/{ws}/runs/{run_id}/files/...``."""

    def path(self, run_id: str, name: str) -> str:
        return f"{self.base}/runs/{run_id}/files/{name}"

    def url(self, run_id: str, name: str) -> str:
        """Where a browser or ``curl`` reads the file (with the token as a bearer)."""
        return f"{self.client.address}{API}{self.path(run_id, name)}"

    def list(self, run_id: str, prefix: str = "") -> builtins.list[FileInfo]:
        found = self.client.get(f"{self.base}/runs/{run_id}/files", prefix=prefix)
        return [FileInfo.model_validate(item) for item in found]

    def links(
        self, run_id: str, prefix: str = "", expiry_minutes: int = 60
    ) -> builtins.list[FileLink]:
        """Signed links to the files under ``prefix``: a plain GET reads one (with Range)
        until it expires, with no token (Batch AI's download URLs)."""
        body = FileLinksRequest(prefix=prefix, expiry_minutes=expiry_minutes)
        found = self.client.post(f"{self.base}/runs/{run_id}/file-links", body.model_dump())
        return [FileLink.model_validate(item) for item in found]

    def upload(
        self, run_id: str, name: str, data: bytes | BinaryIO, attempt: int | None = None
    ) -> dict[str, Any]:
        params = {"attempt": attempt} if attempt is not None else None
        result: dict[str, Any] = self.client.upload(self.path(run_id, name), data, params)
        return result

    def append(self, run_id: str, name: str, offset: int, data: bytes, attempt: int) -> None:
        """Write ``data`` at ``offset`` of the log ``name``: the same bytes again are harmless."""
        self.client.request(
            "POST",
            self.path(run_id, name),
            params={"offset": offset, "attempt": attempt},
            content=data,
            idempotent=True,
        )

    def download(self, run_id: str, name: str, attempt: int | None = None) -> Iterator[bytes]:
        params = {"attempt": attempt} if attempt is not None else None
        return self.client.download(self.path(run_id, name), params)

    def read(self, run_id: str, name: str) -> bytes:
        return b"".join(self.download(run_id, name))

    def tail(self, run_id: str, name: str, offset: int, wait: float) -> httpx.Response:
        """What follows ``offset`` of a log, waiting up to ``wait`` s for more; the answer's
        X-Next-Offset, X-Run-Status and X-Attempt headers say where to go on."""
        return self.client.request(
            "GET", self.path(run_id, name), params={"offset": offset, "wait": wait}
        )
