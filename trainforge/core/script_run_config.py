"""ScriptRunConfig: a script, its arguments and where to run it."""

from __future__ import annotations

import copy
import logging
from typing import Any

from trainforge.core.environment import Environment
from trainforge.core.runconfig import (
    RunConfiguration,
    apply_distribution,
    argument_list,
    target_name,
)

log = logging.getLogger("trainforge")
THIRTY_DAYS_S = 2_592_000


class ScriptRunConfig:
    """``ScriptRunConfig(source_directory, script, arguments, compute_target='local', environment)``.

    Submit it with ``Experiment.submit``; the source directory is snapshotted then.
    ``arguments`` is a list, or one string split into words as a shell would.
    ``command`` (a list or a string) replaces script and arguments: as in Azure ML it is
    joined into one line and run by a shell, with the environment's ``bin`` first on PATH.
    """

    MAX_DURATION_SECONDS_DEFAULT = THIRTY_DAYS_S

    def __init__(
        self,
        source_directory: str,
        script: str | None = None,
        arguments: list[Any] | str | None = None,
        run_config: RunConfiguration | None = None,
        _telemetry_values: Any = None,
        compute_target: Any = None,
        environment: Environment | None = None,
        distributed_job_config: Any = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = THIRTY_DAYS_S,
        command: str | list[str] | None = None,
        docker_runtime_config: Any = None,
    ) -> None:
        self.source_directory = source_directory
        self.script = script
        self.arguments = argument_list(arguments) if arguments is not None else None
        self.command = command
        if run_config is not None:
            ignored = [
                name
                for name, value in (
                    ("compute_target", compute_target),
                    ("environment", environment),
                    ("distributed_job_config", distributed_job_config),
                    ("docker_runtime_config", docker_runtime_config),
                )
                if value is not None
            ]
            if ignored:
                log.warning(
                    "run_config is given, so %s of the ScriptRunConfig are ignored",
                    ", ".join(ignored),
                )
            self.run_config = copy.copy(run_config)
        else:
            self.run_config = RunConfiguration()
            self.run_config.target = target_name(compute_target)
            if environment is not None:
                self.run_config.environment = environment
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
            if docker_runtime_config is not None:
                self.run_config.docker = docker_runtime_config
            self.distributed_job_config = distributed_job_config
            apply_distribution(self.run_config, distributed_job_config)
        if script is not None:
            self.run_config.script = script
        if self.arguments is not None:
            self.run_config.arguments = self.arguments
        if command is not None:
            self.run_config.command = command

    def _submit(self, experiment: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> Any:
        from trainforge.core.script_run import submit_script

        return submit_script(experiment, self.source_directory, self.run_config, tags)
