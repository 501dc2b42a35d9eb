"""Data objects in a run's arguments: each DataReference, Datastore or dataset input is
registered with the run configuration and replaced by the token the node expands, as the
SDK does for ``script_params``, ``arguments`` and Estimator ``inputs``."""

from __future__ import annotations

from typing import Any

from trainforge.exceptions import UserErrorException
from trainforge.schemas.datastores import DataReferenceSpec, DatasetInputSpec


def bind_data(arguments: list[Any], run_config: Any, inputs: list[Any] | None = None) -> list[Any]:
    """``arguments`` with data objects replaced by their tokens; ``run_config.data_references``
    and ``run_config.data`` gain every reference and dataset input found (``inputs`` too)."""
    for item in inputs or []:
        _register(item, run_config)
    return [_register(arg, run_config) for arg in arguments]


def _register(value: Any, run_config: Any) -> Any:
    from trainforge.data.abstract_dataset import AbstractDataset
    from trainforge.data.data_reference import DataReference
    from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig
    from trainforge.data.datastore import Datastore
    from trainforge.data.output_dataset_config import OutputDatasetConfig, OutputDatasetInput

    if isinstance(value, Datastore):
        value = value.as_mount()
    if isinstance(value, DataReference):
        run_config.data_references[value.data_reference_name] = value.to_config()
        return str(value)
    if isinstance(value, DatasetConsumptionConfig):
        run_config.data[value.name] = value
        return str(value)
    if isinstance(value, OutputDatasetConfig | OutputDatasetInput):
        raise UserErrorException(
            f"arguments: OutputFileDatasetConfig {value.name!r} is supported in pipeline steps "
            "and a ScriptRunConfig's arguments only here, not yet in an Estimator or a command "
            "(or, for as_input(), outside a pipeline); write to ./outputs, or use a "
            "ScriptRunConfig"
        )
    if isinstance(value, AbstractDataset):
        raise UserErrorException(
            "arguments: a Dataset cannot be passed as it is; use "
            "dataset.as_named_input('name').as_mount() (or .as_download(), or direct mode)"
        )
    return value


def data_reference_specs(run_config: Any) -> dict[str, DataReferenceSpec]:
    return {name: ref._spec() for name, ref in run_config.data_references.items()}


def dataset_specs(run_config: Any) -> dict[str, DatasetInputSpec]:
    return {name: config._spec() for name, config in run_config.data.items()}
