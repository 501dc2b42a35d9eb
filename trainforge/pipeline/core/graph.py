"""PipelineParameter, TrainingOutput and PortDataReference (``azureml.pipeline.core.graph``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from trainforge.data.abstract_dataset import AbstractDataset
from trainforge.data.datapath import DataPath
from trainforge.exceptions import UserErrorException
from trainforge.schemas.pipelines import (
    DATA_NAME,
    DATA_NAME_RULE,
    DataPathValue,
    DatasetValue,
    ParameterValue,
    TrainingOutputSpec,
)
from trainforge.schemas.problems import sdk_problems

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

SCALARS = (bool, int, float, str)


def parameter_value(name: str, value: Any) -> ParameterValue:
    """A parameter's value as the service takes it: a scalar, a DataPath's location, or a
    dataset's definition (with its id when registered)."""
    if isinstance(value, DataPath):
        return DataPathValue(
            datastore_name=value.datastore.name, path_on_datastore=value.path_on_datastore
        )
    if isinstance(value, AbstractDataset):
        return DatasetValue(dataset_id=value.id, definition=value._definition)
    if isinstance(value, SCALARS):
        return value
    raise UserErrorException(
        f"pipeline parameter {name!r}: takes a bool, int, float, str, DataPath or dataset, "
        f"not {type(value).__name__}"
    )


class PipelineParameter:
    """``PipelineParameter(name, default_value)``: a value given at submit
    (``pipeline_parameters={name: value}``); in a step's arguments it becomes the value.
    Wrapping a DataPath (with a DataPathComputeBinding) it is a data input; wrapping a
    dataset, ``DatasetConsumptionConfig(input_name, parameter)`` makes it one, which the
    script reads as ``Run.get_context().input_datasets[input_name]``."""

    def __init__(self, name: str, default_value: Any) -> None:
        if not isinstance(name, str) or not DATA_NAME.fullmatch(name):
            raise UserErrorException(f"name: {name!r} is not allowed; use {DATA_NAME_RULE}")
        parameter_value(name, default_value)
        self.name = name
        self.default_value = default_value

    def __repr__(self) -> str:
        return f"PipelineParameter_Name:{self.name}_Default:{self.default_value}"

    __str__ = __repr__


class TrainingOutput:
    """``TrainingOutput(type, iteration=None, metric=None, model_file=None)``: given as
    ``PipelineData(..., training_output=TrainingOutput(...))`` in the outputs of a
    HyperDriveStep or an AutoMLStep, the output gets what the search produced once it
    ended. ``type='Metrics'``: a JSON file of every child run's metrics. ``type='Model'``:
    the best child's model; an AutoMLStep's ``iteration`` (that iteration's) or ``metric``
    (the best by it) pick another; a HyperDriveStep's ``model_file`` (a path among the best
    trial's files, e.g. 'outputs/model/saved_model.pb') is the file it puts there, and
    without it the best trial's whole ``outputs`` folder goes. A bad combination raises
    ValueError naming the argument, as the SDK does."""

    def __init__(
        self,
        type: str,  # noqa: A002 - the SDK's argument name
        iteration: int | None = None,
        metric: str | None = None,
        model_file: str | None = None,
    ) -> None:
        kind = {"metrics": "Metrics", "model": "Model"}.get(str(type).lower())
        if kind is None:
            raise ValueError(
                f"type: unknown training output type {type!r}; use 'Metrics' or 'Model'"
            )
        try:
            self._spec = TrainingOutputSpec(
                type=kind, iteration=iteration, metric=metric, model_file=model_file
            )
        except ValidationError as exc:
            raise ValueError(sdk_problems(exc)) from None
        self._type = type

    @property
    def type(self) -> str:
        """'Metrics' or 'Model', as given."""
        return self._type

    @property
    def iteration(self) -> int | None:
        return self._spec.iteration

    @property
    def metric(self) -> str | None:
        return self._spec.metric

    @property
    def model_file(self) -> str | None:
        return self._spec.model_file

    def __repr__(self) -> str:
        return (
            f"TrainingOutput(type={self._spec.type!r}, iteration={self.iteration!r}, "
            f"metric={self.metric!r}, model_file={self.model_file!r})"
        )


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
