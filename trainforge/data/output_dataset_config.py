"""OutputFileDatasetConfig (``azureml.data.output_dataset_config``): where a step writes
its output, and how later steps read it.

The step's processes write to a local folder (``source``, or one the node picks) that is
uploaded when they end to ``destination`` on its datastore: ``(datastore,
'dataset/{run-id}/{output-name}')`` by default, ``{run-id}`` and ``{output-name}``
filled in. A later step reads it by ``output.as_input()`` (a folder) or
``output.read_delimited_files().as_input(name)`` (a TabularDataset, in
``run.input_datasets[name]``); ``register_on_complete(name)`` registers it as a dataset
when the step completes. In arguments it is the local path.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from trainforge.exceptions import UserErrorException
from trainforge.schemas.datastores import (
    DATASET_TOKEN,
    REFERENCE_TOKEN,
    DatasetParse,
    OutputRegistration,
)
from trainforge.schemas.pipelines import DATA_NAME, DATA_NAME_RULE

DEFAULT_DESTINATION = "dataset/{run-id}/{output-name}"


def _checked_name(name: str | None, what: str) -> str:
    if name is None:
        return f"output_{uuid.uuid4().hex[:8]}"
    if not isinstance(name, str) or not DATA_NAME.fullmatch(name):
        raise UserErrorException(f"{what}: {name!r} is not allowed; use {DATA_NAME_RULE}")
    return name


class OutputDatasetConfig:
    """What file and tabular outputs share: a name, a destination, the step producing it,
    and its registration on completion."""

    def __init__(self, name: str | None = None) -> None:
        self.name = _checked_name(name, "name")
        self._datastore: Any = None
        self._path = DEFAULT_DESTINATION
        self._source: str | None = None
        self._mode = "mount"
        self._overwrite = False
        self._registration: OutputRegistration | None = None
        self._parse = DatasetParse(dataset_type="File")
        self._producer: Any = None
        self._origin: OutputDatasetConfig = self

    @property
    def destination(self) -> tuple[Any, str]:
        """(datastore or None for the default one, path with placeholders)."""
        return self._datastore, self._path

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def producer(self) -> Any:
        return self._origin._producer

    def _clone(self) -> Any:
        return copy.copy(self)

    def register_on_complete(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> Any:
        """Register the output as dataset ``name`` (a new version) when its step completes."""
        clone = self._clone()
        clone._registration = OutputRegistration(
            name=name, description=description, tags=dict(tags or {}), parse=self._parse
        )
        return clone

    @property
    def registration(self) -> OutputRegistration | None:
        return self._registration

    def __str__(self) -> str:
        return f"{REFERENCE_TOKEN}{self.name}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, destination={self._path!r})"


class OutputFileDatasetConfig(OutputDatasetConfig):
    """``OutputFileDatasetConfig(name=None, destination=None, source=None,
    partition_format=None)``: ``destination`` a (datastore, path) tuple."""

    def __init__(
        self,
        name: str | None = None,
        destination: tuple[Any, str] | None = None,
        source: str | None = None,
        partition_format: str | None = None,
    ) -> None:
        super().__init__(name)
        if destination is not None:
            if not isinstance(destination, tuple) or len(destination) != 2:
                raise UserErrorException(
                    "destination: give a (datastore, path) tuple, e.g. "
                    "(ws.get_default_datastore(), 'outputs/{run-id}/{output-name}')"
                )
            self._datastore, self._path = destination[0], str(destination[1])
        self._source = source
        if partition_format is not None:
            raise UserErrorException("partition_format: not supported here")

    def as_mount(self, disable_metadata_cache: bool = False) -> OutputFileDatasetConfig:
        """Written as a folder while the step runs (kept locally and uploaded when the
        step's processes end)."""
        clone: OutputFileDatasetConfig = self._clone()
        clone._mode = "mount"
        return clone

    def as_upload(
        self, overwrite: bool = False, source_globs: list[str] | None = None
    ) -> OutputFileDatasetConfig:
        """Uploaded when the step's processes end."""
        if source_globs:
            raise UserErrorException("source_globs: not supported here; the whole folder goes")
        clone: OutputFileDatasetConfig = self._clone()
        clone._mode, clone._overwrite = "upload", bool(overwrite)
        return clone

    def as_input(self, name: str | None = None) -> OutputDatasetInput:
        """The output as an input of a later step: its folder (mounted)."""
        return OutputDatasetInput(self, _checked_name(name or self.name, "name"), "mount")

    def read_delimited_files(
        self,
        include_path: bool = False,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        path_glob: str | None = None,
        set_column_types: Any = None,
    ) -> OutputTabularDatasetConfig:
        """The output's delimited files as a table for later steps (a TabularDataset)."""
        tabular = OutputTabularDatasetConfig.__new__(OutputTabularDatasetConfig)
        tabular.__dict__.update(self.__dict__)
        tabular._parse = DatasetParse(
            dataset_type="Tabular",
            separator=separator,
            header=bool(header),
            include_path=include_path,
        )
        if tabular._registration is not None:
            tabular._registration = tabular._registration.model_copy(
                update={"parse": tabular._parse}
            )
        return tabular


class OutputTabularDatasetConfig(OutputDatasetConfig):
    """An output read as a table (``OutputFileDatasetConfig.read_delimited_files()``)."""

    def as_input(self, name: str | None = None) -> OutputDatasetInput:
        """The table as an input of a later step: ``run.input_datasets[name]``."""
        return OutputDatasetInput(self, _checked_name(name or self.name, "name"), "direct")


class OutputDatasetInput:
    """An output consumed by a later step (``output.as_input(name)``)."""

    def __init__(self, output: OutputDatasetConfig, name: str, mode: str) -> None:
        self.output = output
        self.name = name
        self.mode = mode
        self.path_on_compute: str | None = None

    @property
    def parse(self) -> DatasetParse | None:
        """How the consumer reads it as a dataset: a table (None: as a folder)."""
        return self.output._parse if self.output._parse.dataset_type == "Tabular" else None

    def as_mount(self, path_on_compute: str | None = None) -> OutputDatasetInput:
        clone = copy.copy(self)
        clone.mode, clone.path_on_compute = "mount", path_on_compute
        return clone

    def as_download(self, path_on_compute: str | None = None) -> OutputDatasetInput:
        clone = copy.copy(self)
        clone.mode, clone.path_on_compute = "download", path_on_compute
        return clone

    def __str__(self) -> str:
        token = DATASET_TOKEN if self.parse is not None else REFERENCE_TOKEN
        return f"{token}{self.name}"

    __repr__ = __str__


def is_step_output_table(value: Any) -> bool:
    """Another pipeline step's output read as a table: an OutputTabularDatasetConfig
    (``read_delimited_files()``), its ``as_input()``, or a PipelineData's
    ``as_dataset().parse_delimited_files()`` (which says so itself)."""
    if isinstance(value, OutputTabularDatasetConfig):
        return True
    if isinstance(value, OutputDatasetInput):
        return value.parse is not None
    return bool(getattr(value, "_step_output_table", False))
