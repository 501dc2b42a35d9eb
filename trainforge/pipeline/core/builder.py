"""PipelineData, PipelineStep and StepSequence (``azureml.pipeline.core.builder``), and how
a step's arguments, inputs and outputs become the service's StepSpec."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from trainforge.data.abstract_dataset import AbstractDataset
from trainforge.data.data_reference import DataReference
from trainforge.data.datapath import DataPath, DataPathComputeBinding
from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig
from trainforge.data.output_dataset_config import OutputDatasetConfig, OutputDatasetInput
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.graph import PipelineParameter, TrainingOutput, parameter_value
from trainforge.schemas.datastores import (
    DATASET_TOKEN,
    REFERENCE_TOKEN,
    DatasetParse,
    OutputRegistration,
)
from trainforge.schemas.pipelines import (
    DATA_NAME,
    DATA_NAME_RULE,
    ParameterRef,
    PipelineParameterSpec,
    StepArgument,
    StepInput,
    StepOutput,
    StepSpec,
)

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

log = logging.getLogger("trainforge")
OUTPUT_MODES = ("mount", "upload")


class PipelineData:
    """Data one step produces and later steps consume: list it in the producer's
    ``outputs`` and the consumers' ``inputs``; in ``arguments`` it is the local path
    (``$AZUREML_DATAREFERENCE_<name>``). Kept on ``datastore`` (the pipeline's default
    datastore when None) under ``azureml/<producing step run id>/<name>``."""

    def __init__(
        self,
        name: str,
        datastore: Any = None,
        output_name: str | None = None,
        output_mode: str = "mount",
        output_path_on_compute: str | None = None,
        output_overwrite: bool | None = None,
        data_type: str | None = None,
        is_directory: bool | None = None,
        pipeline_output_name: str | None = None,
        training_output: Any = None,
    ) -> None:
        if not isinstance(name, str) or not DATA_NAME.fullmatch(name):
            raise UserErrorException(
                f"PipelineData name: {name!r} is not allowed; use {DATA_NAME_RULE}"
            )
        if pipeline_output_name is not None and not DATA_NAME.fullmatch(str(pipeline_output_name)):
            raise UserErrorException(
                f"pipeline_output_name: {pipeline_output_name!r} is not allowed; use "
                f"{DATA_NAME_RULE}"
            )
        if training_output is not None and not isinstance(training_output, TrainingOutput):
            raise UserErrorException(
                f"training_output: expected a TrainingOutput, not {type(training_output).__name__}"
            )
        if output_mode not in OUTPUT_MODES:
            raise UserErrorException(
                f"output_mode: {output_mode!r} is not allowed; use 'mount' or 'upload'"
            )
        self._name = name
        self.datastore = datastore
        self._output_name = output_name or name
        self._output_mode = output_mode
        self._output_path_on_compute = output_path_on_compute
        self._output_overwrite = bool(output_overwrite)
        self._data_type = data_type or "AnyFile"
        self._is_directory = is_directory
        self._pipeline_output_name = pipeline_output_name
        self._training_output: TrainingOutput | None = training_output
        self._producer: PipelineStep | None = None
        # How a consumer reads it: mount (default) or download (as_download()).
        self._input_mode = "mount"
        self._input_path_on_compute: str | None = None
        # The input's own name in a consuming step (``as_input(name)``): its variable.
        self._input_name: str | None = None
        self._origin: PipelineData = self
        # ``as_dataset().register(name)``: registered when its producing step completes.
        self._registration: OutputRegistration | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def data_type(self) -> str:
        return self._data_type

    def get_env_variable_name(self) -> str:
        """The variable holding the local path in the steps that use it."""
        return f"AZUREML_DATAREFERENCE_{self._name}"

    def _consumed(
        self, mode: str, path_on_compute: str | None, input_name: str | None = None
    ) -> PipelineData:
        if input_name is not None and not DATA_NAME.fullmatch(str(input_name)):
            raise UserErrorException(
                f"input_name: {input_name!r} is not allowed; use {DATA_NAME_RULE}"
            )
        clone = copy.copy(self)
        clone._input_mode, clone._input_path_on_compute = mode, path_on_compute
        clone._input_name = input_name if input_name != self._name else None
        clone._origin = self._origin
        return clone

    def as_mount(self, input_name: str | None = None) -> PipelineData:
        return self._consumed("mount", None, input_name)

    def as_download(
        self,
        input_name: str | None = None,
        path_on_compute: str | None = None,
        overwrite: bool | None = None,
    ) -> PipelineData:
        return self._consumed("download", path_on_compute, input_name)

    def as_input(self, input_name: str | None = None) -> PipelineData:
        """This output as a later step's input, under ``input_name`` where given (its
        ``$AZUREML_DATAREFERENCE_<input_name>``)."""
        return self._consumed("mount", None, input_name)

    def as_dataset(self) -> PipelineOutputFileDataset:
        """The output as a FileDataset for the steps that read it (``as_named_input``,
        ``parse_delimited_files``), registrable when its step completes (``register``)."""
        promoted = PipelineOutputFileDataset.__new__(PipelineOutputFileDataset)
        promoted.__dict__.update(self.__dict__)
        return promoted

    @property
    def producer(self) -> PipelineStep | None:
        return self._origin._producer

    def __str__(self) -> str:
        return f"{REFERENCE_TOKEN}{self._input_name or self._name}"

    def __repr__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self._input_name or self._name}"


class PipelineOutputFileDataset(PipelineData):
    """A PipelineData promoted to a dataset (``PipelineData.as_dataset()``): listed in the
    producer's outputs; a later step reads it as a dataset input
    (``run.input_datasets[name]``, mounted by default)."""

    _parse = DatasetParse(dataset_type="File")
    _dataset_name: str | None = None
    _dataset_mode = "mount"

    def _dataset_clone(self, **changes: Any) -> Any:
        clone = copy.copy(self)
        clone.__dict__.update(changes)
        return clone

    def as_named_input(self, name: str) -> PipelineOutputFileDataset:
        if not isinstance(name, str) or not DATA_NAME.fullmatch(name):
            raise UserErrorException(f"name: {name!r} is not allowed; use {DATA_NAME_RULE}")
        return self._dataset_clone(_dataset_name=name)  # type: ignore[no-any-return]

    def as_mount(self, path_on_compute: str | None = None) -> PipelineOutputFileDataset:
        return self._dataset_clone(  # type: ignore[no-any-return]
            _dataset_mode="mount", _input_path_on_compute=path_on_compute
        )

    def as_download(  # type: ignore[override]
        self, path_on_compute: str | None = None
    ) -> PipelineOutputFileDataset:
        return self._dataset_clone(  # type: ignore[no-any-return]
            _dataset_mode="download", _input_path_on_compute=path_on_compute
        )

    def as_direct(self) -> PipelineOutputFileDataset:
        return self._dataset_clone(_dataset_mode="direct")  # type: ignore[no-any-return]

    def parse_delimited_files(
        self,
        file_extension: str = ".csv",
        set_column_types: Any = None,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        **kwargs: Any,
    ) -> PipelineOutputTabularDataset:
        """The output's delimited files as a TabularDataset for the steps that read it."""
        tabular = PipelineOutputTabularDataset.__new__(PipelineOutputTabularDataset)
        tabular.__dict__.update(self.__dict__)
        tabular._parse = DatasetParse(
            dataset_type="Tabular", separator=separator, header=bool(header)
        )
        tabular._dataset_mode = "direct"
        return tabular

    def register(self, name: str, create_new_version: bool = True) -> PipelineOutputFileDataset:
        """Register the output as dataset ``name`` (a new version) when its step completes."""
        self._origin._registration = OutputRegistration(name=name, parse=self._parse)
        return self

    def __str__(self) -> str:
        return f"{DATASET_TOKEN}{self._dataset_name or self.name}"


class PipelineOutputTabularDataset(PipelineOutputFileDataset):
    """A PipelineData read as a table (``as_dataset().parse_delimited_files()``)."""

    # ``is_step_output_table``: an AutoMLConfig takes it as training data (in an AutoMLStep).
    _step_output_table = True


@dataclass
class BuildContext:
    """What turning steps into the service's graph needs: the workspace, the pipeline's
    defaults, snapshots (one per folder) and the parameters found."""

    workspace: Workspace
    default_datastore: str
    default_source_directory: str | None
    snapshot: Callable[[str], str | None]
    parameters: dict[str, PipelineParameter] = field(default_factory=dict)

    def parameter(self, param: PipelineParameter) -> ParameterRef:
        known = self.parameters.get(param.name)
        if known is not None and known is not param and known.default_value != param.default_value:
            raise UserErrorException(
                f"PipelineParameter {param.name!r} is defined twice with different defaults "
                f"({known.default_value!r} and {param.default_value!r})"
            )
        self.parameters.setdefault(param.name, param)
        return ParameterRef(parameter=param.name)

    def parameter_specs(self) -> list[PipelineParameterSpec]:
        return [
            PipelineParameterSpec(
                name=p.name, default_value=parameter_value(p.name, p.default_value)
            )
            for p in self.parameters.values()
        ]


class PipelineStep:
    """What every step shares: a name, its inputs and outputs, and what it runs after."""

    # Every step class by its name, as it is defined: the ``type`` of a step in a pipeline
    # YAML (``Pipeline.load_yaml``) is looked up here.
    _classes: ClassVar[dict[str, type[PipelineStep]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        PipelineStep._classes[cls.__name__] = cls

    def __init__(
        self,
        name: str,
        inputs: Iterable[Any] | None,
        outputs: Iterable[Any] | None,
        arguments: Iterable[Any] | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise UserErrorException(f"name: a step needs a name, got {name!r}")
        self.name = name
        self._inputs = list(inputs or [])
        self._outputs = list(outputs or [])
        self._arguments = list(arguments or [])
        self._allow_reuse = bool(allow_reuse)
        self._version = version
        self._run_after: list[PipelineStep] = []
        # An OutputFileDatasetConfig in the arguments is an output, listed or not.
        for arg in self._arguments:
            if isinstance(arg, OutputDatasetConfig) and not any(
                isinstance(o, OutputDatasetConfig) and o._origin is arg._origin
                for o in self._outputs
            ):
                self._outputs.append(arg)
        for output in self._outputs:
            if not isinstance(output, PipelineData | OutputDatasetConfig):
                raise UserErrorException(
                    f"outputs: step {name!r} lists a {type(output).__name__}; outputs are "
                    "PipelineData or OutputFileDatasetConfig"
                )
            output._origin._producer = self

    @property
    def allow_reuse(self) -> bool:
        return self._allow_reuse

    def run_after(self, step: PipelineStep) -> None:
        """Run this step after ``step`` ends (an edge without data)."""
        if not isinstance(step, PipelineStep):
            raise UserErrorException(f"run_after: expected a step, not {type(step).__name__}")
        if step not in self._run_after:
            self._run_after.append(step)

    def _upstream(self) -> list[PipelineStep]:
        """The steps this one needs: producers of its PipelineData inputs, and run_after."""
        found = []
        for item in [*self._inputs, *self._arguments]:
            if isinstance(item, OutputDatasetInput):
                item = item.output
            if (
                isinstance(item, PipelineData | OutputDatasetConfig)
                and item.producer is not None
                and item.producer is not self
            ):
                found.append(item.producer)
        return [*found, *self._run_after]

    def _spec(self, context: BuildContext, run_after: list[str]) -> StepSpec:
        raise NotImplementedError

    # -- arguments, inputs and outputs as the service takes them -------------------------
    def _data(self, context: BuildContext) -> tuple[list[StepInput], list[StepOutput]]:
        inputs: dict[str, StepInput] = {}
        for item in [*self._inputs, *(a for a in self._arguments if _is_data(a))]:
            if isinstance(item, PipelineData | OutputDatasetConfig) and any(
                item._origin is o._origin for o in self._outputs
            ):
                continue
            spec = _input(item, context)
            inputs.setdefault(spec.name, spec)
        outputs = [_output(o, context) for o in self._outputs]
        return list(inputs.values()), outputs

    def _words(self, items: Iterable[Any], context: BuildContext) -> list[StepArgument]:
        # One of the step's own outputs is the folder it writes, however it was wrapped.
        own = [o._origin for o in self._outputs]
        return [
            f"{REFERENCE_TOKEN}{item.name}"
            if isinstance(item, PipelineData) and any(item._origin is o for o in own)
            else _word(item, context)
            for item in items
        ]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _datastore_name(datastore: Any) -> str | None:
    if datastore is None:
        return None
    return datastore if isinstance(datastore, str) else str(datastore.name)


def _output(output: Any, context: BuildContext) -> StepOutput:
    if isinstance(output, OutputDatasetConfig):
        datastore, path = output.destination
        return StepOutput(
            name=output.name,
            datastore_name=_datastore_name(datastore) or context.default_datastore,
            mode="upload" if output._mode == "upload" else "mount",
            path_on_compute=output.source,
            overwrite=output._overwrite,
            destination=path,
            registration=output.registration,
        )
    return StepOutput(
        name=output.name,
        datastore_name=_datastore_name(output.datastore) or context.default_datastore,
        mode=output._output_mode,
        path_on_compute=output._output_path_on_compute,
        overwrite=output._output_overwrite,
        registration=output._origin._registration,
        pipeline_output_name=output._pipeline_output_name,
        training_output=(
            output._origin._training_output._spec if output._origin._training_output else None
        ),
    )


def _is_data(value: Any) -> bool:
    return (
        isinstance(
            value,
            PipelineData
            | DataReference
            | DatasetConsumptionConfig
            | OutputDatasetConfig
            | OutputDatasetInput,
        )
        or (
            isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], PipelineParameter)
        )
        or (isinstance(value, PipelineParameter) and isinstance(value.default_value, DataPath))
    )


def _word(item: Any, context: BuildContext) -> StepArgument:
    """One argument: data as the token the node replaces with its local path, a
    PipelineParameter as its value at submit, anything else as its text."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], PipelineParameter):
        context.parameter(item[0])
        return f"{REFERENCE_TOKEN}{item[0].name}"
    if isinstance(item, PipelineParameter):
        if isinstance(item.default_value, DataPath):
            context.parameter(item)
            return f"{REFERENCE_TOKEN}{item.name}"
        if isinstance(item.default_value, AbstractDataset):
            raise UserErrorException(
                f"arguments: PipelineParameter {item.name!r} holds a dataset; it goes in as "
                f"DatasetConsumptionConfig('<input name>', {item.name})"
            )
        return context.parameter(item)
    if isinstance(
        item,
        PipelineData
        | DataReference
        | DatasetConsumptionConfig
        | OutputDatasetConfig
        | OutputDatasetInput,
    ):
        return str(item)
    if isinstance(item, DataPath):
        raise UserErrorException(
            "arguments: a DataPath goes in as PipelineParameter(name, default_value=datapath), "
            "with a DataPathComputeBinding: (parameter, DataPathComputeBinding(mode='mount'))"
        )
    return str(item)


def _input(item: Any, context: BuildContext) -> StepInput:
    if isinstance(item, OutputDatasetConfig):  # another step's output, given as it is
        item = item.as_input() if hasattr(item, "as_input") else item
    if isinstance(item, OutputDatasetInput):
        parse = item.parse
        return StepInput(
            name=item.name,
            kind="pipeline_data",
            source=item.output.name if item.output.name != item.name else None,
            mode="direct" if parse is not None else item.mode,
            path_on_compute=item.path_on_compute,
            as_dataset=parse,
        )
    if isinstance(item, PipelineOutputFileDataset):
        name = item._dataset_name or item.name
        return StepInput(
            name=name,
            kind="pipeline_data",
            source=item.name if name != item.name else None,
            mode=item._dataset_mode,
            path_on_compute=item._input_path_on_compute,
            as_dataset=item._parse,
        )
    if isinstance(item, PipelineData):
        return StepInput(
            name=item._input_name or item.name,
            kind="pipeline_data",
            source=item.name if item._input_name else None,
            mode=item._input_mode,
            path_on_compute=item._input_path_on_compute,
        )
    if isinstance(item, DataReference):
        return StepInput(
            name=item.data_reference_name, kind="data_reference", reference=item.to_config()._spec()
        )
    if isinstance(item, DatasetConsumptionConfig):
        if isinstance(item.dataset, PipelineParameter):
            if not isinstance(item.dataset.default_value, AbstractDataset):
                raise UserErrorException(
                    f"inputs: DatasetConsumptionConfig {item.name!r} wraps PipelineParameter "
                    f"{item.dataset.name!r}, whose default is not a dataset"
                )
            context.parameter(item.dataset)
            return StepInput(
                name=item.name,
                kind="dataset_parameter",
                parameter=item.dataset.name,
                mode=item.mode,
                path_on_compute=item.path_on_compute,
            )
        return StepInput(name=item.name, kind="dataset", dataset=item._spec())
    param, binding = (item, None) if isinstance(item, PipelineParameter) else item
    if not isinstance(param, PipelineParameter) or not isinstance(param.default_value, DataPath):
        raise UserErrorException(
            f"inputs: {item!r} is not an input; give PipelineData, a DataReference, a dataset "
            "input or (PipelineParameter of a DataPath, DataPathComputeBinding)"
        )
    if binding is not None and not isinstance(binding, DataPathComputeBinding):
        raise UserErrorException(
            f"inputs: the second item of ({param.name}, ...) must be a DataPathComputeBinding"
        )
    context.parameter(param)
    return StepInput(
        name=param.name,
        kind="datapath_parameter",
        parameter=param.name,
        mode=(binding.mode if binding else "mount"),
        path_on_compute=binding.path_on_compute if binding else None,
        overwrite=binding.overwrite if binding else False,
    )


class StepSequence:
    """``StepSequence(steps)``: steps that run one after another (an item may be a list of
    steps that run side by side, all after the item before)."""

    def __init__(self, steps: Iterable[Any] | None = None) -> None:
        self._steps = list(steps or [])

    def _groups(self) -> list[list[PipelineStep]]:
        groups = []
        for item in self._steps:
            group = list(item) if isinstance(item, list | tuple) else [item]
            for step in group:
                if not isinstance(step, PipelineStep):
                    raise UserErrorException(
                        f"steps: a StepSequence holds steps, not {type(step).__name__}"
                    )
            groups.append(group)
        return groups

    def _edges(self) -> list[tuple[PipelineStep, PipelineStep]]:
        """(before, after) for each step of a group and each of the group before it."""
        groups = self._groups()
        return [
            (before, after)
            for previous, current in zip(groups, groups[1:], strict=False)
            for before in previous
            for after in current
        ]

    def _all(self) -> list[PipelineStep]:
        return [step for group in self._groups() for step in group]
