"""Requests and the scheduler's pass that touch the same rows at once, on SQLite and on
PostgreSQL: what one of them committed is never overwritten by the other's older view.

CI met this as a run that failed with "The run's launcher ... ended (exit code None)
without reporting how the run ended" although its launcher had reported success: the
scheduler's pass read the launcher's assignment as running, the launcher's report was
committed, the launcher exited, and the pass, finding the process gone, wrote "failed"
over the report it had not seen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inprocess import DATABASES, Api, database_url
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.compute.backend import ProcessHandle
from trainforge.server.store import models


@pytest.fixture(params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    # A request that meets a held write lock is refused (503, sent again by the client)
    # after this long, rather than the suite's 30 s.
    url = database_url(str(request.param), tmp_path, request)
    control = Api(tmp_path / "home", url, db_busy_timeout_s=0.5)
    try:
        yield control
    finally:
        control.close()


def test_a_report_landing_while_the_scheduler_looks_at_its_launcher_is_kept(
    api: Api, tmp_path: Path
) -> None:
    ws = api.workspace(f"ws-{uuid.uuid4().hex[:6]}")
    run_id, assignment = api.launched(ws, tmp_path / "src")
    (launch,) = api.backend.launches
    api.call("PATCH", assignment, json={"state": "running"})

    answers: list[int] = []

    def is_alive(handle: ProcessHandle) -> bool:
        # The launcher reports its end while the pass looks at it, and exits once the
        # report is taken; a report refused as busy is sent again, so it lives on.
        if not answers:
            reply = api.request("PATCH", assignment, json={"state": "succeeded", "exit_code": 0})
            answers.append(reply.status_code)
        return answers[0] >= 300

    api.backend.is_alive = is_alive  # type: ignore[method-assign]
    api.tick()
    if answers[0] >= 300:
        assert answers[0] == 503, answers
        api.call("PATCH", assignment, json={"state": "succeeded", "exit_code": 0})
    api.tick()
    run = api.call("GET", f"/workspaces/{ws}/runs/{run_id}")
    assert run["status"] == "Completed", run.get("error")
    with api.plane.store.session() as db:
        kept = db.get(models.Assignment, launch.assignment_id)
        assert kept is not None
        assert (kept.outcome, kept.exit_code, kept.error) == ("succeeded", 0, None)
