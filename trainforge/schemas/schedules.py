"""Schedules of published pipelines as the REST API sees them
(``azureml.pipeline.core.schedule``): a recurrence (``ScheduleRecurrence``) or a datastore
path polled for new and changed files.

The recurrence's rules are the SDK's: ``hours`` 0-23 and ``minutes`` 0-59 (for Hour, Day
and Week), ``week_days`` for Week only, ``time_of_day`` ("HH:MM") instead of hours and
minutes. A refusal names the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trainforge.schemas.names import ExperimentName
from trainforge.schemas.pipelines import ParameterValue
from trainforge.schemas.published_pipelines import Status

Frequency = Literal["Minute", "Hour", "Day", "Week", "Month"]
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
SCHEDULE_ID_PROPERTY = "azureml.scheduleid"
# The SDK's TimeZone names (Windows zone ids) that are not IANA names, for the common ones.
WINDOWS_ZONES = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "AUS Eastern Standard Time": "Australia/Sydney",
}


def zone(name: str | None) -> ZoneInfo:
    """The zone a recurrence's times are in (UTC when none is given)."""
    if name is None:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"time_zone: {name!r} is not a time zone; give an IANA name ('Europe/Lisbon') "
            "or one of the SDK's TimeZone names ('UTC', 'Pacific Standard Time', ...)"
        ) from None


class Recurrence(BaseModel):
    """``ScheduleRecurrence(frequency, interval, start_time=None, time_zone=None,
    hours=None, minutes=None, week_days=None, time_of_day=None)``."""

    model_config = ConfigDict(extra="forbid")

    frequency: Frequency
    interval: int = Field(ge=1, le=1000)
    start_time: datetime | None = None
    time_zone: str | None = Field(default=None, max_length=64)
    hours: list[int] | None = Field(default=None, max_length=24)
    minutes: list[int] | None = Field(default=None, max_length=60)
    week_days: list[str] | None = Field(default=None, max_length=7)
    time_of_day: str | None = None

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[int] | None) -> list[int] | None:
        for hour in value or []:
            if not 0 <= hour <= 23:
                raise ValueError(f"hours: {hour} is not an hour; hours are 0 to 23")
        return sorted(set(value)) if value else value

    @field_validator("minutes")
    @classmethod
    def _minutes(cls, value: list[int] | None) -> list[int] | None:
        for minute in value or []:
            if not 0 <= minute <= 59:
                raise ValueError(f"minutes: {minute} is not a minute; minutes are 0 to 59")
        return sorted(set(value)) if value else value

    @field_validator("week_days")
    @classmethod
    def _week_days(cls, value: list[str] | None) -> list[str] | None:
        for day in value or []:
            if day not in WEEK_DAYS:
                raise ValueError(f"week_days: {day!r} is not a day; use {', '.join(WEEK_DAYS)}")
        return value

    @field_validator("time_of_day")
    @classmethod
    def _time_of_day(cls, value: str | None) -> str | None:
        if value is not None and not TIME_OF_DAY.fullmatch(value):
            raise ValueError(f"time_of_day: {value!r} is not a time; use 'HH:MM' (24-hour)")
        return value

    @field_validator("start_time")
    @classmethod
    def _start_time(cls, value: datetime | None) -> datetime | None:
        # Slots are computed up to years ahead: far dates would leave the calendar.
        if value is not None and not 1970 <= value.year <= 2999:
            raise ValueError(f"start_time: {value.isoformat()} is not between 1970 and 2999")
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str | None) -> str | None:
        zone(value)
        return value

    @model_validator(mode="after")
    def _fits_the_frequency(self) -> Recurrence:
        if self.hours and self.frequency not in ("Day", "Week"):
            raise ValueError("hours: only for a frequency of 'Day' or 'Week'")
        if self.minutes and self.frequency not in ("Hour", "Day", "Week"):
            raise ValueError("minutes: only for a frequency of 'Hour', 'Day' or 'Week'")
        if self.week_days and self.frequency != "Week":
            raise ValueError("week_days: only for a frequency of 'Week'")
        if self.time_of_day is not None:
            if self.frequency not in ("Day", "Week"):
                raise ValueError("time_of_day: only for a frequency of 'Day' or 'Week'")
            if self.hours or self.minutes:
                raise ValueError("time_of_day: give either time_of_day or hours and minutes")
        return self

    def start(self) -> datetime | None:
        """``start_time`` as an aware moment: a naive one is in ``time_zone``."""
        if self.start_time is None:
            return None
        if self.start_time.tzinfo is None:
            return self.start_time.replace(tzinfo=zone(self.time_zone)).astimezone(UTC)
        return self.start_time.astimezone(UTC)


class ScheduleCreate(BaseModel):
    """``Schedule.create(workspace, name, pipeline_id, experiment_name, recurrence=None,
    description=None, pipeline_parameters=None, datastore=None, polling_interval=5,
    data_path_parameter_name=None, continue_on_step_failure=None, path_on_datastore=None,
    pipeline_endpoint_id=None)``: a recurrence, or a datastore to poll."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4096)
    pipeline_id: str | None = Field(default=None, max_length=64)
    pipeline_endpoint_id: str | None = Field(default=None, max_length=64)
    experiment_name: ExperimentName
    recurrence: Recurrence | None = None
    pipeline_parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    datastore_name: str | None = Field(default=None, max_length=255)
    # Minutes between two looks at the datastore.
    polling_interval: int = Field(default=5, ge=1, le=100_000)
    data_path_parameter_name: str | None = Field(default=None, max_length=128)
    path_on_datastore: str | None = Field(default=None, max_length=1024)
    continue_on_step_failure: bool | None = None

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleCreate:
        if (self.pipeline_id is None) == (self.pipeline_endpoint_id is None):
            raise ValueError("give either pipeline_id or pipeline_endpoint_id")
        if (self.recurrence is None) == (self.datastore_name is None):
            raise ValueError("give either recurrence or datastore (a schedule has one trigger)")
        if self.datastore_name is None and (
            self.data_path_parameter_name is not None or self.path_on_datastore is not None
        ):
            raise ValueError(
                "data_path_parameter_name and path_on_datastore: only for a schedule on a datastore"
            )
        return self


class ScheduleUpdate(BaseModel):
    """``schedule.update(name, description, recurrence, pipeline_parameters, status,
    datastore, polling_interval, data_path_parameter_name, continue_on_step_failure,
    path_on_datastore)`` and ``enable()``/``disable()``: None keeps a field."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4096)
    recurrence: Recurrence | None = None
    pipeline_parameters: dict[str, ParameterValue] | None = None
    status: Status | None = None
    datastore_name: str | None = Field(default=None, max_length=255)
    polling_interval: int | None = Field(default=None, ge=1, le=100_000)
    data_path_parameter_name: str | None = Field(default=None, max_length=128)
    path_on_datastore: str | None = Field(default=None, max_length=1024)
    continue_on_step_failure: bool | None = None


class ScheduleInfo(BaseModel):
    """A schedule: ``Schedule``'s attributes, and when it fires next."""

    id: str
    name: str
    description: str | None
    pipeline_id: str | None
    pipeline_endpoint_id: str | None
    experiment_name: str
    status: Status
    recurrence: Recurrence | None
    pipeline_parameters: dict[str, ParameterValue]
    datastore_name: str | None
    polling_interval: int
    data_path_parameter_name: str | None
    path_on_datastore: str | None
    continue_on_step_failure: bool | None
    next_run_time: datetime | None
    created: datetime


class ScheduleFiringInfo(BaseModel):
    """One pipeline run a schedule submitted: for which slot (a recurrence's moment, or a
    changed file on the datastore)."""

    slot: str
    run_id: str
    created: datetime


def _none_word(value: object) -> object:
    # The SDK's sample files write ``continue_on_step_failure: None``, which YAML reads as
    # the word, not null.
    return None if isinstance(value, str) and value.strip().lower() in ("none", "null") else value


class ScheduleYamlRecurrence(BaseModel):
    """``recurrence:`` of a schedule YAML file (``ScheduleRecurrence``'s arguments)."""

    model_config = ConfigDict(extra="ignore")

    frequency: str
    interval: int
    start_time: datetime | str | None = None
    time_zone: str | None = None
    hours: list[int] | None = None
    minutes: list[int] | None = None
    week_days: list[str] | None = None
    time_of_day: str | None = None

    _nones = field_validator("*", mode="before")(lambda value: _none_word(value))


class ScheduleYaml(BaseModel):
    """``Schedule:`` of a schedule YAML file (``Schedule.load_yaml``): the keys the SDK
    reads, others ignored as the SDK ignores them."""

    model_config = ConfigDict(extra="ignore")

    description: str | None = None
    recurrence: ScheduleYamlRecurrence | None = None
    pipeline_parameters: dict[str, object] | None = None
    wait_for_provisioning: bool | None = None
    wait_timeout: int | None = None
    datastore_name: str | None = None
    polling_interval: int | None = None
    data_path_parameter_name: str | None = None
    continue_on_step_failure: bool | None = None
    path_on_datastore: str | None = None

    _nones = field_validator("*", mode="before")(lambda value: _none_word(value))


class ScheduleYamlFile(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    schedule: ScheduleYaml = Field(alias="Schedule")
