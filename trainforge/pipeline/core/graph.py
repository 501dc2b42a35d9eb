"""PipelineParameter and PortDataReference (``azureml.pipeline.core.graph``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainforge.data.datapath import DataPath
from trainforge.exceptions import UserErrorException
from trainforge.schemas.pipelines import DATA_NAME, DATA_NAME_RULE, DataPathValue, ParameterValue

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

SCALARS = (bool, int, float, str)


def parameter_value(name: str, value: Any) -> ParameterValue:
    """A parameter's value as the service takes it: a scalar, or a DataPath's location."""
    if isinstance(value, DataPath):
        return DataPathValue(
            datastore_name=value.datastore.name, path_on_datastore=value.path_on_datastore
        )
    if isinstance(value, SCALARS):
        return value
    raise UserErrorException(
        f"pipeline parameter {name!r}: takes a bool, int, float, str or DataPath, "
        f"not {type(value).__name__}"
    )


class PipelineParameter:
    """``PipelineParameter(name, default_value)``: a value given at submit
    (``pipeline_parameters={name: value}``); in a step's arguments it becomes the value,
    and wrapping a DataPath (with a DataPathComputeBinding) it is a data input."""

    def __init__(self, name: str, default_value: Any) -> None:
        if not isinstance(name, str) or not DATA_NAME.fullmatch(name):
            raise UserErrorException(f"name: {name!r} is not allowed; use {DATA_NAME_RULE}")
        parameter_value(name, default_value)
        self.name = name
        self.default_value = default_value

    def __repr__(self) -> str:
        return f"PipelineParameter_Name:{self.name}_Default:{self.default_value}"

    __str__ = __repr__


class PortDataReference:
    """Where a step run's output is (``StepRun.get_output_data(name)``): a datastore and
    a path on it, downloadable."""

    def __init__(
        self, workspace: Workspace, name: str, datastore_name: str, path_on_datastore: str
    ) -> None:
        self._workspace = workspace
        self.name = name
        self.datastore_name = datastore_name
        self.path_on_datastore = path_on_datastore

    @property
    def _path_on_datastore(self) -> str:
        # The name the SDK's HyperDrive pipeline sample reads after download('.').
        return self.path_on_datastore

    @property
    def datastore(self) -> Any:
        from trainforge.data.datastore import Datastore

        return Datastore(self._workspace, self.datastore_name)

    def download(self, local_path: str, overwrite: bool = False, show_progress: bool = True) -> str:
        """Download the output to ``<local_path>/<path on the datastore>``; that path."""
        self.datastore.download(
            local_path,
            prefix=self.path_on_datastore,
            overwrite=overwrite,
            show_progress=show_progress,
        )
        return f"{local_path.rstrip('/')}/{self.path_on_datastore}"

    def __repr__(self) -> str:
        return (
            f"PortDataReference(Name:{self.name}, Datastore:{self.datastore_name}, "
            f"PathOnDatastore:{self.path_on_datastore})"
        )
