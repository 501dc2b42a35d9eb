"""Runs of a workspace: submit, read, update, cancel, children, metrics, files and logs."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

import httpx

from trainforge.client.api import WorkspaceResource
from trainforge.client.http import API
from trainforge.schemas.runs import ChildrenCreate, FileInfo, RunCreate, RunInfo, RunUpdate

JSON_HEADERS = {"Content-Type": "application/json"}


class RunsApi(WorkspaceResource):
    """``/workspaces/{ws}/runs/...`` and the experiment's ``runs`` collection."""

    def path(self, run_id: str) -> str:
        return f"{self.base}/runs/{run_id}"

    # -- the run ------------------------------------------------------------------------
    def create(self, experiment: str, body: RunCreate | dict[str, Any]) -> RunInfo:
        """Submit a run (or start an interactive or child run); a retry creates one run."""
        payload = body.model_dump(mode="json") if isinstance(body, RunCreate) else body
        return RunInfo.model_validate(
            self.client.post(f"{self.base}/experiments/{experiment}/runs", payload)
        )

    def get(self, run_id: str) -> RunInfo:
        return RunInfo.model_validate(self.client.get(self.path(run_id)))

    def list(self, tags: Any = None, properties: Any = None, **filters: Any) -> list[RunInfo]:
        """Runs of the workspace, newest first; ``tags``/``properties`` as the SDK's filters."""
        for name, value in (("tags", tags), ("properties", properties)):
            if value is not None:
                filters[name] = json.dumps(value)
        found = self.client.get(f"{self.base}/runs", **filters)["runs"]
        return [RunInfo.model_validate(item) for item in found]

    def update(self, run_id: str, body: RunUpdate | dict[str, Any]) -> RunInfo:
        payload = (
            body.model_dump(mode="json", exclude_unset=True)
            if isinstance(body, RunUpdate)
            else body
        )
        return RunInfo.model_validate(self.client.patch(self.path(run_id), payload))

    def add_properties(self, run_id: str, properties: dict[str, str]) -> RunInfo:
        return RunInfo.model_validate(
            self.client.post(f"{self.path(run_id)}/properties", properties)
        )

    def cancel(self, run_id: str) -> RunInfo:
        return RunInfo.model_validate(self.client.post(f"{self.path(run_id)}/cancel"))

    def wait(self, run_id: str, timeout: float) -> RunInfo:
        """The run once it has ended, or as it is after ``timeout`` seconds (a long poll)."""
        return RunInfo.model_validate(self.client.get(f"{self.path(run_id)}/wait", timeout=timeout))

    def create_children(self, run_id: str, body: ChildrenCreate) -> builtins.list[RunInfo]:
        created = self.client.post(f"{self.path(run_id)}/children", body.model_dump(mode="json"))
        return [RunInfo.model_validate(item) for item in created]

    # -- metrics ------------------------------------------------------------------------
    def metrics(self, run_id: str, name: str | None = None, recursive: bool = False) -> Any:
        """{name: value} as the SDK shapes it; {run id: metrics} when ``recursive``."""
        return self.client.get(f"{self.path(run_id)}/metrics", name=name, recursive=recursive)

    def post_metrics(self, run_id: str, batch: bytes) -> None:
        """One batch (JSON with its batch id): sent until the server takes or refuses it."""
        self.client.request(
            "POST",
            f"{self.path(run_id)}/metrics:batch",
            content=batch,
            headers=JSON_HEADERS,
            idempotent=True,
            persistent=True,
        )

    # -- files and logs -----------------------------------------------------------------
    def file_path(self, run_id: str, name: str) -> str:
        return f"{self.path(run_id)}/files/{name}"

    def file_url(self, run_id: str, name: str) -> str:
        """Where a browser or ``curl`` reads the file (with the token as a bearer)."""
        return f"{self.client.address}{API}{self.file_path(run_id, name)}"

    def files(self, run_id: str, prefix: str = "") -> builtins.list[FileInfo]:
        found = self.client.get(f"{self.path(run_id)}/files", prefix=prefix)
        return [FileInfo.model_validate(item) for item in found]

    def upload_file(
        self, run_id: str, name: str, data: bytes | BinaryIO, attempt: int | None = None
    ) -> dict[str, Any]:
        params = {"attempt": attempt} if attempt is not None else None
        result: dict[str, Any] = self.client.upload(self.file_path(run_id, name), data, params)
        return result

    def append_file(self, run_id: str, name: str, offset: int, data: bytes, attempt: int) -> None:
        """Write ``data`` at ``offset`` of the log ``name``: the same bytes again are harmless."""
        self.client.request(
            "POST",
            self.file_path(run_id, name),
            params={"offset": offset, "attempt": attempt},
            content=data,
            idempotent=True,
        )

    def download_file(self, run_id: str, name: str, attempt: int | None = None) -> Iterator[bytes]:
        params = {"attempt": attempt} if attempt is not None else None
        return self.client.download(self.file_path(run_id, name), params)

    def read_file(self, run_id: str, name: str) -> bytes:
        return b"".join(self.download_file(run_id, name))

    def tail(self, run_id: str, name: str, offset: int, wait: float) -> httpx.Response:
        """What follows ``offset`` of a log, waiting up to ``wait`` s for more; the answer's
        X-Next-Offset, X-Run-Status and X-Attempt headers say where to go on."""
        return self.client.request(
            "GET", self.file_path(run_id, name), params={"offset": offset, "wait": wait}
        )

    # -- what the node layer reports ----------------------------------------------------
    def report_assignment(self, run_id: str, assignment_id: str, body: dict[str, Any]) -> None:
        self.client.request("PATCH", f"{self.path(run_id)}/assignments/{assignment_id}", json=body)
