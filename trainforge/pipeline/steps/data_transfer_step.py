"""DataTransferStep (``azureml.pipeline.steps.DataTransferStep``): data copied between
datastores as a pipeline step."""

from __future__ import annotations

import shlex
import tempfile
from typing import Any

from trainforge.core.runconfig import RunConfiguration
from trainforge.data.data_reference import DataReference
from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig
from trainforge.data.output_dataset_config import OutputDatasetConfig, OutputFileDatasetConfig
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.builder import BuildContext, PipelineData
from trainforge.pipeline.steps.python_script_step import ScriptStep
from trainforge.schemas.pipelines import DATA_NAME

DRIVER = "trainforge.node.data_transfer"
REFERENCE_TYPES = ("file", "directory")


def _label(item: Any) -> str:
    if isinstance(item, DataReference):
        return f"{item.datastore.name}/{item.path_on_datastore or ''}"
    if isinstance(item, DatasetConsumptionConfig):
        return f"dataset {item.name}"
    return f"output {item.name}"


def _consumed_source(item: Any) -> tuple[Any, str]:
    if isinstance(item, DataReference):
        return item.as_mount() if item.mode != "mount" else item, item.data_reference_name
    if isinstance(item, DatasetConsumptionConfig):
        return (item.as_mount() if item.mode == "direct" else item), item.name
    if isinstance(item, PipelineData):
        return item, item.name
    if isinstance(item, OutputFileDatasetConfig):
        consumed = item.as_input()
        return consumed, consumed.name
    raise UserErrorException(
        "source_data_reference: expected a DataReference, a PipelineData, an "
        f"OutputFileDatasetConfig or a dataset input, not {type(item).__name__}"
    )


def _destination(item: Any) -> Any:
    if isinstance(item, PipelineData | OutputDatasetConfig):
        return item
    if isinstance(item, DataReference):
        name = item.data_reference_name
        output = OutputFileDatasetConfig(
            name=name if DATA_NAME.fullmatch(name) else "destination",
            destination=(item.datastore, item.path_on_datastore or ""),
        )
        return output.as_upload(overwrite=True)
    raise UserErrorException(
        "destination_data_reference: expected a DataReference, a PipelineData or an "
        f"OutputFileDatasetConfig, not {type(item).__name__}"
    )


class DataTransferStep(ScriptStep):
    """``DataTransferStep(name, source_data_reference=None, destination_data_reference=None,
    compute_target=None, source_reference_type=None, destination_reference_type=None,
    allow_reuse=True)``: copy a file or a folder from one datastore path (a DataReference,
    an upstream step's output or a dataset input) to another (a DataReference, a
    PipelineData or an OutputFileDatasetConfig). Files already at the destination are
    overwritten. ``source_reference_type`` ('file' or 'directory') checks what the source
    is; without it, what is there is copied. ``compute_target`` (a DataFactoryCompute in
    the SDK) is accepted by object or name; the copy runs on the workspace's local compute,
    which reaches every datastore. Reused, like other steps, while its source's content is
    unchanged."""

    KIND = "DataTransferStep"

    def __init__(
        self,
        name: str,
        source_data_reference: Any = None,
        destination_data_reference: Any = None,
        compute_target: Any = None,
        source_reference_type: str | None = None,
        destination_reference_type: str | None = None,
        allow_reuse: bool = True,
    ) -> None:
        if source_data_reference is None:
            raise UserErrorException("source_data_reference: a DataTransferStep needs a source")
        if destination_data_reference is None:
            raise UserErrorException(
                "destination_data_reference: a DataTransferStep needs a destination"
            )
        for field, value in (
            ("source_reference_type", source_reference_type),
            ("destination_reference_type", destination_reference_type),
        ):
            if value is not None and value not in REFERENCE_TYPES:
                raise UserErrorException(f"{field}: {value!r} is not 'file' or 'directory'")
        if destination_reference_type == "file":
            raise UserErrorException(
                "destination_reference_type: 'file' is not supported here; the destination is "
                "a folder the source is copied into"
            )
        source, source_name = _consumed_source(source_data_reference)
        destination = _destination(destination_data_reference)
        command: list[Any] = [
            "python",
            "-m",
            DRIVER,
            "--source",
            source_name,
            "--destination",
            destination.name,
            "--source-label",
            shlex.quote(_label(source_data_reference)),
            "--destination-label",
            shlex.quote(_label(destination_data_reference)),
        ]
        if source_reference_type is not None:
            command += ["--source-type", source_reference_type]
        # Nothing of the user's folder goes with the copy: an empty snapshot.
        self._empty = tempfile.TemporaryDirectory(prefix="trainforge-transfer-")
        super().__init__(
            name,
            None,
            None,
            "local",
            RunConfiguration(),
            None,
            [source],
            [destination],
            None,
            self._empty.name,
            allow_reuse,
            None,
            command=command,
        )
        self.data_factory_compute = compute_target
        self.source_data_reference = source_data_reference
        self.destination_data_reference = destination_data_reference
        self.source_reference_type = source_reference_type
        self.destination_reference_type = destination_reference_type

    def _source(self, context: BuildContext) -> str:
        return self._empty.name
