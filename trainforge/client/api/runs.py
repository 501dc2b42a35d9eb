"""Runs of a workspace: submit, read, update, cancel, children, metrics, files and logs."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.runs import (
    BatchResult,
    ChildrenCreate,
    RunCreate,
    RunInfo,
    RunList,
    RunUpdate,
)

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

    def page(
        self,
        tags: Any = None,
        properties: Any = None,
        cursor: str | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> RunList:
        """One page of the workspace's runs, newest first, filtered by the server
        (``tags``/``properties`` as the SDK's filters; ``experiment``, ``parent``,
        ``status``, ``type``, ``target``, ``created_after``, ``created_before``; ``filter``:
        expressions such as ``"metrics.accuracy > 0.9 and (tags.team = a or tags.team = b)"``;
        ``order_by``: a sort instead of newest first, ``"metrics.accuracy desc"``,
        ``"tags.team"``, ``"duration"``...; ``metric``: names whose last values come back in
        ``RunList.metrics``)."""
        for name, value in (("tags", tags), ("properties", properties)):
            if value is not None:
                filters[name] = json.dumps(value)
        for name in ("created_after", "created_before"):
            if isinstance(filters.get(name), datetime):
                filters[name] = filters[name].isoformat()
        return RunList.model_validate(
            self.client.get(f"{self.base}/runs", cursor=cursor, limit=limit, **filters)
        )

    def iterate(
        self, tags: Any = None, properties: Any = None, page_size: int | None = None, **filters: Any
    ) -> Iterator[RunInfo]:
        """Every matching run, newest first, fetched a page at a time as it is consumed."""
        cursor: str | None = None
        while True:
            found = self.page(tags, properties, cursor=cursor, limit=page_size, **filters)
            yield from found.runs
            if found.next_cursor is None:
                return
            cursor = found.next_cursor

    def list(
        self, tags: Any = None, properties: Any = None, **filters: Any
    ) -> builtins.list[RunInfo]:
        """Every matching run, newest first (all pages)."""
        return builtins.list(self.iterate(tags, properties, **filters))

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

    def delete(self, run_id: str) -> None:
        """Delete an ended run with the runs below it and their files (409 while it goes)."""
        self.client.delete(self.path(run_id))

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

    def metric_series(
        self,
        run_id: str,
        name: str,
        points: int | None = None,
        x_min: int | None = None,
        x_max: int | None = None,
    ) -> Any:
        """One scalar metric as a chart draws it: {x_axis, total, count, downsampled,
        started, points: {x, time, value}}, exact in [x_min, x_max] (the step, else the
        index) up to ``points`` points, downsampled by the server (min and max a bucket)
        above them."""
        return self.client.get(
            f"{self.path(run_id)}/metric_series", name=name, points=points, x_min=x_min, x_max=x_max
        )

    def post_metrics(self, run_id: str, batch: bytes) -> BatchResult:
        """One batch (JSON with its batch id): sent until the server takes or refuses it;
        the answer carries a HyperDrive policy's verdict on a trial."""
        response = self.client.request(
            "POST",
            f"{self.path(run_id)}/metrics:batch",
            content=batch,
            headers=JSON_HEADERS,
            idempotent=True,
            persistent=True,
        )
        return BatchResult.model_validate_json(response.content)

    # -- what the node layer reports ----------------------------------------------------
    def report_assignment(self, run_id: str, assignment_id: str, body: dict[str, Any]) -> None:
        self.client.request("PATCH", f"{self.path(run_id)}/assignments/{assignment_id}", json=body)
