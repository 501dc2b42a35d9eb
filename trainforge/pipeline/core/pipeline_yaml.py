"""``Pipeline.load_yaml(workspace, filename)``: the SDK v1 pipeline YAML turned into steps.

The file is checked whole first (``schemas/pipeline_yaml.py``), so a bad key is refused
naming it and nothing is built. Then, as the SDK's parser does: ``parameters`` become
PipelineParameters; ``data_references`` DataReferences or dataset inputs; each step's
``inputs`` bind a data reference, a datapath parameter (with a DataPathComputeBinding) or
another step's output by its ``destination`` (one PipelineData per destination, whatever
the order of the steps); ``outputs`` are PipelineData named by their ``destination``;
``arguments`` ``input:<name>`` and ``output:<name>`` are those inputs and outputs; step
``parameters`` (a value, or ``{source: <pipeline parameter>}``) are its ``params``.

Relative paths (``source_directory``, ``runconfig``) are taken from the working directory
where they exist there, else from the YAML file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from trainforge.core.runconfig import RunConfiguration
from trainforge.data.data_reference import DataReference
from trainforge.data.datapath import DataPath, DataPathComputeBinding
from trainforge.exceptions import RunConfigurationException, UserErrorException
from trainforge.pipeline.core.builder import PipelineData, PipelineStep
from trainforge.pipeline.core.graph import PipelineParameter
from trainforge.schemas.pipeline_yaml import (
    PipelineYaml,
    YamlDataReference,
    YamlInput,
    YamlParameter,
    YamlParameterSource,
    YamlPipeline,
    YamlStep,
)
from trainforge.schemas.problems import rest_problems

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

DEFAULTS: dict[str, Any] = {"string": "", "int": 0, "float": 0.0, "bool": False}
ARGUMENT_PREFIXES = ("input:", "output:", "side_input:", "parameter:")


def load(workspace: Workspace, filename: str) -> tuple[list[PipelineStep], str | None]:
    """The steps the file describes and the pipeline's description; ValueError naming the
    key for a bad file."""
    path = Path(filename)
    if not path.is_file():
        raise ValueError(f"filename: {filename} is not a file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"filename: {filename} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or "pipeline" not in raw:
        raise ValueError('pipeline: a pipeline YAML file must have a "pipeline:" section')
    try:
        spec = PipelineYaml.model_validate(raw).pipeline
    except ValidationError as exc:
        raise ValueError(rest_problems(exc.errors())) from None
    return _Builder(workspace, spec, path.parent).steps(), spec.description or spec.name


class _Builder:
    def __init__(self, workspace: Workspace, spec: YamlPipeline, folder: Path) -> None:
        self.workspace = workspace
        self.spec = spec
        self.folder = folder
        self.parameters = {
            name: self._parameter(name, p) for name, p in (spec.parameters or {}).items()
        }
        self.references = dict(spec.data_references)
        # One PipelineData per destination, shared by its producer and its consumers.
        self.data: dict[str, PipelineData] = {}

    def _path(self, value: str | None) -> str | None:
        if value is None or Path(value).is_absolute() or Path(value).exists():
            return value
        return str(self.folder / value)

    def _parameter(self, name: str, spec: YamlParameter) -> PipelineParameter:
        default = spec.default
        if spec.type == "datapath":
            if default is None:
                raise ValueError(
                    f"pipeline.parameters.{name}.default: a datapath parameter needs its "
                    "datastore and path_on_datastore"
                )
            from trainforge.data.datastore import Datastore

            assert not isinstance(default, bool | int | float | str)
            value: Any = DataPath(
                datastore=Datastore(self.workspace, default.datastore),
                path_on_datastore=default.path_on_datastore,
                name=default.name,
            )
        else:
            convert = {"string": str, "int": int, "float": float, "bool": bool}[spec.type]
            try:
                value = DEFAULTS[spec.type] if default is None else convert(default)
            except (TypeError, ValueError):
                raise ValueError(
                    f"pipeline.parameters.{name}.default: {default!r} is not a {spec.type}"
                ) from None
        return PipelineParameter(name=name, default_value=value)

    def steps(self) -> list[PipelineStep]:
        return [self._step(key, step) for key, step in self.spec.steps.items()]

    def _where(self, key: str, *parts: str) -> str:
        return ".".join(["pipeline.steps", key, *parts])

    def _bound(self, key: str, section: str, name: str, wanted: YamlInput) -> Any:
        """One input: a datapath parameter, a data reference, or a step's output."""
        source = wanted.source
        parameter = self.parameters.get(source)
        if parameter is not None:
            if not isinstance(parameter.default_value, DataPath):
                raise ValueError(
                    f"{self._where(key, section, name, 'source')}: parameter {source!r} is not "
                    "a datapath parameter"
                )
            binding = DataPathComputeBinding(
                mode=wanted.bind_mode,
                path_on_compute=wanted.path_on_compute,
                overwrite=bool(wanted.overwrite),
            )
            return (parameter, binding)
        reference = self.references.get(source)
        if reference is not None:
            return self._reference(name, reference, wanted)
        data = self.data.setdefault(source, PipelineData(source))
        if wanted.bind_mode == "download":
            return data.as_download(input_name=name, path_on_compute=wanted.path_on_compute)
        return data.as_input(name)

    def _reference(self, name: str, reference: YamlDataReference, wanted: YamlInput) -> Any:
        mode = wanted.bind_mode if "bind_mode" in wanted.model_fields_set else reference.bind_mode
        if reference.datastore is not None:
            from trainforge.data.datastore import Datastore

            return DataReference(
                datastore=Datastore(self.workspace, reference.datastore),
                data_reference_name=name,
                path_on_datastore=reference.path_on_datastore,
                mode=mode,
                path_on_compute=wanted.path_on_compute,
                overwrite=bool(wanted.overwrite),
            )
        from trainforge.core.dataset import Dataset

        if reference.dataset_name:
            dataset = Dataset.get_by_name(self.workspace, name=reference.dataset_name)
        else:
            assert reference.dataset_id is not None  # YamlDataReference: one of the two
            dataset = Dataset.get_by_id(self.workspace, id=reference.dataset_id)
        named = dataset.as_named_input(name)
        return named.as_download(wanted.path_on_compute) if mode == "download" else named.as_mount()

    def _inputs(self, key: str, section: str, given: dict[str, YamlInput]) -> dict[str, Any]:
        return {name: self._bound(key, section, name, wanted) for name, wanted in given.items()}

    def _outputs(self, step: YamlStep) -> dict[str, PipelineData]:
        outputs = {}
        for name, wanted in step.outputs.items():
            data = self.data.setdefault(wanted.destination, PipelineData(wanted.destination))
            # Made by a consumer seen first, or here: the producer's settings are these.
            data.datastore = wanted.datastore
            data._output_name = name
            data._output_mode = wanted.bind_mode
            data._output_path_on_compute = wanted.path_on_compute
            data._output_overwrite = bool(wanted.overwrite)
            outputs[name] = data.as_dataset() if wanted.as_dataset else data
        return outputs

    def _parameters(
        self, key: str, section: str, given: dict[str, YamlParameterSource | Any]
    ) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, value in given.items():
            if isinstance(value, YamlParameterSource):
                if value.source not in self.parameters:
                    raise ValueError(
                        f"{self._where(key, section, name, 'source')}: {value.source!r} is not "
                        "a parameter of the pipeline"
                    )
                found[name] = self.parameters[value.source]
            else:
                found[name] = value
        return found

    def _step(self, key: str, step: YamlStep) -> PipelineStep:
        # The step classes of trainforge.pipeline.steps, which the package loads with core.
        # (Their own constructors, with the SDK's arguments.)
        step_class: Any = PipelineStep._classes[step.type]
        compute = step.compute or self.spec.default_compute
        runconfig = None
        if step.runconfig is not None:
            try:
                runconfig = RunConfiguration.load(self._path(step.runconfig) or step.runconfig)
            except RunConfigurationException as exc:
                raise ValueError(f"{self._where(key, 'runconfig')}: {exc.message}") from None
        if step.type == "DataTransferStep":
            (source,) = self._inputs(
                key, "source_data_reference", step.source_data_reference
            ).values()
            ((name, wanted),) = step.destination_data_reference.items()
            dest = (
                self._bound(key, "destination_data_reference", name, wanted)
                if wanted.source in self.references or wanted.source in self.parameters
                # A PipelineData the step produces, under its own name.
                else self.data.setdefault(wanted.source, PipelineData(wanted.source))
            )
            return step_class(  # type: ignore[no-any-return]
                name=step.name or key,
                source_data_reference=source,
                destination_data_reference=dest,
                source_reference_type=step.source_reference_type,
                destination_reference_type=step.destination_reference_type,
                compute_target=compute,
                allow_reuse=step.allow_reuse,
            )
        inputs = self._inputs(key, "inputs", step.inputs)
        side_inputs = self._inputs(key, "side_inputs", step.side_inputs)
        outputs = self._outputs(step)
        params = self._parameters(key, "parameters", step.parameters)
        named = {"input": inputs, "output": outputs, "side_input": side_inputs, "parameter": params}
        arguments: list[Any] = []
        for arg in step.arguments:
            text = str(arg) if not isinstance(arg, str) else arg
            kind, _, name = text.partition(":")
            found = named.get(kind, {})
            arguments.append(found.get(name, arg) if text.startswith(ARGUMENT_PREFIXES) else arg)
        if step.type == "ParallelRunStep":
            assert step.parallel_run_config is not None and step.name is not None
            config_file = self._path(step.parallel_run_config) or step.parallel_run_config
            try:
                config = step_class._config_from_yaml(self.workspace, config_file)
            except UserErrorException as exc:
                raise ValueError(
                    f"{self._where(key, 'parallel_run_config')}: {exc.message}"
                ) from None
            return step_class(  # type: ignore[no-any-return]
                name=step.name,
                parallel_run_config=config,
                inputs=list(inputs.values()),
                output=next(iter(outputs.values()), None),
                side_inputs=list(side_inputs.values()) or None,
                arguments=arguments,
                allow_reuse=step.allow_reuse,
            )
        assert step.script_name is not None
        return step_class(  # type: ignore[no-any-return]
            script_name=step.script_name,
            name=step.name,
            arguments=arguments,
            compute_target=compute,
            runconfig=runconfig,
            runconfig_pipeline_params=self._parameters(
                key, "runconfig_parameters", step.runconfig_parameters
            ),
            inputs=list(inputs.values()),
            outputs=list(outputs.values()),
            params=params,
            source_directory=self._path(step.source_directory),
            allow_reuse=step.allow_reuse,
            version=step.version,
            hash_paths=step.hash_paths,
        )
