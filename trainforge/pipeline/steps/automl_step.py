"""AutoMLStep and AutoMLStepRun (``azureml.pipeline.steps.automl_step``)."""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any

from trainforge.core.runconfig import RunConfiguration
from trainforge.core.script_run import definition_of
from trainforge.data.output_dataset_config import (
    OutputDatasetInput,
    OutputTabularDatasetConfig,
    is_step_output_table,
)
from trainforge.pipeline.core.builder import BuildContext, PipelineStep
from trainforge.pipeline.core.run import StepRun, StepRunOutput
from trainforge.schemas.pipelines import StepOutput, StepSpec, TrainingOutputSpec
from trainforge.train.automl._driver import TRAINING_INPUT, VALIDATION_INPUT
from trainforge.train.automl.automlconfig import AutoMLConfig
from trainforge.train.automl.exceptions import ConfigException
from trainforge.train.automl.run import DRIVER, AutoMLRun, prepare_automl

log = logging.getLogger("trainforge")


def _safe(name: str) -> str:
    """The step's name as a PipelineData name takes it (the SDK turns spaces into '_')."""
    return re.sub(r"\W", "_", name)


def _step_input(data: Any, name: str) -> Any:
    """Another step's output as the step's dataset input ``name`` (``training_data`` or
    ``validation_data``: a table, read directly), which every iteration reads
    (``run.input_datasets[name]``)."""
    if isinstance(data, OutputDatasetInput):
        data = data.output
    if isinstance(data, OutputTabularDatasetConfig):
        return data.as_input(name)
    return data.as_named_input(name)


class AutoMLStep(PipelineStep):
    """``AutoMLStep(name, automl_config, inputs=None, outputs=None, script_repl_params=None,
    allow_reuse=True, version=None, hash_paths=None, enable_default_model_output=True,
    enable_default_metrics_output=True)``: an automated ML run as a pipeline step.

    Its step run is the AutoML run (``AutoMLStepRun``), whose children ``<id>_<i>`` are the
    iterations, on the AutoMLConfig's compute. Its outputs are PipelineData with a
    ``training_output``: ``TrainingOutput('Metrics')`` gets every iteration's metrics as
    JSON, ``TrainingOutput('Model')`` the best iteration's fitted pipeline (a pickle file;
    ``iteration=`` or ``metric=`` pick another), filled when the AutoML run completes, for
    the steps after it. With ``enable_default_metrics_output`` / ``_model_output`` the step
    also has the outputs ``default_metrics_<name>`` and ``default_model_<name>`` (pipeline
    outputs ``_default_metrics_<name>`` and ``_default_model_<name>``), read with
    ``AutoMLStepRun.get_default_metrics_output()`` / ``get_default_model_output()``.

    The training data (a pandas DataFrame or a TabularDataset) is read where the pipeline
    is submitted and goes into the step's snapshot, so reuse follows its content: the same
    settings and the same rows reuse the earlier AutoML run. Another step's output read as
    a table (``prepped.read_delimited_files()``, ``PipelineData.as_dataset()
    .parse_delimited_files()``) is the step's input ``training_data`` instead: the control
    plane reads its shape and guardrails when the step starts, each iteration reads it as
    its dataset input, and reuse follows the upstream step's output. ``validation_data``
    may be another step's output the same way (the input ``validation_data``; its label
    column is checked when the step starts).
    """

    KIND = "AutoMLStep"
    DEFAULT_METRIC_PREFIX = "default_metrics_"
    DEFAULT_MODEL_PREFIX = "default_model_"

    def __init__(
        self,
        name: str,
        automl_config: AutoMLConfig,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        script_repl_params: dict[str, str] | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
        enable_default_model_output: bool = True,
        enable_default_metrics_output: bool = True,
        **kwargs: Any,
    ) -> None:
        if name is None or name == "":
            raise ConfigException("Invalid argument(s) 'name' specified: a step needs a name.")
        if not isinstance(name, str):
            raise ConfigException(
                f"Invalid argument(s) 'name' specified: {name!r}. Supported value(s): a str."
            )
        if not isinstance(automl_config, AutoMLConfig):
            raise ConfigException(
                f"Invalid argument(s) 'automl_config' specified: {type(automl_config).__name__}. "
                "Supported value(s): an AutoMLConfig."
            )
        if automl_config.compute_target is None:
            raise ConfigException(
                "Invalid argument(s) 'compute_target' specified: None. Supported value(s): "
                "the ComputeTarget (or its name) the AutoMLConfig's iterations run on."
            )
        if hash_paths:
            log.warning("hash_paths is deprecated: the AutoML step's data and settings are hashed")
        if script_repl_params:
            log.warning("script_repl_params: an AutoMLStep without a data_script replaces nothing")
        extra = [
            _step_input(data, name)
            for data, name in (
                (automl_config.training_data, TRAINING_INPUT),
                (automl_config.validation_data, VALIDATION_INPUT),
            )
            if is_step_output_table(data)
        ]
        super().__init__(name, [*(inputs or []), *extra], outputs, None, allow_reuse, version)
        self._automl_config = automl_config
        self._enable_default_model_output = bool(enable_default_model_output)
        self._enable_default_metrics_output = bool(enable_default_metrics_output)

    @property
    def automl_config(self) -> AutoMLConfig:
        return self._automl_config

    def _defaults(self, context: BuildContext) -> list[StepOutput]:
        """The default outputs, as the SDK names them."""
        safe = _safe(self.name)
        wanted = [
            (self._enable_default_metrics_output, self.DEFAULT_METRIC_PREFIX, "Metrics"),
            (self._enable_default_model_output, self.DEFAULT_MODEL_PREFIX, "Model"),
        ]
        return [
            StepOutput(
                name=f"{prefix}{safe}",
                datastore_name=context.default_datastore,
                pipeline_output_name=f"_{prefix}{safe}",
                training_output=TrainingOutputSpec(type=kind),
            )
            for enabled, prefix, kind in wanted
            if enabled
        ]

    def _spec(self, context: BuildContext, run_after: list[str]) -> StepSpec:
        with tempfile.TemporaryDirectory(prefix="automl-step-") as folder:
            settings, target = prepare_automl(self._automl_config, Path(folder))
            snapshot_id = context.snapshot(folder)
        run_config = RunConfiguration()
        run_config.script = DRIVER
        run_config.target = target
        inputs, outputs = self._data(context)
        return StepSpec(
            name=self.name,
            kind=self.KIND,
            definition=definition_of(run_config, DRIVER),
            snapshot_id=snapshot_id,
            inputs=inputs,
            outputs=[*outputs, *self._defaults(context)],
            run_after=run_after,
            allow_reuse=self.allow_reuse,
            version=self._version,
            automl=settings,
        )


class AutoMLStepRun(AutoMLRun):
    """``AutoMLStepRun(step_run)``: an AutoMLStep's step run as the AutoML run it is
    (``get_output()``, ``get_best_child()``, ``get_children()``, ``summary()``,
    ``register_model()``), with its default outputs. A reused step answers for the AutoML
    run it reused."""

    def __init__(self, step_run: StepRun) -> None:
        self._step_run = step_run
        self._safe_name = _safe(step_run.name or "")
        reused = (step_run.properties or {}).get("azureml.reusedrunid")
        super().__init__(step_run.experiment, reused or step_run.id)

    @property
    def step_run(self) -> StepRun:
        """The step run this AutoML run was made for."""
        return self._step_run

    def get_default_metrics_output(self) -> StepRunOutput:
        """The step's default metrics output (``default_metrics_<name>``)."""
        return self._step_run.get_output(AutoMLStep.DEFAULT_METRIC_PREFIX + self._safe_name)

    def get_default_model_output(self) -> StepRunOutput:
        """The step's default model output (``default_model_<name>``)."""
        return self._step_run.get_output(AutoMLStep.DEFAULT_MODEL_PREFIX + self._safe_name)
