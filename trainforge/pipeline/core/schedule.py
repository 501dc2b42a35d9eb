"""Schedule, ScheduleRecurrence and TimeZone (``azureml.pipeline.core.schedule``).

A schedule submits a published pipeline on a recurrence, or when files right under a
datastore path are added or changed. The control plane's own loop fires it (it goes on
with the notebook closed and after a restart), once per slot. Slots missed while the
control plane was down are not backfilled: the latest one fires, once.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from trainforge.client.api import api
from trainforge.client.api.schedules import SchedulesApi
from trainforge.client.errors import sdk_errors, validated
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.graph import parameter_value
from trainforge.pipeline.core.run import PipelineRun
from trainforge.schemas.problems import rest_problems, sdk_problems
from trainforge.schemas.schedules import (
    WINDOWS_ZONES,
    Recurrence,
    ScheduleCreate,
    ScheduleInfo,
    ScheduleUpdate,
)

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

TimeZone = Enum(  # type: ignore[misc]
    "TimeZone",
    {name.replace(" ", "").replace(".", ""): name for name in WINDOWS_ZONES},
    module=__name__,
)
TimeZone.__doc__ = "The SDK's time zones (Windows names), for ``ScheduleRecurrence(time_zone=)``."


class ScheduleRecurrence:
    """``ScheduleRecurrence(frequency, interval, start_time=None, time_zone=None,
    hours=None, minutes=None, week_days=None, time_of_day=None)``: frequency 'Minute',
    'Hour', 'Day', 'Week' or 'Month'; hours 0-23 and minutes 0-59 for Day and Week
    (minutes for Hour too); week_days ('Monday', ...) for Week; time_of_day 'HH:MM'."""

    def __init__(
        self,
        frequency: str,
        interval: int,
        start_time: datetime | str | None = None,
        time_zone: Any = None,
        hours: builtins.list[int] | None = None,
        minutes: builtins.list[int] | None = None,
        week_days: builtins.list[str] | None = None,
        time_of_day: str | None = None,
    ) -> None:
        self.frequency = frequency
        self.interval = interval
        self.start_time = start_time
        self.time_zone = time_zone.value if isinstance(time_zone, Enum) else time_zone
        self.hours = hours
        self.minutes = minutes
        self.week_days = week_days
        self.time_of_day = time_of_day

    def validate(self) -> None:
        """Raise ValueError naming what is not allowed (as the SDK does)."""
        self._spec()

    def _spec(self) -> Recurrence:
        try:
            return Recurrence(
                frequency=self.frequency,
                interval=self.interval,
                start_time=self.start_time,
                time_zone=self.time_zone,
                hours=self.hours,
                minutes=self.minutes,
                week_days=self.week_days,
                time_of_day=self.time_of_day,
            )
        except ValidationError as exc:
            raise ValueError(sdk_problems(exc)) from None

    @classmethod
    def _of(cls, spec: Recurrence) -> ScheduleRecurrence:
        return cls(
            spec.frequency,
            spec.interval,
            spec.start_time,
            spec.time_zone,
            spec.hours,
            spec.minutes,
            spec.week_days,
            spec.time_of_day,
        )

    def __repr__(self) -> str:
        parts = [f"frequency={self.frequency!r}", f"interval={self.interval}"]
        for name in ("start_time", "time_zone", "hours", "minutes", "week_days", "time_of_day"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)!r}")
        return f"ScheduleRecurrence({', '.join(parts)})"


def _values(pipeline_parameters: dict[str, Any] | None) -> dict[str, Any]:
    return {k: parameter_value(k, v) for k, v in (pipeline_parameters or {}).items()}


def _datastore_name(datastore: Any) -> str | None:
    if datastore is None:
        return None
    return datastore if isinstance(datastore, str) else str(datastore.name)


class Schedule:
    """A schedule of a published pipeline: ``id``, ``name``, ``description``,
    ``pipeline_id``, ``pipeline_endpoint_id``, ``status`` ('Active' or 'Disabled'),
    ``recurrence``, ``datastore_name``, ``polling_interval``,
    ``data_path_parameter_name``, ``path_on_datastore``, ``continue_on_step_failure``."""

    def __init__(self, workspace: Workspace, info: ScheduleInfo, **kwargs: Any) -> None:
        self._workspace = workspace
        self._info = info

    def _api(self) -> SchedulesApi:
        return api(self._workspace, SchedulesApi)

    id = property(lambda self: self._info.id)
    name = property(lambda self: self._info.name)
    description = property(lambda self: self._info.description)
    pipeline_id = property(lambda self: self._info.pipeline_id)
    pipeline_endpoint_id = property(lambda self: self._info.pipeline_endpoint_id)
    status = property(lambda self: self._info.status)
    datastore_name = property(lambda self: self._info.datastore_name)
    polling_interval = property(lambda self: self._info.polling_interval)
    data_path_parameter_name = property(lambda self: self._info.data_path_parameter_name)
    path_on_datastore = property(lambda self: self._info.path_on_datastore)
    continue_on_step_failure = property(lambda self: self._info.continue_on_step_failure)
    next_run_time = property(lambda self: self._info.next_run_time)
    # Made at once: there is nothing to wait for (wait_for_provisioning is accepted).
    provisioning_status = "Completed"

    @property
    def recurrence(self) -> ScheduleRecurrence | None:
        spec = self._info.recurrence
        return ScheduleRecurrence._of(spec) if spec is not None else None

    @staticmethod
    def create(
        workspace: Workspace,
        name: str,
        pipeline_id: str,
        experiment_name: str,
        recurrence: ScheduleRecurrence | None = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: int = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> Schedule:
        """A schedule of published pipeline ``pipeline_id``: on ``recurrence``, or on
        new and changed files right under ``path_on_datastore`` of ``datastore`` (looked
        at every ``polling_interval`` minutes; the file goes in as the DataPath parameter
        ``data_path_parameter_name`` where one is named)."""
        return Schedule._create(
            workspace,
            name=name,
            pipeline_id=pipeline_id,
            experiment_name=experiment_name,
            recurrence=recurrence,
            description=description,
            pipeline_parameters=pipeline_parameters,
            datastore=datastore,
            polling_interval=polling_interval,
            data_path_parameter_name=data_path_parameter_name,
            continue_on_step_failure=continue_on_step_failure,
            path_on_datastore=path_on_datastore,
        )

    @staticmethod
    def create_for_pipeline_endpoint(
        workspace: Workspace,
        name: str,
        pipeline_endpoint_id: str,
        experiment_name: str,
        recurrence: ScheduleRecurrence | None = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: int = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> Schedule:
        """As ``create``, for the default version of a pipeline endpoint at each firing."""
        return Schedule._create(
            workspace,
            name=name,
            pipeline_endpoint_id=pipeline_endpoint_id,
            experiment_name=experiment_name,
            recurrence=recurrence,
            description=description,
            pipeline_parameters=pipeline_parameters,
            datastore=datastore,
            polling_interval=polling_interval,
            data_path_parameter_name=data_path_parameter_name,
            continue_on_step_failure=continue_on_step_failure,
            path_on_datastore=path_on_datastore,
        )

    @staticmethod
    def _create(
        workspace: Workspace,
        recurrence: ScheduleRecurrence | None,
        datastore: Any,
        pipeline_parameters: dict[str, Any] | None,
        **fields: Any,
    ) -> Schedule:
        if recurrence is not None and not isinstance(recurrence, ScheduleRecurrence):
            raise UserErrorException(
                f"recurrence: expected a ScheduleRecurrence, not {type(recurrence).__name__}"
            )
        spec = recurrence._spec() if recurrence is not None else None
        request = validated(
            ScheduleCreate,
            recurrence=spec,
            datastore_name=_datastore_name(datastore),
            pipeline_parameters=_values(pipeline_parameters),
            **fields,
        )
        with sdk_errors():
            return Schedule(workspace, api(workspace, SchedulesApi).create(request))

    @staticmethod
    def get(
        workspace: Workspace, id: str, _workflow_provider: Any = None, _service_endpoint: Any = None
    ) -> Schedule:
        with sdk_errors():
            return Schedule(workspace, api(workspace, SchedulesApi).get(id))

    @staticmethod
    def list(
        workspace: Workspace,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> builtins.list[Schedule]:
        """The workspace's schedules (active ones by default), of one pipeline or
        endpoint where given."""
        with sdk_errors():
            found = api(workspace, SchedulesApi).list(
                active_only=active_only,
                pipeline_id=pipeline_id,
                pipeline_endpoint_id=pipeline_endpoint_id,
            )
        return [Schedule(workspace, info) for info in found]

    @staticmethod
    def get_all(
        workspace: Workspace,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> builtins.list[Schedule]:
        """``list`` (the SDK's older name)."""
        return Schedule.list(workspace, active_only, pipeline_id, pipeline_endpoint_id)

    @staticmethod
    def get_schedules_for_pipeline_id(
        workspace: Workspace, pipeline_id: str
    ) -> builtins.list[Schedule]:
        return Schedule.list(workspace, active_only=False, pipeline_id=pipeline_id)

    @staticmethod
    def get_schedules_for_pipeline_endpoint_id(
        workspace: Workspace, pipeline_endpoint_id: str
    ) -> builtins.list[Schedule]:
        return Schedule.list(
            workspace, active_only=False, pipeline_endpoint_id=pipeline_endpoint_id
        )

    def update(
        self,
        name: str | None = None,
        description: str | None = None,
        recurrence: ScheduleRecurrence | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        status: str | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: int | None = None,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
    ) -> None:
        """Change what is given; a new recurrence counts its slots from now on."""
        request = validated(
            ScheduleUpdate,
            name=name,
            description=description,
            recurrence=recurrence._spec() if recurrence is not None else None,
            pipeline_parameters=(
                _values(pipeline_parameters) if pipeline_parameters is not None else None
            ),
            status=status,
            datastore_name=_datastore_name(datastore),
            polling_interval=polling_interval,
            data_path_parameter_name=data_path_parameter_name,
            continue_on_step_failure=continue_on_step_failure,
            path_on_datastore=path_on_datastore,
        )
        with sdk_errors():
            self._info = self._api().update(self.id, request)

    def enable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        """Fire again, from the next slot on (no backfill of the time it was disabled)."""
        self.update(status="Active")

    def disable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        self.update(status="Disabled")

    @staticmethod
    def load_yaml(
        workspace: Workspace,
        filename: str,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> dict[str, Any]:
        """The schedule parameters a YAML file's ``Schedule:`` section holds, as
        ``Schedule.create`` takes them (``recurrence`` a ScheduleRecurrence,
        ``datastore_name`` a Datastore): the SDK's ``load_yaml``. A file without the
        section raises ValueError; a bad key raises ValueError naming it."""
        from pathlib import Path

        import yaml

        from trainforge.data.datastore import Datastore
        from trainforge.schemas.schedules import ScheduleYamlFile

        try:
            raw = yaml.safe_load(Path(filename).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"filename: cannot read {filename}: {exc}") from None
        if not isinstance(raw, dict) or "Schedule" not in raw:
            raise ValueError('Schedule Yaml file must have a "Schedule:" section')
        try:
            section = ScheduleYamlFile.model_validate(raw).schedule
        except ValidationError as exc:
            raise ValueError(f"Schedule: {rest_problems(exc.errors())}") from None
        found: dict[str, Any] = section.model_dump(exclude_unset=True)
        if section.recurrence is not None:
            given = section.recurrence
            zone = given.time_zone
            found["recurrence"] = ScheduleRecurrence(
                frequency=given.frequency,
                interval=given.interval,
                start_time=given.start_time,
                time_zone=TimeZone(zone) if zone in TimeZone._value2member_map_ else zone,
                hours=given.hours,
                minutes=given.minutes,
                week_days=given.week_days,
                time_of_day=given.time_of_day,
            )
        if section.datastore_name is not None:
            found["datastore_name"] = Datastore(workspace, section.datastore_name)
        return found

    def get_pipeline_runs(self) -> builtins.list[PipelineRun]:
        """The pipeline runs this schedule submitted, newest first."""
        from trainforge.core.run import get_run

        with sdk_errors():
            firings = self._api().runs(self.id)
        return [cast(PipelineRun, get_run(self._workspace, f.run_id)) for f in firings]

    def get_last_pipeline_run(self) -> PipelineRun | None:
        runs = self.get_pipeline_runs()
        return runs[0] if runs else None

    def __repr__(self) -> str:
        trigger = (
            f"Recurrence: {self.recurrence!r}"
            if self._info.recurrence is not None
            else f"Datastore: {self.datastore_name}, Path: {self.path_on_datastore or '/'}"
        )
        return (
            f"Pipeline(Id: {self.id},\nName: {self.name},\nStatus: {self.status},\n"
            f"Pipeline Id: {self.pipeline_id},\n{trigger})"
        )

    __str__ = __repr__
