"""EstimatorStep (``azureml.pipeline.steps.estimator_step``), deprecated in the SDK and
still in pipelines of the Batch AI era."""

from __future__ import annotations

import copy
from typing import Any

from trainforge.exceptions import UserErrorException
from trainforge.pipeline.steps.python_script_step import ScriptStep
from trainforge.train.estimator import Estimator


class EstimatorStep(ScriptStep):
    """``EstimatorStep(name=None, estimator=None, estimator_entry_script_arguments=None,
    runconfig_pipeline_params=None, inputs=None, outputs=None, compute_target=None,
    allow_reuse=True, version=None)``: an Estimator (or PyTorch, TensorFlow, SKLearn...) as
    a step. The entry script's arguments are the list ``estimator_entry_script_arguments``
    (after the estimator's own ``script_params``, where it has any); PipelineData in it is
    the local path. The step runs on ``compute_target``, or on the estimator's target."""

    KIND = "EstimatorStep"

    def __init__(
        self,
        name: str | None = None,
        estimator: Estimator | None = None,
        estimator_entry_script_arguments: list[Any] | None = None,
        runconfig_pipeline_params: dict[str, Any] | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        compute_target: Any = None,
        allow_reuse: bool = True,
        version: str | None = None,
    ) -> None:
        if not isinstance(estimator, Estimator):
            raise UserErrorException(
                f"estimator: an EstimatorStep needs an Estimator, not {type(estimator).__name__}"
            )
        if estimator_entry_script_arguments is not None and not isinstance(
            estimator_entry_script_arguments, list | tuple
        ):
            raise UserErrorException(
                "estimator_entry_script_arguments: expected a list of arguments (the "
                "estimator's script_params is the dictionary form)"
            )
        run_config = copy.copy(estimator.run_config)
        script = run_config.script
        if not script:
            raise UserErrorException("estimator: the Estimator has no entry_script")
        # script_params: data in them becomes the step's inputs, as in its arguments list.
        own = list(run_config.arguments or [])
        run_config.arguments = []
        super().__init__(
            name or script,
            script,
            [*own, *(estimator_entry_script_arguments or [])],
            compute_target if compute_target is not None else run_config.target,
            run_config,
            runconfig_pipeline_params,
            inputs,
            outputs,
            None,
            estimator.source_directory,
            allow_reuse,
            version,
        )
