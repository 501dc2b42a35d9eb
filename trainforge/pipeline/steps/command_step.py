"""CommandStep (``azureml.pipeline.steps.command_step``)."""

from __future__ import annotations

from typing import Any

from trainforge.core.runconfig import RunConfiguration
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.steps.python_script_step import ScriptStep


class CommandStep(ScriptStep):
    """``CommandStep(command=None, name=None, compute_target=None, runconfig=None,
    runconfig_pipeline_params=None, inputs=None, outputs=None, params=None,
    source_directory=None, allow_reuse=True, version=None)``: a command line as a step.
    A string is one shell line; a list's words may hold PipelineData (their local paths)
    and PipelineParameters (their values)."""

    KIND = "CommandStep"

    def __init__(
        self,
        command: str | list[Any] | None = None,
        name: str | None = None,
        compute_target: Any = None,
        runconfig: RunConfiguration | None = None,
        runconfig_pipeline_params: dict[str, Any] | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
    ) -> None:
        if not command or not isinstance(command, str | list | tuple):
            raise UserErrorException(
                f"command: a CommandStep needs a command (a string or a list), got {command!r}"
            )
        super().__init__(
            name or "command_step",
            None,
            None,
            compute_target,
            runconfig,
            runconfig_pipeline_params,
            inputs,
            outputs,
            params,
            source_directory,
            allow_reuse,
            version,
            command=command,
        )
