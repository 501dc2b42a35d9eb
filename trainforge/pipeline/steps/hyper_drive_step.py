"""HyperDriveStep and HyperDriveStepRun (``azureml.pipeline.steps.hyper_drive_step``)."""

from __future__ import annotations

from typing import Any

from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.builder import PipelineData
from trainforge.pipeline.core.graph import TrainingOutput
from trainforge.pipeline.steps.python_script_step import ScriptStep
from trainforge.train.hyperdrive.run import HyperDriveRun
from trainforge.train.hyperdrive.runconfig import HyperDriveConfig


class HyperDriveStep(ScriptStep):
    """``HyperDriveStep(name, hyperdrive_config, estimator_entry_script_arguments=None,
    inputs=None, outputs=None, metrics_output=None, allow_reuse=True, version=None)``: a
    HyperDrive sweep as a step. Its step run is the HyperDrive run (``HyperDriveStepRun``)
    and each trial a child run of it, on the configuration's compute. Every trial writes
    the step's outputs to a place of its own; once the sweep completes, the best trial's
    outputs are the step's, for the steps after it. ``metrics_output`` (a PipelineData),
    like an output of ``training_output=TrainingOutput('Metrics')``, gets every trial's
    metrics as JSON: ``{trial run id: {metric: value}}``; an output of
    ``TrainingOutput('Model', model_file=...)`` gets that file of the best trial (without
    ``model_file``: its ``outputs`` folder)."""

    KIND = "HyperDriveStep"

    def __init__(
        self,
        name: str,
        hyperdrive_config: HyperDriveConfig,
        estimator_entry_script_arguments: list[Any] | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        metrics_output: PipelineData | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
    ) -> None:
        if not isinstance(hyperdrive_config, HyperDriveConfig):
            raise UserErrorException(
                "hyperdrive_config: a HyperDriveStep needs a HyperDriveConfig, not "
                f"{type(hyperdrive_config).__name__}"
            )
        if estimator_entry_script_arguments is not None and not isinstance(
            estimator_entry_script_arguments, list | tuple
        ):
            raise UserErrorException("estimator_entry_script_arguments: expected a list")
        if metrics_output is not None and not isinstance(metrics_output, PipelineData):
            raise UserErrorException(
                f"metrics_output: expected a PipelineData, not {type(metrics_output).__name__}"
            )
        run_config = hyperdrive_config._base_run_config()
        if not run_config.script:
            raise UserErrorException("hyperdrive_config: its run configuration names no script")
        base = list(run_config.arguments or [])
        run_config.arguments = []
        listed = list(outputs or [])
        if metrics_output is not None:
            # The SDK's way: metrics_output is an output of TrainingOutput('Metrics').
            metrics_output._origin._training_output = TrainingOutput("Metrics")
            if metrics_output not in listed:
                listed.append(metrics_output)
        super().__init__(
            name,
            run_config.script,
            [*base, *(estimator_entry_script_arguments or [])],
            run_config.target,
            run_config,
            None,
            inputs,
            listed,
            None,
            hyperdrive_config.source_directory,
            allow_reuse,
            version,
        )
        self.hyperdrive_config = hyperdrive_config
        self._metrics_output = metrics_output

    def _kind_fields(self) -> dict[str, Any]:
        return {
            "sweep": self.hyperdrive_config._settings(),
            "metrics_output": self._metrics_output.name if self._metrics_output else None,
        }


class HyperDriveStepRun(HyperDriveRun):
    """``HyperDriveStepRun(step_run)``: a HyperDriveStep's step run as the HyperDrive run it
    is (``get_best_run_by_primary_metric()``, ``get_hyperparameters()``,
    ``get_metrics()``, ``get_children_sorted_by_primary_metric()``). A step that reused an
    earlier execution answers for the HyperDrive run it reused."""

    def __init__(self, step_run: Any) -> None:
        reused = (step_run.properties or {}).get("azureml.reusedrunid")
        super().__init__(step_run.experiment, reused or step_run.id)
        self._step_run = step_run

    @property
    def step_run(self) -> Any:
        """The step run this HyperDrive run was made for."""
        return self._step_run
