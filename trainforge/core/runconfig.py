"""RunConfiguration: everything about how a script runs, as ``azureml.core.runconfig``."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trainforge.core.conda_dependencies import CondaDependencies
from trainforge.core.environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, Environment
from trainforge.exceptions import RunConfigurationException
from trainforge.schemas.pipeline_yaml import RunConfigFile
from trainforge.schemas.problems import rest_problems


class HistoryConfiguration:
    """What the run history collects: outputs, the snapshot, and watched folders."""

    def __init__(self) -> None:
        self.output_collection = True
        self.snapshot_project = True
        self.directories_to_watch = ["logs"]


class DockerConfiguration:
    """Accepted: the local backend runs without containers and notes it in the run's log."""

    def __init__(
        self,
        use_docker: bool = False,
        shared_volumes: bool = True,
        arguments: list[str] | None = None,
        shm_size: str = "2g",
    ) -> None:
        self.use_docker = use_docker
        self.shared_volumes = shared_volumes
        self.arguments = arguments or []
        self.shm_size = shm_size


def target_name(target: Any) -> str:
    """A compute target given as an object or a name, as a name."""
    if target is None:
        return "local"
    if isinstance(target, str):
        return target
    name = getattr(target, "name", None)
    if not isinstance(name, str):
        raise TypeError(
            f"compute_target: expected a compute target or its name, not {type(target).__name__}"
        )
    return name


def argument_list(arguments: Any) -> list[Any]:
    """``arguments`` as a list: the SDK also takes one string (``arguments="--lr 0.3"``),
    which the service's shell splits into words; it is split the same way here."""
    if arguments is None:
        return []
    if isinstance(arguments, str):
        try:
            return shlex.split(arguments)
        except ValueError as exc:
            raise RunConfigurationException(
                f"arguments: {arguments!r} cannot be split: {exc}"
            ) from None
    if isinstance(arguments, (bytes, dict)) or not hasattr(arguments, "__iter__"):
        raise RunConfigurationException(
            f"arguments: expected a list (or a string), not {type(arguments).__name__}"
        )
    return list(arguments)


def check_count(
    value: Any,
    field: str,
    minimum: int,
    error: type[Exception] = RunConfigurationException,
) -> int:
    """``value`` if it is a whole number of at least ``minimum``; else ``error`` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise error(f"{field}: must be an integer of at least {minimum}, got {value!r}")
    return value


class MpiConfiguration:
    """``MpiConfiguration(process_count_per_node, node_count)``: processes per node of an MPI job."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node = check_count(
            process_count_per_node, "process_count_per_node", 1
        )
        self.node_count = check_count(node_count, "node_count", 1)


class PyTorchConfiguration:
    """``PyTorchConfiguration(communication_backend='Nccl', process_count=None, node_count=1)``:
    a PyTorch job; ``process_count`` (default one per node) is spread evenly over the nodes."""

    def __init__(
        self,
        communication_backend: str = "Nccl",
        process_count: int | None = None,
        node_count: int = 1,
    ) -> None:
        backend = str(communication_backend).capitalize()
        if backend not in ("Nccl", "Gloo"):
            raise RunConfigurationException(
                f"communication_backend: {communication_backend!r} is not supported; use 'Nccl' or 'Gloo'"
            )
        check_count(node_count, "node_count", 1)
        count = node_count if process_count is None else process_count
        if not isinstance(count, int) or count < node_count or count % node_count:
            raise RunConfigurationException(
                f"process_count: {process_count!r} must be a multiple of node_count ({node_count})"
            )
        self.communication_backend = backend
        self.process_count = process_count
        self.node_count = node_count

    @property
    def process_count_per_node(self) -> int:
        return (self.process_count or self.node_count) // self.node_count


class TensorflowConfiguration:
    """``TensorflowConfiguration(worker_count=1, parameter_server_count=1)``: a TensorFlow
    parameter-server job, one process per task. Given to ``ScriptRunConfig`` it asks for
    ``worker_count`` nodes; ``parameter_server_count=0`` gives a cluster of workers only
    (MultiWorkerMirroredStrategy)."""

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = check_count(worker_count, "worker_count", 1)
        self.parameter_server_count = check_count(
            parameter_server_count, "parameter_server_count", 0
        )


def apply_distribution(run_config: RunConfiguration, distributed: Any) -> None:
    """How ``ScriptRunConfig(distributed_job_config=...)`` shapes the run configuration."""
    if distributed is None:
        return
    if isinstance(distributed, TensorflowConfiguration):
        run_config.node_count = distributed.worker_count
        run_config.framework, run_config.communicator = "TensorFlow", "ParameterServer"
        run_config.tensorflow = distributed
    elif isinstance(distributed, MpiConfiguration):
        run_config.node_count = distributed.node_count
        run_config.framework, run_config.communicator = "Python", "IntelMpi"
        run_config.mpi = distributed
    elif isinstance(distributed, PyTorchConfiguration):
        run_config.node_count = distributed.node_count
        run_config.framework, run_config.communicator = "PyTorch", distributed.communication_backend
        run_config.pytorch = distributed
    else:
        raise RunConfigurationException(
            f"distributed_job_config: {type(distributed).__name__} is not supported; give a "
            "PyTorchConfiguration, MpiConfiguration or TensorflowConfiguration"
        )


class RunConfiguration:
    """How to run a script: target, framework, environment, nodes and data."""

    DEFAULT_CPU_IMAGE = DEFAULT_CPU_IMAGE
    DEFAULT_GPU_IMAGE = DEFAULT_GPU_IMAGE

    def __init__(
        self,
        script: str | None = None,
        arguments: list[Any] | None = None,
        framework: str | None = None,
        communicator: str | None = None,
        conda_dependencies: Any = None,
        _history_enabled: bool | None = None,
        _path: str | None = None,
        _name: str | None = None,
        command: str | list[str] | None = None,
    ) -> None:
        self.script = script
        self.arguments: list[Any] = argument_list(arguments)
        self.command: str | list[str] = command or ""
        self._target = "local"
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.max_run_duration_seconds: int | None = None
        self.node_count = 1
        self.priority: int | None = None
        self.environment = Environment("default-environment")
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.history = HistoryConfiguration()
        self.docker = DockerConfiguration()
        self.tensorflow: Any = None
        self.mpi: Any = None
        self.pytorch: Any = None
        self.data_references: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self.output_data: dict[str, Any] = {}
        self.environment_variables: dict[str, str] = {}
        self.source_directory_data_store: str | None = None
        self.credential_passthrough = False

    @staticmethod
    def load(path: str, name: str | None = None) -> RunConfiguration:
        """A run configuration from its YAML file: ``path`` itself, or (with ``name``) the
        project folder ``path``'s ``.azureml/<name>.runconfig`` (``aml_config/`` in older
        projects). A bad file raises RunConfigurationException naming the key."""
        where = Path(path)
        if name is not None:
            found = [
                where / folder / f"{name}.runconfig"
                for folder in (".azureml", "aml_config")
                if (where / folder / f"{name}.runconfig").is_file()
            ]
            if not found:
                raise RunConfigurationException(
                    f"name: no {name}.runconfig in {where / '.azureml'} or {where / 'aml_config'}"
                )
            where = found[0]
        if not where.is_file():
            raise RunConfigurationException(f"path: {path} is not a file")
        try:
            loaded = RunConfigFile.model_validate(yaml.safe_load(where.read_text()) or {})
        except yaml.YAMLError as exc:
            raise RunConfigurationException(f"path: {where} is not valid YAML: {exc}") from None
        except ValidationError as exc:
            raise RunConfigurationException(f"{where}: {rest_problems(exc.errors())}") from None
        config = RunConfiguration(
            script=loaded.script,
            arguments=list(loaded.arguments),
            framework=loaded.framework,
            communicator=loaded.communicator,
        )
        if loaded.target is not None:
            config.target = loaded.target
        config.node_count = loaded.node_count
        config.max_run_duration_seconds = loaded.max_run_duration_seconds
        env, python = loaded.environment, loaded.environment.python
        if env.name:
            config.environment.name = env.name
        config.environment.environment_variables = dict(env.environment_variables)
        config.environment.python.user_managed_dependencies = python.user_managed_dependencies
        config.environment.python.interpreter_path = python.interpreter_path
        if python.conda_dependencies_file is not None:
            config.environment.python.conda_dependencies = CondaDependencies(
                str(where.parent / python.conda_dependencies_file)
            )
        elif python.conda_dependencies is not None:
            config.environment.python.conda_dependencies = CondaDependencies(
                _underlying_structure=python.conda_dependencies
            )
        config.environment.docker.enabled = env.docker.enabled
        if env.docker.base_image is not None:
            config.environment.docker.base_image = env.docker.base_image
        return config

    @property
    def target(self) -> str:
        return self._target

    @target.setter
    def target(self, value: Any) -> None:
        self._target = target_name(value)

    def __repr__(self) -> str:
        return f"RunConfiguration(target={self.target!r}, framework={self.framework!r}, node_count={self.node_count})"
