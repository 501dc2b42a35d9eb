"""A ParallelRunStep's settings (``ParallelRunConfig``), as its step's driver takes them:
the one place for their rules and defaults, shared by the SDK (which checks them at
construction) and the driver on the nodes (which reads them back from its arguments).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

OUTPUT_ACTIONS = ("append_row", "summary_only")
LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_APPEND_ROW_FILE = "parallel_run_step.txt"
# The SDK's defaults when mini_batch_size is not given: 10 files of a FileDataset per
# run() call, about 1 MB of a TabularDataset's data.
DEFAULT_FILES_PER_BATCH = 10
DEFAULT_TABULAR_BATCH = "1MB"
STEP_NAME = re.compile(r"^[a-z][a-z0-9-]{2,31}$")
STEP_NAME_RULE = "3 to 32 characters: lowercase letters, digits or dashes, starting with a letter"
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2}
_UNITS.update({"G": 1024**3, "GB": 1024**3})


def data_size(value: int | str) -> int:
    """A TabularDataset mini-batch size in bytes: ``1024``, ``'1024KB'``, ``'10MB'``,
    ``'1GB'`` (ValueError otherwise)."""
    if isinstance(value, bool):
        raise ValueError(f"mini_batch_size: {value!r} is not a size")
    if isinstance(value, int):
        size = value
    else:
        found = _SIZE.fullmatch(str(value))
        if found is None:
            raise ValueError(
                f"mini_batch_size: {value!r} is not a size; give bytes or a size such as "
                "'1024KB', '10MB' or '1GB'"
            )
        size = int(found.group(1)) * _UNITS[(found.group(2) or "").upper()]
    if size < 1:
        raise ValueError(f"mini_batch_size: {value!r} must be above zero")
    return size


def file_count(value: int | str) -> int:
    """A FileDataset mini-batch size: a number of files (``5`` or ``'5'``)."""
    if isinstance(value, bool) or not str(value).strip().isdigit() or int(str(value)) < 1:
        raise ValueError(
            f"mini_batch_size: {value!r} is not a number of files; a FileDataset's "
            "mini-batch is a whole number of files, 1 or more"
        )
    return int(str(value))


class ParallelRunSettings(BaseModel):
    """What the driver of a ParallelRunStep does, besides its data (``--input``) and
    output (``--output``): the entry script, how mini-batches are cut, how often a
    failing one is tried again and how many failures the step takes before it fails."""

    entry_script: str = Field(min_length=1)
    error_threshold: int = Field(ge=-1)
    output_action: Literal["append_row", "summary_only"]
    # A number of files (FileDataset) or a size ('1MB': TabularDataset); None: the default
    # of the input's kind.
    mini_batch_size: str | None = None
    logging_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    run_invocation_timeout: int = Field(default=60, ge=1)
    run_max_try: int = Field(default=3, ge=1)
    append_row_file_name: str = DEFAULT_APPEND_ROW_FILE
    allowed_failed_count: int | None = Field(default=None, ge=-1)
    allowed_failed_percent: float | None = Field(default=None, ge=0, le=100)
    partition_keys: list[str] | None = None

    @field_validator("mini_batch_size", mode="before")
    @classmethod
    def _size_as_text(cls, value: object) -> object:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not a number of files or a size")
        return str(value)

    @field_validator("mini_batch_size")
    @classmethod
    def _a_size(cls, value: str | None) -> str | None:
        if value is not None:
            data_size(value)  # a number of files is a size too
        return value

    @field_validator("append_row_file_name")
    @classmethod
    def _a_file_name(cls, value: str) -> str:
        if not value or "/" in value or "\\" in value or value in (".", ".."):
            raise ValueError(f"{value!r} is not a file name")
        return value

    @field_validator("logging_level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _partition_or_size(self) -> ParallelRunSettings:
        if self.partition_keys is not None and self.mini_batch_size is not None:
            raise ValueError(
                "partition_keys and mini_batch_size cannot both be given: with partition_keys "
                "each mini-batch holds the rows of one key"
            )
        if self.partition_keys is not None and not self.partition_keys:
            raise ValueError("partition_keys: give at least one key")
        return self

    def files_per_batch(self) -> int:
        """The mini-batch size of a FileDataset input, in files."""
        if self.mini_batch_size is None:
            return DEFAULT_FILES_PER_BATCH
        return file_count(self.mini_batch_size)

    def bytes_per_batch(self) -> int:
        """The mini-batch size of a TabularDataset input, in bytes."""
        return data_size(self.mini_batch_size or DEFAULT_TABULAR_BATCH)


class Budget(BaseModel):
    """How many failures a ParallelRunStep takes: ``error_threshold`` counts failed items
    (files of a FileDataset, rows of a TabularDataset), ``allowed_failed_count`` and
    ``allowed_failed_percent`` failed mini-batches; -1 (or 100 %) takes any number. The
    step fails when any one is exceeded."""

    error_threshold: int
    allowed_failed_count: int | None = None
    allowed_failed_percent: float | None = None

    def exceeded(self, failed_items: int, failed_batches: int, total_batches: int) -> str | None:
        """Why the failures so far end the step (None: they do not)."""
        if self.error_threshold >= 0 and failed_items > self.error_threshold:
            return f"{failed_items} failed items exceed error_threshold={self.error_threshold}"
        if (
            self.allowed_failed_count is not None
            and self.allowed_failed_count >= 0
            and failed_batches > self.allowed_failed_count
        ):
            return (
                f"{failed_batches} failed mini-batches exceed "
                f"allowed_failed_count={self.allowed_failed_count}"
            )
        if (
            self.allowed_failed_percent is not None
            and total_batches
            and 100.0 * failed_batches / total_batches > self.allowed_failed_percent
        ):
            percent = 100.0 * failed_batches / total_batches
            return (
                f"{failed_batches} of {total_batches} mini-batches failed ({percent:.1f} %), "
                f"above allowed_failed_percent={self.allowed_failed_percent:g}"
            )
        return None
