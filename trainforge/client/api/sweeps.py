"""HyperDrive sweeps of a workspace: submit, read, cancel."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.runs import RunInfo
from trainforge.schemas.sweeps import SweepCreate, SweepInfo


class SweepsApi(WorkspaceResource):
    def create(self, experiment: str, body: SweepCreate) -> RunInfo:
        """Submit the sweep; its parent run comes back. A retry creates one sweep."""
        return RunInfo.model_validate(
            self.client.post(
                f"{self.base}/experiments/{experiment}/sweeps", body.model_dump(mode="json")
            )
        )

    def get(self, run_id: str) -> SweepInfo:
        return SweepInfo.model_validate(self.client.get(f"{self.base}/sweeps/{run_id}"))

    def cancel(self, run_id: str) -> RunInfo:
        return RunInfo.model_validate(self.client.post(f"{self.base}/sweeps/{run_id}/cancel"))
