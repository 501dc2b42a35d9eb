"""The SDK v1 pipeline YAML (``Pipeline.load_yaml``) and run configuration file
(``RunConfiguration.load``) as pydantic models: what each key may hold, checked before
anything is built, so a bad file is refused naming the key (``pipeline.steps.Step1.
inputs.InputData.bind_mode: ...``).

Keys the SDK reads for step types trainforge does not run (AdlaStep, DatabricksStep,
AzureBatchStep) and keys it ignores are ignored here too, as the SDK ignores them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

YAML_STEP_TYPES = ("PythonScriptStep", "DataTransferStep", "ParallelRunStep")
# Step types of the SDK's YAML that trainforge refuses (the message names them).
OTHER_YAML_STEP_TYPES = (
    "AdlaStep",
    "AzureBatchStep",
    "DatabricksStep",
    "ModuleStep",
)
YamlScalar = bool | int | float | str


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore")


class YamlDataPath(_Section):
    """A datapath parameter's default: a path on a datastore."""

    datastore: str = Field(min_length=1)
    path_on_datastore: str
    name: str | None = None


class YamlParameter(_Section):
    """``parameters: {name: {type, default}}``: a PipelineParameter."""

    type: Literal["string", "int", "float", "bool", "datapath"]
    default: YamlScalar | YamlDataPath | None = None

    @model_validator(mode="after")
    def _default_fits(self) -> YamlParameter:
        if self.type == "datapath" and self.default is not None:
            if not isinstance(self.default, YamlDataPath):
                raise ValueError(
                    "default: a datapath parameter's default has datastore and path_on_datastore"
                )
        elif isinstance(self.default, YamlDataPath):
            raise ValueError(f"default: a {self.type} parameter takes a {self.type}")
        return self


class YamlDataReference(_Section):
    """``data_references: {name: ...}``: a path on a datastore (``datastore``,
    ``path_on_datastore``) or a registered dataset (``dataset_name`` or ``dataset_id``)."""

    datastore: str | None = None
    path_on_datastore: str | None = None
    dataset_name: str | None = None
    dataset_id: str | None = None
    bind_mode: Literal["mount", "download"] = "mount"
    sql_table: str | None = None
    sql_query: str | None = None
    sql_stored_procedure: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> YamlDataReference:
        if self.sql_table or self.sql_query or self.sql_stored_procedure:
            raise ValueError("sql_table: SQL data references are not supported here")
        if self.datastore is not None and self.path_on_datastore is None:
            raise ValueError("path_on_datastore: a data reference on a datastore needs its path")
        if self.datastore is None and not (self.dataset_name or self.dataset_id):
            raise ValueError(
                "datastore: give datastore and path_on_datastore, or dataset_name or dataset_id"
            )
        return self


class YamlInput(_Section):
    """A step's input: ``source`` (a data reference, a datapath parameter or another
    step's output ``destination``), ``bind_mode`` mount or download."""

    source: str = Field(min_length=1)
    bind_mode: Literal["mount", "download"] = Field(
        default="mount", validation_alias=AliasChoices("bind_mode", "type")
    )
    path_on_compute: str | None = None
    overwrite: bool | None = None


class YamlOutput(_Section):
    """A step's output: the PipelineData ``destination`` (what later steps name as
    ``source``), on ``datastore``, ``bind_mode`` mount or upload."""

    destination: str = Field(min_length=1)
    datastore: str | None = None
    bind_mode: Literal["mount", "upload"] = Field(
        default="mount", validation_alias=AliasChoices("bind_mode", "type")
    )
    path_on_compute: str | None = None
    overwrite: bool | None = None
    as_dataset: bool = False


class YamlParameterSource(_Section):
    """A step parameter bound to a pipeline parameter: ``{source: <parameter>}``."""

    source: str = Field(min_length=1)


class YamlStep(_Section):
    """One step of ``steps:``, keyed by its key in the file."""

    type: str = Field(min_length=1)
    name: str | None = None
    script_name: str | None = None
    source_directory: str | None = None
    compute: str | None = None
    runconfig: str | None = None
    parameters: dict[str, YamlParameterSource | YamlScalar] = Field(default_factory=dict)
    runconfig_parameters: dict[str, YamlParameterSource | YamlScalar] = Field(default_factory=dict)
    arguments: list[YamlScalar] = Field(default_factory=list)
    inputs: dict[str, YamlInput] = Field(default_factory=dict)
    outputs: dict[str, YamlOutput] = Field(default_factory=dict)
    allow_reuse: bool = True
    version: str | None = None
    hash_paths: list[str] | None = None
    source_data_reference: dict[str, YamlInput] = Field(default_factory=dict)
    destination_data_reference: dict[str, YamlInput] = Field(default_factory=dict)
    source_reference_type: Literal["file", "directory"] | None = None
    destination_reference_type: Literal["file", "directory"] | None = None
    # A ParallelRunStep: its ParallelRunConfig file and the inputs not split in batches.
    parallel_run_config: str | None = None
    side_inputs: dict[str, YamlInput] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _what_its_type_needs(self) -> YamlStep:
        if self.type in OTHER_YAML_STEP_TYPES:
            raise ValueError(
                f"type: {self.type} steps are not supported in a pipeline YAML here; use "
                f"{' or '.join(YAML_STEP_TYPES)} (or build the step in Python)"
            )
        if self.type not in YAML_STEP_TYPES:
            raise ValueError(
                f"type: {self.type!r} is not a step type of the pipeline YAML; use "
                f"{' or '.join(YAML_STEP_TYPES)}"
            )
        if self.type == "PythonScriptStep" and not self.script_name:
            raise ValueError("script_name: a PythonScriptStep needs its script")
        if self.type == "ParallelRunStep":
            if not self.parallel_run_config:
                raise ValueError("parallel_run_config: a ParallelRunStep needs its config file")
            if not self.name:
                raise ValueError("name: a ParallelRunStep needs its name")
            if not self.inputs:
                raise ValueError("inputs: a ParallelRunStep needs its input datasets")
            if len(self.outputs) > 1:
                raise ValueError("outputs: a ParallelRunStep has at most one output")
        if self.type == "DataTransferStep":
            for key in ("source_data_reference", "destination_data_reference"):
                if len(getattr(self, key)) != 1:
                    raise ValueError(f"{key}: a DataTransferStep takes exactly one")
        return self


class YamlPipeline(_Section):
    """``pipeline:``: ``description`` (``name``, its older key), ``parameters``,
    ``data_references``, ``default_compute`` and ``steps``."""

    name: str | None = None
    description: str | None = None
    parameters: dict[str, YamlParameter] | None = None
    data_references: dict[str, YamlDataReference] = Field(default_factory=dict)
    default_compute: str | None = None
    steps: dict[str, YamlStep] = Field(min_length=1)


class PipelineYaml(_Section):
    pipeline: YamlPipeline


class ParallelRunConfigFields(_Section):
    """``parallel_run_config:`` of a ParallelRunConfig YAML file, the keys the SDK's
    ``save_to_yaml`` writes: the environment as a saved environment (a mapping, or the path
    of a file holding one), ``environment_dir_path`` (``save_to_directory``) or
    ``environment_name`` (registered), and the compute by ``compute_target_name``."""

    entry_script: str = Field(min_length=1)
    error_threshold: int
    output_action: str
    compute_target_name: str = Field(min_length=1)
    node_count: int = Field(ge=1)
    process_count_per_node: int | None = Field(default=None, ge=1)
    mini_batch_size: int | str | None = None
    source_directory: str | None = None
    description: str | None = None
    logging_level: str = "INFO"
    run_invocation_timeout: int = 60
    run_max_try: int = 3
    append_row_file_name: str | None = None
    allowed_failed_count: int | None = None
    allowed_failed_percent: float | None = None
    partition_keys: list[str] | None = None
    environment_variables: dict[str, str] | None = None
    environment: dict[str, Any] | str | None = None
    environment_dir_path: str | None = None
    environment_name: str | None = None

    @model_validator(mode="after")
    def _an_environment(self) -> ParallelRunConfigFields:
        if not (self.environment or self.environment_dir_path or self.environment_name):
            raise ValueError(
                "environment: give environment, environment_dir_path or environment_name"
            )
        return self


class ParallelRunConfigFile(_Section):
    parallel_run_config: ParallelRunConfigFields


class RunConfigPython(_Section):
    user_managed_dependencies: bool = Field(
        default=False,
        validation_alias=AliasChoices("userManagedDependencies", "user_managed_dependencies"),
    )
    interpreter_path: str = Field(
        default="python", validation_alias=AliasChoices("interpreterPath", "interpreter_path")
    )
    conda_dependencies: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("condaDependencies", "conda_dependencies")
    )
    conda_dependencies_file: str | None = Field(
        default=None,
        validation_alias=AliasChoices("condaDependenciesFile", "conda_dependencies_file"),
    )


class RunConfigDocker(_Section):
    enabled: bool = False
    base_image: str | None = Field(
        default=None, validation_alias=AliasChoices("baseImage", "base_image")
    )


class RunConfigEnvironment(_Section):
    name: str | None = None
    environment_variables: dict[str, str] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("environmentVariables", "environment_variables"),
    )
    python: RunConfigPython = Field(default_factory=RunConfigPython)
    docker: RunConfigDocker = Field(default_factory=RunConfigDocker)


class RunConfigFile(_Section):
    """A ``.runconfig`` file (the SDK's RunConfiguration as YAML, camelCase keys): what
    trainforge runs of it (script, arguments, target, framework, node count, maximum
    duration, environment's variables, Python and Docker settings)."""

    script: str | None = None
    arguments: list[YamlScalar] = Field(default_factory=list)
    target: str | None = None
    framework: str | None = None
    communicator: str | None = None
    node_count: int = Field(
        default=1, ge=1, validation_alias=AliasChoices("nodeCount", "node_count")
    )
    max_run_duration_seconds: int | None = Field(
        default=None,
        ge=1,
        validation_alias=AliasChoices("maxRunDurationSeconds", "max_run_duration_seconds"),
    )
    environment: RunConfigEnvironment = Field(default_factory=RunConfigEnvironment)
