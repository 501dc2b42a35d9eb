"""A launcher's last report carries what its logs gained since they were last shipped: the
bytes are written before the run's end is committed, so whoever sees the run ended reads
its log whole, and a small run ends with one request instead of two."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.inprocess import Api, error_message
from trainforge.schemas.compute import MAX_REPORT_LOG_BYTES

LOG = "azureml-logs/70_driver_log.txt"


def _started(api: Api, tmp_path: Path) -> tuple[str, str, str]:
    ws = api.workspace("alpha")
    run_id, assignment = api.launched(ws, tmp_path / "src")
    api.call("PATCH", assignment, json={"state": "running"})
    return ws, run_id, assignment


def _chunk(name: str, offset: int, data: bytes) -> dict[str, object]:
    return {"name": name, "offset": offset, "data": base64.b64encode(data).decode()}


def test_the_last_report_writes_the_log_tail_before_the_run_ends(
    app_api: Api, tmp_path: Path
) -> None:
    api = app_api
    ws, run_id, assignment = _started(api, tmp_path)
    log_path = f"/workspaces/{ws}/runs/{run_id}/files/{LOG}"
    api.call("POST", log_path, params={"offset": 0, "attempt": 1}, content=b"hello\n")
    end = {
        "state": "succeeded",
        "exit_code": 0,
        "logs": [_chunk(LOG, 6, b"world\n"), _chunk("azureml-logs/empty.txt", 0, b"")],
    }
    api.call("PATCH", assignment, json=end)
    assert api.call("GET", f"/workspaces/{ws}/runs/{run_id}")["status"] == "Completed"
    assert api.request("GET", log_path).content == b"hello\nworld\n"
    assert (
        api.request("GET", f"/workspaces/{ws}/runs/{run_id}/files/azureml-logs/empty.txt").content
        == b""
    )

    # The same report again (its answer was lost): taken, nothing written twice.
    api.call("PATCH", assignment, json=end)
    assert api.request("GET", log_path).content == b"hello\nworld\n"


def test_a_report_whose_logs_are_wrong_changes_nothing(app_api: Api, tmp_path: Path) -> None:
    api = app_api
    ws, run_id, assignment = _started(api, tmp_path)
    too_much = {"state": "succeeded", "logs": [_chunk(LOG, 0, b"x" * (MAX_REPORT_LOG_BYTES + 1))]}
    assert "logs: at most" in error_message(api.request("PATCH", assignment, json=too_much), 422)
    outside = {"state": "succeeded", "logs": [_chunk("../../escape.txt", 0, b"x")]}
    assert api.request("PATCH", assignment, json=outside).status_code == 400
    gap = {"state": "succeeded", "logs": [_chunk(LOG, 100, b"late\n")]}
    assert "beyond the end" in error_message(api.request("PATCH", assignment, json=gap), 409)
    # Refused whole: the run goes on running, and nothing escaped its folder.
    assert api.call("GET", f"/workspaces/{ws}/runs/{run_id}")["status"] == "Running"
    assert not list(tmp_path.rglob("escape.txt"))


def test_a_run_that_ended_at_once_reports_when_it_started_with_its_end(
    app_api: Api, tmp_path: Path
) -> None:
    api = app_api
    ws = api.workspace("alpha")
    run_id, assignment = api.launched(ws, tmp_path / "src")
    created = api.call("GET", f"/workspaces/{ws}/runs/{run_id}")["created_utc"]
    # No "running" first: the end says when the processes started (a naive time is UTC).
    started = datetime.fromisoformat(created).replace(tzinfo=None) + timedelta(milliseconds=5)
    end = {"state": "succeeded", "exit_code": 0, "started_at": started.isoformat()}
    api.call("PATCH", assignment, json=end)
    run = api.call("GET", f"/workspaces/{ws}/runs/{run_id}")
    assert run["status"] == "Completed"
    assert datetime.fromisoformat(run["start_time_utc"]) == started.replace(tzinfo=UTC)
    assert datetime.fromisoformat(run["end_time_utc"]) >= datetime.fromisoformat(
        run["start_time_utc"]
    )
