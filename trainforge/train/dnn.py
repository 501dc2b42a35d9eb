"""Framework estimators, as ``azureml.train.dnn``: PyTorch, TensorFlow and Chainer with
their distributed backends."""

from __future__ import annotations

from typing import Any

from trainforge.core.runconfig import check_count
from trainforge.exceptions import TrainingException
from trainforge.train.estimator import Estimator, Mpi

__all__ = ["Chainer", "Gloo", "Mpi", "Nccl", "ParameterServer", "PyTorch", "TensorFlow"]


class Gloo:
    """``distributed_training=Gloo()``: PyTorch over gloo (CPU)."""

    _backend_name = "gloo"


class Nccl:
    """``distributed_training=Nccl()``: PyTorch over NCCL (GPU)."""

    _backend_name = "nccl"


class ParameterServer:
    """``distributed_training=ParameterServer(worker_count=1, parameter_server_count=1)``:
    TensorFlow's parameter-server training, one process per task."""

    _backend_name = "ps"

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = check_count(worker_count, "worker_count", 1, TrainingException)
        self.parameter_server_count = check_count(
            parameter_server_count, "parameter_server_count", 0, TrainingException
        )


class _FrameworkEstimator(Estimator):
    """An Estimator for one framework: ``framework_version`` is recorded (the framework
    is the one the run's environment has, e.g. ``pip_packages=['torch']``)."""

    FRAMEWORK = "Python"
    DEFAULT_VERSION = ""
    SUPPORTED_VERSIONS: tuple[str, ...] = ()

    def __init__(
        self,
        source_directory: str,
        *,
        framework_version: str | None = None,
        _enable_optimized_mode: bool = False,
        _disable_validation: bool = True,
        _show_lint_warnings: bool = False,
        _show_package_warnings: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(source_directory, **kwargs)
        self.framework_version = framework_version or self.DEFAULT_VERSION
        if self.run_config.framework == "Python":
            self.run_config.framework = self.FRAMEWORK

    @classmethod
    def get_supported_versions(cls) -> list[str]:
        """The framework versions the SDK listed for this estimator."""
        return list(cls.SUPPORTED_VERSIONS)


class PyTorch(_FrameworkEstimator):
    """``PyTorch(source_directory, *, compute_target, entry_script, script_params, node_count,
    process_count_per_node, distributed_training=Gloo()|Nccl()|Mpi() (or distributed_backend=
    'gloo'|'nccl'|'mpi'), use_gpu, framework_version, ...)``."""

    _SUPPORTED_BACKENDS = ("mpi", "gloo", "nccl")
    FRAMEWORK = "PyTorch"
    DEFAULT_VERSION = "1.4"
    SUPPORTED_VERSIONS = ("1.4", "1.5", "1.6")


class TensorFlow(_FrameworkEstimator):
    """``TensorFlow(source_directory, *, compute_target, entry_script, script_params, node_count,
    worker_count=1, parameter_server_count=1, distributed_training=ParameterServer()|Mpi()
    (or distributed_backend='ps'|'mpi'), use_gpu, framework_version, ...)``.

    With parameter servers, ``worker_count + parameter_server_count`` tasks are spread over
    ``node_count`` nodes: workers one per node in order, parameter servers from node 0.
    """

    _SUPPORTED_BACKENDS = ("mpi", "ps")
    FRAMEWORK = "TensorFlow"
    DEFAULT_VERSION = "1.13"
    SUPPORTED_VERSIONS = ("1.13", "2.0", "2.1", "2.2")

    def __init__(
        self,
        source_directory: str,
        *,
        worker_count: int = 1,
        parameter_server_count: int = 1,
        **kwargs: Any,
    ) -> None:
        backend = kwargs.get("distributed_backend")
        if isinstance(backend, str) and backend.lower() == "ps":
            if kwargs.get("distributed_training") is not None:
                raise TrainingException(
                    "distributed_backend: give either distributed_backend (a string, deprecated) "
                    "or distributed_training (an object), not both"
                )
            kwargs.pop("distributed_backend")
            kwargs["distributed_training"] = ParameterServer(worker_count, parameter_server_count)
        super().__init__(source_directory, **kwargs)


class Chainer(_FrameworkEstimator):
    """``Chainer(source_directory, *, compute_target, entry_script, script_params, node_count,
    process_count_per_node, distributed_training=Mpi() (or distributed_backend='mpi'),
    use_gpu, framework_version, ...)``: ChainerMN trains over MPI."""

    _SUPPORTED_BACKENDS = ("mpi",)
    FRAMEWORK = "Chainer"
    DEFAULT_VERSION = "5.1.0"
    SUPPORTED_VERSIONS = ("5.1.0", "7.0.0")
