"""The processes a control plane started (node agents, launchers): what ``stop_all`` kills."""

from __future__ import annotations

from trainforge.client.http import TrainforgeClient
from trainforge.schemas.server_state import ProcessRecord


class ProcessesApi:
    """``/processes``: server-wide (admin token only), so it names no workspace."""

    def __init__(self, client: TrainforgeClient) -> None:
        self.client = client

    def list(self) -> list[ProcessRecord]:
        return [ProcessRecord.model_validate(item) for item in self.client.get("/processes")]
