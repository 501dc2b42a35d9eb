"""ParallelRunStep (``azureml.pipeline.steps.ParallelRunStep``): batch inference over a
FileDataset or TabularDataset, spread over the processes of a cluster."""

from __future__ import annotations

import copy
import shlex
from typing import Any

from trainforge.core.runconfig import RunConfiguration
from trainforge.core.script_run import check_script
from trainforge.data.abstract_dataset import AbstractDataset
from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig
from trainforge.data.output_dataset_config import OutputDatasetConfig
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.builder import (
    BuildContext,
    PipelineData,
    PipelineOutputFileDataset,
    PipelineOutputTabularDataset,
)
from trainforge.pipeline.steps.parallel_run_config import ParallelRunConfig
from trainforge.pipeline.steps.python_script_step import ScriptStep
from trainforge.schemas.parallel_run import STEP_NAME, STEP_NAME_RULE
from trainforge.schemas.pipelines import StepSpec

DRIVER = "trainforge.node.parallel_run"


def _input(item: Any, position: int) -> tuple[Any, str, str]:
    """An input as the step consumes it (its files mounted), its name and its kind."""
    if isinstance(item, AbstractDataset):
        item = item.as_named_input(item.name or f"input_ds_{position}")
    if isinstance(item, DatasetConsumptionConfig):
        # A PipelineParameter of a dataset is of its default's kind.
        kind = getattr(item.dataset, "default_value", item.dataset)._dataset_type
        return (
            (item.as_mount(item.path_on_compute) if item.mode == "direct" else item),
            item.name,
            kind,
        )
    if isinstance(item, PipelineOutputFileDataset):
        kind = "Tabular" if isinstance(item, PipelineOutputTabularDataset) else "File"
        name = item._dataset_name or item.name
        mounted = (
            item._dataset_clone(_dataset_mode="mount") if item._dataset_mode == "direct" else item
        )
        return mounted, name, kind
    if isinstance(item, PipelineData):
        return item, item.name, "File"
    raise UserErrorException(
        f"inputs: a ParallelRunStep reads datasets (a FileDataset or TabularDataset, "
        f"as_named_input(...), or an upstream step's output), not {type(item).__name__}"
    )


class ParallelRunStep(ScriptStep):
    """``ParallelRunStep(name, parallel_run_config, inputs, output=None, side_inputs=None,
    arguments=None, allow_reuse=True)``: the entry script of ``parallel_run_config`` run
    over the mini-batches of ``inputs`` (datasets of one kind: FileDatasets, whose files
    are mounted, or TabularDatasets), by ``node_count x process_count_per_node`` worker
    processes on the configuration's cluster. With ``output_action='append_row'`` what
    ``run()`` returns goes to ``parallel_run_step.txt`` in ``output`` (a PipelineData or
    OutputFileDatasetConfig; without one, the step run's ``outputs/``), in mini-batch
    order. ``side_inputs`` are mounted whole, not partitioned; ``arguments`` reach the
    entry script's ``sys.argv``. ``name``: 3 to 32 lowercase letters, digits or dashes.
    The step run's ``logs/overview.txt`` sums up what succeeded and what failed;
    ``logs/user/error/`` holds each failed try's traceback."""

    KIND = "ParallelRunStep"

    def __init__(
        self,
        name: str,
        parallel_run_config: ParallelRunConfig,
        inputs: list[Any],
        output: Any = None,
        side_inputs: list[Any] | None = None,
        arguments: list[Any] | None = None,
        allow_reuse: bool = True,
    ) -> None:
        if not isinstance(name, str) or not STEP_NAME.fullmatch(name):
            raise UserErrorException(f"name: {name!r} is not allowed; use {STEP_NAME_RULE}")
        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise UserErrorException(
                "parallel_run_config: expected a ParallelRunConfig, not "
                f"{type(parallel_run_config).__name__}"
            )
        if not isinstance(inputs, list | tuple) or not inputs:
            raise UserErrorException("inputs: a ParallelRunStep needs a list of input datasets")
        if output is not None and not isinstance(output, PipelineData | OutputDatasetConfig):
            raise UserErrorException(
                f"output: expected a PipelineData or OutputFileDatasetConfig, not "
                f"{type(output).__name__}"
            )
        if arguments is not None and not isinstance(arguments, list | tuple):
            raise UserErrorException("arguments: expected a list of arguments")
        config = parallel_run_config
        assert config.source_directory is not None
        check_script(config.source_directory, config.entry_script)
        consumed = [_input(item, i) for i, item in enumerate(inputs)]
        kinds = sorted({kind for _, _, kind in consumed})
        if len(kinds) > 1:
            raise UserErrorException(
                "inputs: all datasets of a ParallelRunStep must be of one type; got "
                f"{' and '.join(kinds)}Datasets"
            )
        if kinds == ["File"] and config.partition_keys is not None:
            raise UserErrorException(
                "partition_keys: a FileDataset input is cut by files; partition_keys need "
                "TabularDatasets"
            )
        names = [name for _, name, _ in consumed]
        settings = config._settings.model_copy(update={"entry_script": config.entry_script})
        command: list[Any] = ["python", "-m", DRIVER, "--settings"]
        command.append(shlex.quote(settings.model_dump_json(exclude_defaults=False)))
        for input_name in names:
            command += ["--input", input_name]
        if output is not None:
            command += ["--output", output.name]
        command.append("--")
        run_config = RunConfiguration()
        run_config.environment = config.environment
        run_config.environment_variables = dict(config.environment_variables)
        run_config.node_count = config.node_count
        super().__init__(
            name,
            None,
            list(arguments or []),
            config.compute_target,
            run_config,
            None,
            [*(item for item, _, _ in consumed), *(side_inputs or [])],
            [output] if output is not None else [],
            None,
            config.source_directory,
            allow_reuse,
            None,
            command=command,
        )
        self.parallel_run_config = config
        self.output = output
        self.side_inputs = list(side_inputs or [])

    @staticmethod
    def _config_from_yaml(workspace: Any, path: str) -> ParallelRunConfig:
        """The ParallelRunConfig file a pipeline YAML's ParallelRunStep names."""
        return ParallelRunConfig.load_yaml(workspace, path)

    def _source(self, context: BuildContext) -> str:
        return self.source_directory or "."

    def _spec(self, context: BuildContext, run_after: list[str]) -> StepSpec:
        spec = super()._spec(context, run_after)
        definition = copy.deepcopy(spec.definition)
        definition.process_count_per_node = self.parallel_run_config.process_count_per_node
        return spec.model_copy(update={"definition": definition})
