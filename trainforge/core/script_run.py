"""ScriptRun, and submitting a script with its snapshot as one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainforge.client.api import api
from trainforge.client.api.runs import RunsApi
from trainforge.client.errors import sdk_errors
from trainforge.core._tags import sanitize
from trainforge.core.environment import DEFAULT_GPU_IMAGE
from trainforge.core.run import Run, submitting_user, upload_snapshot
from trainforge.core.runconfig import argument_list
from trainforge.data.bindings import bind_data, data_reference_specs, dataset_specs
from trainforge.exceptions import SnapshotException, UserErrorException
from trainforge.schemas.names import new_script_run_id
from trainforge.schemas.runs import RunCreate, RunDefinition
from trainforge.storage.snapshot import SnapshotLimitError

if TYPE_CHECKING:
    from trainforge.core.experiment import Experiment
    from trainforge.core.runconfig import RunConfiguration


class ScriptRun(Run):
    """A run of a ScriptRunConfig or Estimator (``run.type == 'azureml.scriptrun'``)."""

    RUN_TYPE = "azureml.scriptrun"


Run.add_type_provider(ScriptRun.RUN_TYPE, ScriptRun)


def check_script(source_directory: str, script: str) -> str:
    """The script's path relative to the source directory; it must exist inside it."""
    source = Path(source_directory).resolve()
    if not source.is_dir():
        raise UserErrorException(f"source_directory: {source_directory} is not a folder")
    path = (source / script).resolve()
    if not path.is_relative_to(source):
        raise UserErrorException(
            f"script: {script} is outside source_directory {source_directory}; the script must be "
            "inside the folder that is snapshotted"
        )
    if not path.is_file():
        raise UserErrorException(
            f"script: {script} was not found in source_directory {source_directory}"
        )
    return path.relative_to(source).as_posix()


def definition_of(run_config: RunConfiguration, script: str | None) -> RunDefinition:
    """The RunDefinition the control plane stores for ``run_config``."""
    env = run_config.environment
    command = run_config.command
    arguments = bind_data(argument_list(run_config.arguments), run_config)
    # A string command is one shell line; a list's words are joined by the node (as the SDK
    # joins them), after its data references are bound like those in arguments.
    words = [command] if isinstance(command, str) else bind_data(list(command), run_config)
    return RunDefinition(
        script=script,
        command=[str(part) for part in words if part != ""],
        arguments=[str(arg) for arg in arguments],
        target=run_config.target,
        framework=run_config.framework,
        communicator=run_config.communicator,
        node_count=run_config.node_count,
        process_count_per_node=getattr(
            run_config.pytorch or run_config.mpi, "process_count_per_node", 1
        ),
        worker_count=getattr(run_config.tensorflow, "worker_count", 1),
        parameter_server_count=getattr(run_config.tensorflow, "parameter_server_count", 0),
        priority=run_config.priority or 0,
        use_gpu=bool(env.docker.gpu_support or env.docker.base_image == DEFAULT_GPU_IMAGE),
        max_run_duration_seconds=run_config.max_run_duration_seconds,
        environment=env._spec(
            run_config.environment_variables,
            docker_enabled=bool(env.docker.enabled or run_config.docker.use_docker),
        ),
        data_references=data_reference_specs(run_config),
        datasets=dataset_specs(run_config),
        output_collection=run_config.history.output_collection,
        directories_to_watch=list(run_config.history.directories_to_watch),
    )


def prepare(
    experiment: Experiment, source_directory: str, run_config: RunConfiguration
) -> tuple[RunDefinition, str]:
    """Check the script, then upload the snapshot: the definition and the snapshot id."""
    script = run_config.script
    if script is None and not run_config.command:
        raise UserErrorException("script: give a script (or a command) to run")
    if run_config.command and (script is not None or run_config.arguments):
        # Azure ML's rule: a command replaces script and arguments; put them in it.
        given = "script" if script is not None else "arguments"
        raise UserErrorException(
            f"command: both command and script/arguments cannot be used together to submit a "
            f"run ({given} is given too); put the script and its arguments in the command, "
            "e.g. command=['python', 'train.py', '--arg1', value]"
        )
    if script is not None:
        script = check_script(source_directory, script)
    definition = definition_of(run_config, script)
    try:
        snapshot_id = upload_snapshot(experiment.workspace, source_directory)
    except SnapshotLimitError as exc:
        raise SnapshotException(str(exc)) from None
    return definition, snapshot_id


def submit_script(
    experiment: Experiment,
    source_directory: str,
    run_config: RunConfiguration,
    tags: dict[str, str] | None,
    **create: Any,
) -> ScriptRun:
    """Snapshot ``source_directory``, then create the run; the scheduler takes it from there."""
    run_config, create = _bind_outputs(experiment, run_config, create)
    definition, snapshot_id = prepare(experiment, source_directory, run_config)
    request = RunCreate(
        kind="script",
        run_type=ScriptRun.RUN_TYPE,
        definition=definition,
        snapshot_id=snapshot_id,
        tags=sanitize(tags or {}),
        properties={"ContentSnapshotId": snapshot_id, "azureml.runsource": "experiment"},
        submitted_by=submitting_user(),
        **create,
    )
    with sdk_errors():
        info = api(experiment.workspace, RunsApi).create(experiment.name, request)
    return ScriptRun(experiment, info.run_id, _info=info)


def _bind_outputs(
    experiment: Experiment, run_config: RunConfiguration, create: dict[str, Any]
) -> tuple[RunConfiguration, dict[str, Any]]:
    """OutputFileDatasetConfigs in the arguments as upload references: their destination
    on its datastore (the workspace's default one when none is named), with ``{run-id}``
    (the run's id, chosen here) and ``{output-name}`` filled in."""
    from trainforge.data.data_reference import DataReferenceConfiguration
    from trainforge.data.output_dataset_config import OutputDatasetConfig

    arguments = argument_list(run_config.arguments)
    outputs = [a for a in arguments if isinstance(a, OutputDatasetConfig)]
    if not outputs:
        return run_config, create
    run_id = create.get("run_id") or new_script_run_id(experiment.name)
    default = None
    bound = copy.copy(run_config)
    bound.data_references = dict(run_config.data_references)
    for output in outputs:
        datastore, template = output.destination
        if datastore is None and default is None:
            default = experiment.workspace.get_default_datastore().name
        name = datastore if isinstance(datastore, str) else getattr(datastore, "name", default)
        path = template.replace("{run-id}", run_id).replace("{output-name}", output.name)
        bound.data_references[output.name] = DataReferenceConfiguration(
            datastore_name=name,
            mode="upload",
            path_on_datastore=path.strip("/"),
            path_on_compute=output.source,
            overwrite=output._overwrite,
            registration=output.registration,
        )
    bound.arguments = [str(a) if isinstance(a, OutputDatasetConfig) else a for a in arguments]
    return bound, {**create, "run_id": run_id}
