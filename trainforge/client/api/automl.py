"""Automated ML runs of a workspace: submit, read, continue, cancel."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.automl import AutoMLContinue, AutoMLCreate, AutoMLInfo
from trainforge.schemas.runs import RunInfo


class AutoMLApi(WorkspaceResource):
    def create(self, experiment: str, body: AutoMLCreate) -> RunInfo:
        """Submit the AutoML run; its parent run comes back. A retry creates one run."""
        return RunInfo.model_validate(
            self.client.post(
                f"{self.base}/experiments/{experiment}/automl", body.model_dump(mode="json")
            )
        )

    def get(self, run_id: str) -> AutoMLInfo:
        return AutoMLInfo.model_validate(self.client.get(f"{self.base}/automl/{run_id}"))

    def continue_run(self, run_id: str, body: AutoMLContinue) -> RunInfo:
        """A new AutoML run going on from ``run_id``; its parent run comes back. A retry
        creates one run."""
        return RunInfo.model_validate(
            self.client.post(f"{self.base}/automl/{run_id}/continue", body.model_dump(mode="json"))
        )

    def cancel(self, run_id: str) -> RunInfo:
        return RunInfo.model_validate(self.client.post(f"{self.base}/automl/{run_id}/cancel"))

    def cancel_iteration(self, run_id: str, iteration: int) -> RunInfo:
        return RunInfo.model_validate(
            self.client.post(f"{self.base}/automl/{run_id}/iterations/{iteration}/cancel")
        )
