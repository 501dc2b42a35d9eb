"""PythonScriptStep (``azureml.pipeline.steps.python_script_step``)."""

from __future__ import annotations

import copy
import logging
from typing import Any

from trainforge.core.runconfig import RunConfiguration, target_name
from trainforge.core.script_run import check_script, definition_of
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.builder import BuildContext, PipelineStep
from trainforge.pipeline.core.graph import PipelineParameter
from trainforge.schemas.pipelines import RUNCONFIG_PARAMS, StepArgument, StepSpec

log = logging.getLogger("trainforge")


def compute_name(compute_target: Any, run_config: RunConfiguration | None) -> str:
    """A step's compute target given as an object, a name or a ``(name, type)`` tuple."""
    if compute_target is None:
        return run_config.target if run_config is not None else "local"
    if isinstance(compute_target, tuple):
        if len(compute_target) != 2 or not isinstance(compute_target[0], str):
            raise UserErrorException(
                f"compute_target: a tuple must be (name, type), got {compute_target!r}"
            )
        return compute_target[0]
    try:
        return target_name(compute_target)
    except TypeError as exc:
        raise UserErrorException(str(exc)) from None


class ScriptStep(PipelineStep):
    """What PythonScriptStep and CommandStep share: a run configuration on a compute, a
    source folder, ``params`` and ``runconfig_pipeline_params``."""

    KIND = "PythonScriptStep"

    def __init__(
        self,
        name: str,
        script_name: str | None,
        arguments: Any,
        compute_target: Any,
        runconfig: RunConfiguration | None,
        runconfig_pipeline_params: dict[str, Any] | None,
        inputs: Any,
        outputs: Any,
        params: dict[str, Any] | None,
        source_directory: str | None,
        allow_reuse: bool,
        version: str | None,
        command: Any = None,
    ) -> None:
        if runconfig is not None and not isinstance(runconfig, RunConfiguration):
            raise UserErrorException(
                f"runconfig: expected a RunConfiguration, not {type(runconfig).__name__}"
            )
        for key, value in (runconfig_pipeline_params or {}).items():
            if key not in RUNCONFIG_PARAMS:
                raise UserErrorException(
                    f"runconfig_pipeline_params: {key!r} is not allowed; use one of "
                    f"{', '.join(RUNCONFIG_PARAMS)}"
                )
            if not isinstance(value, PipelineParameter):
                raise UserErrorException(
                    f"runconfig_pipeline_params: {key!r} takes a PipelineParameter, not "
                    f"{type(value).__name__}"
                )
        if arguments is not None and isinstance(arguments, str | bytes | dict):
            raise UserErrorException("arguments: expected a list of arguments")
        self._command = command
        words = list(command) if isinstance(command, list | tuple) else []
        super().__init__(name, inputs, outputs, [*(arguments or []), *words], allow_reuse, version)
        self._script_arguments = list(arguments or [])
        self.script_name = script_name
        self.compute_target = compute_name(compute_target, runconfig)
        self.runconfig = runconfig
        self.runconfig_pipeline_params = dict(runconfig_pipeline_params or {})
        self.params = dict(params or {})
        self.source_directory = source_directory

    def _source(self, context: BuildContext) -> str:
        return self.source_directory or context.default_source_directory or "."

    def _spec(self, context: BuildContext, run_after: list[str]) -> StepSpec:
        source = self._source(context)
        run_config = copy.copy(self.runconfig) if self.runconfig is not None else RunConfiguration()
        run_config.target = self.compute_target
        run_config.arguments = []
        run_config.command = ""
        script = check_script(source, self.script_name) if self.script_name else None
        definition = definition_of(run_config, script)
        inputs, outputs = self._data(context)
        params: dict[str, StepArgument] = {}
        for key, value in self.params.items():
            params[key] = (
                context.parameter(value) if isinstance(value, PipelineParameter) else str(value)
            )
        runconfig_params = {
            key: context.parameter(value).parameter
            for key, value in self.runconfig_pipeline_params.items()
        }
        command = self._command
        return StepSpec(
            name=self.name,
            kind=self.KIND,
            definition=definition,
            arguments=self._words(self._script_arguments, context),
            command=(
                [command]
                if isinstance(command, str)
                else self._words(command, context)
                if command is not None
                else []
            ),
            snapshot_id=context.snapshot(source),
            inputs=inputs,
            outputs=outputs,
            params=params,
            runconfig_pipeline_params=runconfig_params,
            run_after=run_after,
            allow_reuse=self.allow_reuse,
            version=self._version,
            **self._kind_fields(),
        )

    def _kind_fields(self) -> dict[str, Any]:
        """What a kind of step adds to its StepSpec (a HyperDriveStep: its sweep)."""
        return {}


class PythonScriptStep(ScriptStep):
    """``PythonScriptStep(script_name, name=None, arguments=None, compute_target=None,
    runconfig=None, runconfig_pipeline_params=None, inputs=None, outputs=None, params=None,
    source_directory=None, allow_reuse=True, version=None, hash_paths=None)``: a Python
    script as a step. ``name`` defaults to the script name; ``params`` reach the script as
    ``AML_PARAMETER_<name>``; with ``allow_reuse`` an unchanged step reuses its earlier
    outputs."""

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: list[Any] | None = None,
        compute_target: Any = None,
        runconfig: RunConfiguration | None = None,
        runconfig_pipeline_params: dict[str, Any] | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
    ) -> None:
        if not isinstance(script_name, str) or not script_name:
            raise UserErrorException(f"script_name: a script is required, got {script_name!r}")
        if hash_paths:
            log.warning("hash_paths is deprecated: the whole source_directory is hashed for reuse")
        super().__init__(
            name or script_name,
            script_name,
            arguments,
            compute_target,
            runconfig,
            runconfig_pipeline_params,
            inputs,
            outputs,
            params,
            source_directory,
            allow_reuse,
            version,
        )
