"""The scheduler loop: start queued runs on their backend, stop canceled ones, reap lost ones."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from trainforge.compute.backend import ComputeBackend, LaunchHandle, LaunchRequest
from trainforge.schemas.runs import ErrorDetail, RunStatus
from trainforge.server.auth import run_token
from trainforge.server.services import run_states
from trainforge.server.settings import ServerSettings
from trainforge.server.store import models
from trainforge.server.store.database import Store

log = logging.getLogger("trainforge.scheduler")
LIVE_ASSIGNMENT = ("active", "stopping")


def _handle(assignment: models.Assignment) -> LaunchHandle | None:
    if assignment.pid is None or assignment.pid_create_time is None:
        return None
    return LaunchHandle(
        backend=assignment.backend,
        node_id=assignment.node_id,
        pid=assignment.pid,
        pid_create_time=assignment.pid_create_time,
    )


class Scheduler:
    def __init__(
        self, store: Store, settings: ServerSettings, backends: dict[str, ComputeBackend]
    ) -> None:
        self.store = store
        self.settings = settings
        self.backends = backends
        self.endpoint = ""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._thread = threading.Thread(target=self._loop, name="trainforge-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        """Run a pass now (after a submit or cancel) instead of at the next interval."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.settings.scheduler_interval_s)
            self._wake.clear()
            try:
                self.tick()
            except Exception:  # the loop must outlive any one bad pass
                log.exception("scheduler pass failed")

    def tick(self) -> None:
        self._start_queued()
        self._stop_canceled()
        self._reap()

    # -- passes -----------------------------------------------------------------------
    def _start_queued(self) -> None:
        with self.store.session() as db:
            queued = db.scalars(
                select(models.Run)
                .where(models.Run.status == RunStatus.QUEUED.value, models.Run.kind == "script")
                .order_by(models.Run.created)
            ).all()
            launches = []
            for run in queued:
                backend = self.backends.get(run.target or "local")
                if backend is None:
                    continue
                ws = db.get(models.Workspace, run.workspace_id)
                assert ws is not None
                run_states.transition(run, RunStatus.PREPARING)
                assignment = models.Assignment(
                    run_id=run.id, attempt=run.attempt, backend=backend.name
                )
                db.add(assignment)
                db.flush()
                launches.append(
                    (
                        assignment.id,
                        backend,
                        LaunchRequest(
                            run_id=run.id,
                            workspace_name=ws.name,
                            attempt=run.attempt,
                            endpoint=self.endpoint,
                            run_token=run_token(self.settings.signing_key, ws.name, run.id),
                            home=self.settings.home,
                            node_dir=self.settings.workspace_dir(ws.name)
                            / "nodes"
                            / "local"
                            / run.id,
                        ),
                    )
                )
        for assignment_id, backend, request in launches:
            self._launch(assignment_id, backend, request)

    def _launch(self, assignment_id: int, backend: ComputeBackend, request: LaunchRequest) -> None:
        try:
            handle = backend.start_launcher(request)
        except Exception as exc:
            log.exception("could not start the launcher of %s", request.run_id)
            with self.store.session() as db:
                run = db.get(models.Run, request.run_id)
                assignment = db.get(models.Assignment, assignment_id)
                if assignment is not None:
                    assignment.state = "ended"
                if run is not None and not RunStatus(run.status).is_terminal:
                    run.error = ErrorDetail(
                        code="ServiceError", message=f"Could not start the run's launcher: {exc}"
                    ).model_dump()
                    run_states.transition(run, RunStatus.FAILED)
            return
        with self.store.session() as db:
            assignment = db.get(models.Assignment, assignment_id)
            if assignment is not None:
                assignment.pid = handle.pid
                assignment.pid_create_time = handle.pid_create_time
                assignment.node_id = handle.node_id

    def _stop_canceled(self) -> None:
        with self.store.session() as db:
            rows = db.execute(
                select(models.Assignment)
                .join(models.Run, models.Run.id == models.Assignment.run_id)
                .where(
                    models.Run.status == RunStatus.CANCEL_REQUESTED.value,
                    models.Assignment.state == "active",
                )
            ).scalars()
            for assignment in rows:
                handle = _handle(assignment)
                backend = self.backends.get(assignment.backend)
                if handle is not None and backend is not None:
                    backend.terminate(handle)
                assignment.state = "stopping"
                assignment.stop_requested = time.time()

    def _reap(self) -> None:
        """End assignments whose launcher is gone; a run left unfinished by one failed."""
        with self.store.session() as db:
            live = db.scalars(
                select(models.Assignment).where(models.Assignment.state.in_(LIVE_ASSIGNMENT))
            ).all()
            for assignment in live:
                backend = self.backends.get(assignment.backend)
                handle = _handle(assignment)
                if backend is None:
                    continue
                if handle is None:
                    # Started but never got a pid: the server died between the two steps.
                    age = time.time() - assignment.created.timestamp()
                    if age < 30:
                        continue
                    alive = False
                else:
                    alive = backend.is_alive(handle)
                if alive:
                    if (
                        assignment.state == "stopping"
                        and assignment.stop_requested is not None
                        and time.time() - assignment.stop_requested > self.settings.stop_grace_s
                    ):
                        backend.kill(handle)  # type: ignore[arg-type]
                    continue
                assignment.state = "ended"
                run = db.get(models.Run, assignment.run_id)
                if run is None or run.attempt != assignment.attempt:
                    continue
                status = RunStatus(run.status)
                if status.is_terminal:
                    continue
                if status is not RunStatus.CANCEL_REQUESTED and run.error is None:
                    pid = assignment.pid if assignment.pid is not None else "unknown"
                    run.error = ErrorDetail(
                        code="ServiceError",
                        message=(
                            f"The run's launcher (pid {pid}) ended without reporting a final "
                            "status; see azureml-logs/70_driver_log.txt and the launcher log"
                        ),
                    ).model_dump()
                run_states.transition(run, RunStatus.FAILED)
