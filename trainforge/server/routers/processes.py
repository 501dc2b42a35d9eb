"""The processes the control plane started (node agents, launchers), for ``trainforge down
--all``: read from the store, whichever database it is. Admin only (no workspace in the path)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select

from trainforge.schemas.server_state import ProcessRecord
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import plane
from trainforge.server.store import models

router = APIRouter()


@router.get("/processes", response_model=list[ProcessRecord])
def list_processes(cp: ControlPlane = Depends(plane)) -> list[ProcessRecord]:
    with cp.store.reading() as db:
        rows = [
            *db.execute(
                select(models.Node.pid, models.Node.pid_create_time).where(
                    models.Node.pid.is_not(None)
                )
            ),
            *db.execute(
                select(models.Assignment.pid, models.Assignment.pid_create_time).where(
                    models.Assignment.pid.is_not(None)
                )
            ),
        ]
    return [ProcessRecord(pid=pid, pid_create_time=created) for pid, created in rows]
