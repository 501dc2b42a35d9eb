"""Estimator: the SDK's wrapper that turns training settings into a run configuration."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainforge.core.conda_dependencies import CondaDependencies
from trainforge.core.environment import DEFAULT_GPU_IMAGE, Environment
from trainforge.core.runconfig import (
    MpiConfiguration,
    RunConfiguration,
    apply_distribution,
    check_count,
    target_name,
)
from trainforge.data.bindings import bind_data
from trainforge.exceptions import TrainingException, UserErrorException


def script_params_to_arguments(script_params: dict[str, Any] | None) -> list[Any]:
    """The SDK's rule: ``[k1, v1, k2, v2, ...]`` in order; lists expand; None and '' drop out."""
    arguments: list[Any] = []
    for key, value in (script_params or {}).items():
        arguments.append(key)
        values: Iterable[Any] = value if isinstance(value, list | tuple) else [value]
        arguments.extend(v for v in values if v is not None and v != "")
    return arguments


def _count(value: Any, field: str, minimum: int) -> int:
    return check_count(value, field, minimum, TrainingException)


class Mpi:
    """``distributed_training=Mpi(process_count_per_node=1)``: an MPI job, started with
    ``mpirun`` over the run's nodes."""

    _backend_name = "mpi"

    def __init__(self, process_count_per_node: int = 1) -> None:
        self.process_count_per_node = _count(process_count_per_node, "process_count_per_node", 1)


def backend_name(backend: Any) -> str:
    """'mpi', 'ps', 'gloo' or 'nccl' for a ``distributed_backend`` string or a
    ``distributed_training`` object."""
    from trainforge.core.runconfig import PyTorchConfiguration, TensorflowConfiguration

    if isinstance(backend, str):
        return backend.lower()
    if isinstance(backend, MpiConfiguration):
        return "mpi"
    if isinstance(backend, TensorflowConfiguration):
        return "ps"
    if isinstance(backend, PyTorchConfiguration):
        return backend.communication_backend.lower()
    name = getattr(backend, "_backend_name", None)
    if name is None:
        raise TrainingException(
            f"distributed_training: {type(backend).__name__} is not a distributed training "
            "configuration; give Mpi(), ParameterServer(), Gloo(), Nccl(), MpiConfiguration "
            "or TensorflowConfiguration"
        )
    return str(name)


def distribution_of(
    backend: Any,
    node_count: int,
    process_count_per_node: int,
    supported: tuple[str, ...],
    estimator: str = "Estimator",
) -> Any:
    """The run-configuration object for an Estimator's ``distributed_backend`` string or
    ``distributed_training`` object, checked against what the estimator supports."""
    from trainforge.core.runconfig import PyTorchConfiguration, TensorflowConfiguration

    if backend is None:
        return None
    name = backend_name(backend)
    if name not in supported:
        allowed = ", ".join(repr(b) for b in supported) or "none (single-node training only)"
        raise TrainingException(
            f"distributed_backend: {estimator} does not support {name!r}; supported: {allowed}"
        )
    if name == "mpi":
        per_node = getattr(backend, "process_count_per_node", process_count_per_node)
        return MpiConfiguration(per_node, node_count)
    if name == "ps":
        return TensorflowConfiguration(
            getattr(backend, "worker_count", 1), getattr(backend, "parameter_server_count", 1)
        )
    return PyTorchConfiguration(name, node_count * process_count_per_node, node_count)


def _project_file(source_directory: str, relative: str, field: str) -> Path:
    """A file named relative to the source directory; it must be inside it and exist."""
    root = Path(source_directory).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise TrainingException(
            f"{field}: {relative} must be inside source_directory {source_directory}"
        )
    if not path.is_file():
        raise UserErrorException(
            f"{field}: {path} doesn't exist. The file should be inside the project folder"
        )
    return path


def estimator_dependencies(
    source_directory: str,
    pip_packages: list[str] | None,
    conda_packages: list[str] | None,
    pip_requirements_file: str | None,
    conda_dependencies_file: str | None,
    pip_field: str,
    conda_field: str,
) -> CondaDependencies:
    """The SDK's rule: a conda file is used as it is; otherwise azureml-defaults, the
    requirements file's lines and ``pip_packages``, then ``conda_packages``."""
    if conda_dependencies_file:
        path = _project_file(source_directory, conda_dependencies_file, conda_field)
        return CondaDependencies(conda_dependencies_file_path=str(path))
    deps = CondaDependencies()
    pip = list(pip_packages or [])
    if pip_requirements_file:
        path = _project_file(source_directory, pip_requirements_file, pip_field)
        lines = [
            line.split(" #", 1)[0].strip()
            for line in path.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        pip = CondaDependencies.merge_requirements([*lines, *pip])
    if pip:
        deps.set_pip_requirements(["azureml-defaults", *pip])
    for package in conda_packages or []:
        deps.add_conda_package(package)
    return deps


class Estimator:
    """``Estimator(source_directory, *, compute_target, entry_script, script_params, ...)``.

    Deprecated in the SDK but common in code of the Batch AI era; submit it with
    ``Experiment.submit`` like a ScriptRunConfig.
    """

    _SUPPORTED_BACKENDS: tuple[str, ...] = ("mpi",)

    def __init__(
        self,
        source_directory: str,
        *,
        compute_target: Any = None,
        vm_size: str | None = None,
        vm_priority: str | None = None,
        entry_script: str | None = None,
        script_params: dict[str, Any] | None = None,
        node_count: int = 1,
        process_count_per_node: int = 1,
        distributed_backend: str | None = None,
        distributed_training: Any = None,
        use_gpu: bool = False,
        use_docker: bool = True,
        custom_docker_base_image: str | None = None,
        custom_docker_image: str | None = None,
        image_registry_details: Any = None,
        user_managed: bool = False,
        conda_packages: list[str] | None = None,
        pip_packages: list[str] | None = None,
        conda_dependencies_file_path: str | None = None,
        pip_requirements_file_path: str | None = None,
        conda_dependencies_file: str | None = None,
        pip_requirements_file: str | None = None,
        environment_variables: dict[str, str] | None = None,
        environment_definition: Environment | None = None,
        inputs: list[Any] | None = None,
        source_directory_data_store: Any = None,
        shm_size: str | None = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = None,
    ) -> None:
        _count(node_count, "node_count", 1)
        _count(process_count_per_node, "process_count_per_node", 1)
        if distributed_backend is not None and distributed_training is not None:
            raise TrainingException(
                "distributed_backend: give either distributed_backend (a string, deprecated) "
                "or distributed_training (an object), not both"
            )
        if (node_count > 1 or process_count_per_node > 1) and not (
            distributed_backend or distributed_training
        ):
            raise TrainingException(
                "distributed_backend: required when node_count or process_count_per_node is above 1"
            )
        # The deprecated *_path arguments stand in for the newer ones when those are absent.
        pip_field = "pip_requirements_file"
        if pip_requirements_file_path and not pip_requirements_file:
            pip_requirements_file, pip_field = (
                pip_requirements_file_path,
                "pip_requirements_file_path",
            )
        conda_field = "conda_dependencies_file"
        if conda_dependencies_file_path and not conda_dependencies_file:
            conda_dependencies_file = conda_dependencies_file_path
            conda_field = "conda_dependencies_file_path"
        if environment_definition is not None:
            clashing = [
                name
                for name, value in (
                    ("pip_packages", pip_packages),
                    (pip_field, pip_requirements_file),
                    ("conda_packages", conda_packages),
                    (conda_field, conda_dependencies_file),
                    ("custom_docker_image", custom_docker_image),
                    ("image_registry_details", image_registry_details),
                    ("use_gpu", use_gpu or None),
                    ("user_managed", user_managed or None),
                    ("shm_size", shm_size),
                    ("environment_variables", environment_variables),
                )
                if value
            ]
            if clashing:
                raise TrainingException(
                    f"environment_definition cannot be combined with {', '.join(clashing)}: "
                    "put them in the Environment instead"
                )
        if conda_dependencies_file and (pip_packages or pip_requirements_file or conda_packages):
            raise TrainingException(
                f"{conda_field}: cannot be combined with pip_packages, {pip_field} or "
                "conda_packages; list those packages in the conda file"
            )
        if not use_docker and (custom_docker_image or custom_docker_base_image):
            raise TrainingException("custom_docker_image: not allowed with use_docker=False")
        if user_managed and (
            pip_packages or conda_packages or pip_requirements_file or conda_dependencies_file
        ):
            raise TrainingException(
                f"user_managed: with user_managed=True, conda_packages, {conda_field}, "
                f"pip_packages or {pip_field} cannot be specified"
            )
        if compute_target is None and vm_size is None:
            compute_target = "local"

        self.source_directory = source_directory
        self._script_params = dict(script_params or {})
        self.run_config = RunConfiguration(
            script=entry_script, arguments=script_params_to_arguments(script_params)
        )
        self.run_config.target = (
            target_name(compute_target) if compute_target is not None else "amlcompute"
        )
        apply_distribution(
            self.run_config,
            distribution_of(
                distributed_training or distributed_backend,
                node_count,
                process_count_per_node,
                self._SUPPORTED_BACKENDS,
                type(self).__name__,
            ),
        )
        self.run_config.node_count = node_count
        self.run_config.max_run_duration_seconds = max_run_duration_seconds
        env = environment_definition or Environment("estimator-environment")
        if environment_definition is None:
            env.python.user_managed_dependencies = user_managed
            env.docker.enabled = use_docker
            if custom_docker_image or custom_docker_base_image:
                env.docker.base_image = custom_docker_image or custom_docker_base_image
            elif use_gpu:
                env.docker.base_image = DEFAULT_GPU_IMAGE
            env.docker.gpu_support = use_gpu
            env.environment_variables = dict(environment_variables or {})
            if shm_size:
                env.docker.shm_size = shm_size
            env.python.conda_dependencies = estimator_dependencies(
                source_directory,
                pip_packages,
                conda_packages,
                pip_requirements_file,
                conda_dependencies_file,
                pip_field,
                conda_field,
            )
        self.run_config.environment = env
        self.process_count_per_node = process_count_per_node
        self.distributed_backend = distributed_backend
        self.distributed_training = distributed_training
        self.use_gpu = use_gpu
        self.inputs = inputs
        # Data objects in inputs reach the run as in script_params: registered, then expanded.
        bind_data([], self.run_config, inputs)

    @property
    def conda_dependencies(self) -> Any:
        return self.run_config.environment.python.conda_dependencies

    def _submit(self, experiment: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> Any:
        from trainforge.core.script_run import submit_script

        return submit_script(experiment, self.source_directory, self.run_config, tags)
