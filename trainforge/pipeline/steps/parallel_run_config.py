"""ParallelRunConfig (``azureml.pipeline.steps.ParallelRunConfig``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from trainforge.compute import vm_sizes
from trainforge.core.environment import Environment
from trainforge.core.runconfig import check_count
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.graph import PipelineParameter
from trainforge.schemas.environments import EnvironmentDefinition
from trainforge.schemas.parallel_run import ParallelRunSettings
from trainforge.schemas.pipeline_yaml import ParallelRunConfigFields, ParallelRunConfigFile
from trainforge.schemas.problems import rest_problems

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "ParallelRunConfig"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def _default_processes(compute_target: Any) -> int:
    """The SDK's default process_count_per_node: one per core of the cluster's VM size,
    one on a GPU size (unknown sizes and names given as text: one)."""
    vm_size = getattr(compute_target, "vm_size", None)
    if not isinstance(vm_size, str) or not vm_sizes.is_known(vm_size):
        return 1
    resources = vm_sizes.vm_resources(vm_size)
    return 1 if resources.gpus else max(resources.vcpus, 1)


class ParallelRunConfig:
    """``ParallelRunConfig(environment, entry_script, error_threshold, output_action,
    compute_target, node_count, process_count_per_node=None, mini_batch_size=None,
    source_directory=None, description=None, logging_level='INFO',
    run_invocation_timeout=60, run_max_try=3, append_row_file_name=None,
    allowed_failed_count=None, allowed_failed_percent=None, partition_keys=None,
    environment_variables=None)``: how a ParallelRunStep runs its entry script.

    The entry script (a path inside ``source_directory``) defines ``init()``, called once
    per worker process, and ``run(mini_batch)``, called per mini-batch with a list of file
    paths (FileDataset input) or a pandas DataFrame (TabularDataset input); it returns a
    list or a DataFrame with one element or row per item that succeeded.
    ``output_action='append_row'`` appends them to ``parallel_run_step.txt`` (or
    ``append_row_file_name``) in the step's output; ``'summary_only'`` only counts them.

    ``node_count x process_count_per_node`` worker processes (default: one per core of
    the cluster's VM size) share the mini-batches: ``mini_batch_size`` files of a
    FileDataset (default 10) or about that much data of a TabularDataset (``'1MB'``
    default; ``1024``, ``'1024KB'``, ``'10MB'``, ``'1GB'``), or one mini-batch per value
    of ``partition_keys``. A ``run()`` that raises, takes its process down or exceeds
    ``run_invocation_timeout`` seconds is tried again, up to ``run_max_try`` tries. The
    step fails when more than ``error_threshold`` items (-1: any number),
    ``allowed_failed_count`` mini-batches or ``allowed_failed_percent`` percent of them
    failed; otherwise it completes and its logs (``logs/overview.txt``) list what failed.
    """

    def __init__(
        self,
        environment: Environment,
        entry_script: str,
        error_threshold: int,
        output_action: str,
        compute_target: Any,
        node_count: int,
        process_count_per_node: int | None = None,
        mini_batch_size: int | str | None = None,
        source_directory: str | None = None,
        description: str | None = None,
        logging_level: str = "INFO",
        run_invocation_timeout: int = 60,
        run_max_try: int = 3,
        append_row_file_name: str | None = None,
        allowed_failed_count: int | None = None,
        allowed_failed_percent: float | None = None,
        partition_keys: list[str] | None = None,
        environment_variables: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(environment, Environment):
            raise UserErrorException(
                f"environment: expected an Environment, not {type(environment).__name__}"
            )
        if not isinstance(entry_script, str) or not entry_script:
            raise UserErrorException(f"entry_script: a script is required, got {entry_script!r}")
        if compute_target is None:
            raise UserErrorException("compute_target: a ParallelRunStep needs a compute target")
        if isinstance(node_count, PipelineParameter) or isinstance(
            process_count_per_node, PipelineParameter
        ):
            raise UserErrorException(
                "node_count, process_count_per_node: PipelineParameters are not supported here"
            )
        self.node_count = check_count(node_count, "node_count", 1, UserErrorException)
        self.process_count_per_node = (
            _default_processes(compute_target)
            if process_count_per_node is None
            else check_count(
                process_count_per_node, "process_count_per_node", 1, UserErrorException
            )
        )
        if source_directory is None:
            # "Otherwise, it can be any path accessible on the machine": its folder is the
            # source directory, the script its file name.
            folder, entry_script = os.path.split(entry_script)
            source_directory = folder or "."
        if environment_variables is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in environment_variables.items()
        ):
            raise UserErrorException("environment_variables: a dict of str to str")
        try:
            self._settings = ParallelRunSettings(
                entry_script=entry_script,
                error_threshold=error_threshold,
                output_action=output_action,
                mini_batch_size=mini_batch_size,
                logging_level=logging_level,
                run_invocation_timeout=run_invocation_timeout,
                run_max_try=run_max_try,
                append_row_file_name=append_row_file_name or "parallel_run_step.txt",
                allowed_failed_count=allowed_failed_count,
                allowed_failed_percent=allowed_failed_percent,
                partition_keys=partition_keys,
            )
        except ValidationError as exc:
            raise UserErrorException(_first_error(exc)) from None
        self.environment = environment
        self.entry_script = entry_script
        self.error_threshold = error_threshold
        self.output_action = output_action
        self.compute_target = compute_target
        self.mini_batch_size = mini_batch_size
        self.source_directory = source_directory
        self.description = description
        self.logging_level = self._settings.logging_level
        self.run_invocation_timeout = run_invocation_timeout
        self.run_max_try = run_max_try
        self.append_row_file_name = self._settings.append_row_file_name
        self.allowed_failed_count = allowed_failed_count
        self.allowed_failed_percent = allowed_failed_percent
        self.partition_keys = partition_keys
        self.environment_variables = dict(environment_variables or {})

    # -- YAML ---------------------------------------------------------------------------
    def save_to_yaml(self, path: str) -> None:
        """Write this configuration as ``{parallel_run_config: {...}}``, the keys the SDK
        writes, the environment saved whole (what ``load_yaml`` reads back)."""
        target = self.compute_target
        fields = ParallelRunConfigFields(
            entry_script=self.entry_script,
            error_threshold=self.error_threshold,
            output_action=self.output_action,
            compute_target_name=target if isinstance(target, str) else target.name,
            node_count=self.node_count,
            process_count_per_node=self.process_count_per_node,
            mini_batch_size=self.mini_batch_size,
            source_directory=self.source_directory,
            description=self.description,
            logging_level=self.logging_level,
            run_invocation_timeout=self.run_invocation_timeout,
            run_max_try=self.run_max_try,
            append_row_file_name=self.append_row_file_name,
            allowed_failed_count=self.allowed_failed_count,
            allowed_failed_percent=self.allowed_failed_percent,
            partition_keys=self.partition_keys,
            environment_variables=self.environment_variables or None,
            environment={
                "name": self.environment.name,
                "definition": self.environment._definition().model_dump(mode="json"),
            },
        )
        body = {"parallel_run_config": fields.model_dump(mode="json", exclude_none=True)}
        Path(path).write_text(yaml.safe_dump(body, sort_keys=False))

    @staticmethod
    def load_yaml(workspace: Workspace, path: str) -> ParallelRunConfig:
        """A configuration from a YAML file as ``save_to_yaml`` writes it: its compute
        target found in ``workspace`` by name, its environment saved in the file (or in
        the file it names), in ``environment_dir_path`` or registered as
        ``environment_name``. A bad key raises UserErrorException naming it."""
        from trainforge.core.compute import ComputeTarget

        file = Path(path)
        if not file.is_file():
            raise UserErrorException(f"path: {path} is not a file")
        try:
            fields = ParallelRunConfigFile.model_validate(
                yaml.safe_load(file.read_text())
            ).parallel_run_config
        except yaml.YAMLError as exc:
            raise UserErrorException(f"path: {path} is not valid YAML: {exc}") from None
        except ValidationError as exc:
            raise UserErrorException(f"{path}: {rest_problems(exc.errors())}") from None
        return ParallelRunConfig(
            environment=_environment(workspace, fields, file.parent),
            entry_script=fields.entry_script,
            error_threshold=fields.error_threshold,
            output_action=fields.output_action,
            compute_target=ComputeTarget(workspace, fields.compute_target_name),
            node_count=fields.node_count,
            process_count_per_node=fields.process_count_per_node,
            mini_batch_size=fields.mini_batch_size,
            source_directory=fields.source_directory,
            description=fields.description,
            logging_level=fields.logging_level,
            run_invocation_timeout=fields.run_invocation_timeout,
            run_max_try=fields.run_max_try,
            append_row_file_name=fields.append_row_file_name,
            allowed_failed_count=fields.allowed_failed_count,
            allowed_failed_percent=fields.allowed_failed_percent,
            partition_keys=fields.partition_keys,
            environment_variables=fields.environment_variables,
        )

    def __repr__(self) -> str:
        return (
            f"ParallelRunConfig(entry_script={self.entry_script!r}, "
            f"node_count={self.node_count}, process_count_per_node={self.process_count_per_node}, "
            f"output_action={self.output_action!r})"
        )


def _environment(
    workspace: Workspace, fields: ParallelRunConfigFields, folder: Path
) -> Environment:
    """The environment a ParallelRunConfig file names, as the SDK looks for it."""
    saved = fields.environment
    if isinstance(saved, str):
        where = Path(saved) if Path(saved).is_absolute() else folder / saved
        try:
            saved = yaml.safe_load(where.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise UserErrorException(f"environment: cannot read {saved}: {exc}") from None
    if isinstance(saved, dict):
        try:
            definition = EnvironmentDefinition.model_validate(saved.get("definition", {}))
        except ValidationError as exc:
            raise UserErrorException(
                f"environment.definition: {rest_problems(exc.errors())}"
            ) from None
        return Environment._from_definition(
            str(saved.get("name") or "parallel-run"), None, definition
        )
    if fields.environment_dir_path:
        return Environment.load_from_directory(fields.environment_dir_path)
    assert fields.environment_name is not None  # ParallelRunConfigFields: one of the three
    return Environment.get(workspace, name=fields.environment_name)
