"""A Batch AI job as a trainforge run: which launch mode each toolkit takes, what each task
runs, and the definition the launcher reads (``RunDefinition.batchai``).

- customToolkitSettings: the command line under bash, on the first node only.
- customMpiSettings, horovodSettings, chainerSettings, cntkSettings: ``mpirun`` (Open MPI)
  with ``processCount`` ranks over the job's nodes.
- pyTorchSettings: ``processCount`` processes with the torchrun variables and
  ``AZ_BATCHAI_TASK_INDEX`` (the global rank), ``AZ_BATCHAI_PYTORCH_INIT_METHOD``.
- tensorFlowSettings: ``workerCount`` workers and ``parameterServerCount`` parameter
  servers (the parameter-server mode), worker 0 with the master's arguments.
- caffe2Settings: one process per node; caffeSettings: like the custom toolkit.
"""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime

from trainforge.schemas.batchai import (
    BatchAILaunch,
    BatchAIMount,
    BatchAIOutput,
    CaffeSettings,
    CNTKsettings,
    JobCreateParameters,
)
from trainforge.schemas.runs import EnvironmentSpec, PythonSection, RunDefinition

PRIORITIES = {"low": -1, "normal": 0, "high": 1}
MPI_TOOLS = ("custommpi", "horovod", "chainer", "cntk")


class LaunchRuleError(ValueError):
    """The job asks for a launch trainforge cannot give it; the message names the field."""


def _python(interpreter: str | None, script: str, args: str | None) -> str:
    return " ".join(part for part in (interpreter or "python", script, args or "") if part)


def _config_or_script(settings: CaffeSettings | CNTKsettings, config_command: str | None) -> str:
    """The program with its configuration file (``config_command``), else ``python script``;
    the job's arguments after either."""
    if config_command:
        return f"{config_command} {settings.command_line_args or ''}".strip()
    script = settings.python_script_file_path or ""
    return _python(settings.python_interpreter_path, script, settings.command_line_args)


def _per_node(field: str, process_count: int | None, node_count: int) -> int:
    total = process_count or node_count
    if total % node_count:
        raise LaunchRuleError(
            f"{field}.processCount: {total} processes do not spread evenly over nodeCount "
            f"{node_count} nodes (trainforge starts the same number on each node)"
        )
    return total // node_count


def definition(
    params: JobCreateParameters,
    *,
    job_name: str,
    experiment_name: str,
    cluster_name: str,
    cluster_id: str,
    segment: str,
    mounts: list[BatchAIMount],
    secrets: dict[str, str],
    stored: dict[str, object],
) -> RunDefinition:
    """The run definition of ``params``: launch mode, counts, commands and the Batch AI
    layout. ``stored`` is the job as ``jobs.get`` shows it (secret values removed)."""
    tool = params.tool_type
    nodes = params.node_count
    communicator = "None"
    per_node = 1
    workers, servers = 1, 0
    commands: dict[str, str] = {}
    extra_env: dict[str, str] = {}
    if tool == "custom":
        custom = params.custom_toolkit_settings
        commands["main"] = (custom.command_line if custom else None) or "true"
    elif tool == "tensorflow":
        tf = params.tensor_flow_settings
        assert tf is not None
        workers = tf.worker_count or nodes
        distributed = workers > 1 or nodes > 1
        servers = (
            tf.parameter_server_count
            if tf.parameter_server_count is not None
            else (1 if distributed else 0)
        )
        communicator = "ParameterServer"
        interpreter = tf.python_interpreter_path
        commands = {
            "master": _python(interpreter, tf.python_script_file_path, tf.master_command_line_args),
            "worker": _python(interpreter, tf.python_script_file_path, tf.worker_command_line_args),
            "ps": _python(
                interpreter, tf.python_script_file_path, tf.parameter_server_command_line_args
            ),
        }
    elif tool == "pytorch":
        pt = params.py_torch_settings
        assert pt is not None
        per_node = _per_node("pyTorchSettings", pt.process_count, nodes)
        if per_node * nodes > 1:
            communicator = "Nccl" if (pt.communication_backend or "").lower() == "nccl" else "Gloo"
        if pt.communication_backend:
            extra_env["AZ_BATCHAI_PYTORCH_BACKEND"] = pt.communication_backend
        commands["main"] = pt.command
    elif tool == "caffe2":
        c2 = params.caffe2_settings
        assert c2 is not None
        communicator = "Gloo" if nodes > 1 else "None"
        commands["main"] = c2.command
    elif tool == "caffe":
        caffe = params.caffe_settings
        assert caffe is not None
        solver = caffe.config_file_path
        line = _config_or_script(
            caffe, f"caffe train --solver={shlex.quote(solver)}" if solver else None
        )
        if (caffe.process_count or 1) > 1:
            communicator = "OpenMpi"
            per_node = _per_node("caffeSettings", caffe.process_count, nodes)
        commands["main"] = line
    else:  # the MPI toolkits
        communicator = "OpenMpi"
        if tool == "custommpi":
            mpi = params.custom_mpi_settings
            assert mpi is not None
            per_node = _per_node("customMpiSettings", mpi.process_count, nodes)
            commands["main"] = mpi.command_line
        elif tool in ("horovod", "chainer"):
            script = params.horovod_settings or params.chainer_settings
            assert script is not None
            per_node = _per_node(f"{tool}Settings", script.process_count, nodes)
            commands["main"] = script.command
        else:
            cntk = params.cntk_settings
            assert cntk is not None
            per_node = _per_node("cntkSettings", cntk.process_count, nodes)
            brainscript = (cntk.language_type or "BrainScript").lower() == "brainscript"
            config = cntk.config_file_path if brainscript else None
            commands["main"] = _config_or_script(
                cntk, f"cntk configFile={shlex.quote(config)}" if config else None
            )
    constraints = params.constraints
    wall_clock = int(constraints.max_wall_clock_time.total_seconds()) if constraints else None
    launch = BatchAILaunch(
        job_name=job_name,
        experiment_name=experiment_name,
        cluster_id=cluster_id,
        tool_type=tool,
        commands=commands,
        job_preparation=params.job_preparation.command_line if params.job_preparation else None,
        std_out_err_path_prefix=params.std_out_err_path_prefix,
        segment=segment,
        input_directories={d.id: d.path for d in params.input_directories or []},
        output_directories=[
            BatchAIOutput(id=d.id, path_prefix=d.path_prefix, path_suffix=d.path_suffix)
            for d in params.output_directories or []
        ],
        mounts=mounts,
        environment_variables={
            **extra_env,
            **{v.name: v.value for v in params.environment_variables or []},
        },
        secrets=secrets,
        container_image=(
            params.container_settings.image_source_registry.image
            if params.container_settings
            else None
        ),
        parameters=stored,
        created=datetime.now(UTC),
    )
    return RunDefinition(
        command=[commands.get("main", commands.get("master", "true"))],
        target=cluster_name,
        framework="Python",
        communicator=communicator,
        node_count=nodes,
        process_count_per_node=per_node,
        worker_count=workers,
        parameter_server_count=servers,
        priority=PRIORITIES[params.scheduling_priority],
        max_run_duration_seconds=wall_clock if wall_clock and wall_clock > 0 else None,
        environment=EnvironmentSpec(
            name="batchai-job",
            python=PythonSection(
                user_managed_dependencies=True, submitting_interpreter=sys.executable
            ),
            docker_enabled=False,
            docker_base_image=launch.container_image,
        ),
        output_collection=False,
        directories_to_watch=[],
        batchai=launch,
    )
