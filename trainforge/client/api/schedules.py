"""Schedules of published pipelines in a workspace."""

from __future__ import annotations

import builtins

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.schedules import (
    ScheduleCreate,
    ScheduleFiringInfo,
    ScheduleInfo,
    ScheduleUpdate,
)


class SchedulesApi(WorkspaceResource):
    def create(self, body: ScheduleCreate) -> ScheduleInfo:
        return ScheduleInfo.model_validate(
            self.client.post(f"{self.base}/schedules", body.model_dump(mode="json"))
        )

    def get(self, schedule_id: str) -> ScheduleInfo:
        return ScheduleInfo.model_validate(self.client.get(f"{self.base}/schedules/{schedule_id}"))

    def list(
        self,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
    ) -> builtins.list[ScheduleInfo]:
        found = self.client.get(
            f"{self.base}/schedules",
            active_only=active_only,
            pipeline_id=pipeline_id,
            pipeline_endpoint_id=pipeline_endpoint_id,
        )
        return [ScheduleInfo.model_validate(item) for item in found]

    def update(self, schedule_id: str, body: ScheduleUpdate) -> ScheduleInfo:
        return ScheduleInfo.model_validate(
            self.client.patch(
                f"{self.base}/schedules/{schedule_id}",
                body.model_dump(mode="json", exclude_none=True),
            )
        )

    def runs(self, schedule_id: str) -> builtins.list[ScheduleFiringInfo]:
        """The pipeline runs the schedule submitted, newest first."""
        found = self.client.get(f"{self.base}/schedules/{schedule_id}/runs")
        return [ScheduleFiringInfo.model_validate(item) for item in found]
