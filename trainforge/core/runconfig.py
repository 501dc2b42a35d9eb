"""RunConfiguration: everything about how a script runs, as ``azureml.core.runconfig``."""

from __future__ import annotations

from typing import Any

from trainforge.core.environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, Environment


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


class MpiConfiguration:
    """``MpiConfiguration(process_count_per_node, node_count)``: processes per node of an MPI job."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count


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
        self.arguments: list[Any] = list(arguments or [])
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

    @property
    def target(self) -> str:
        return self._target

    @target.setter
    def target(self, value: Any) -> None:
        self._target = target_name(value)

    def __repr__(self) -> str:
        return f"RunConfiguration(target={self.target!r}, framework={self.framework!r}, node_count={self.node_count})"
