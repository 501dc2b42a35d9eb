"""Framework estimators, as ``azureml.train.dnn``: PyTorch and TensorFlow with their backends."""

from __future__ import annotations

from typing import Any

from trainforge.train.estimator import Estimator, Mpi

__all__ = ["Gloo", "Mpi", "Nccl", "ParameterServer", "PyTorch", "TensorFlow"]


class Gloo:
    """``distributed_training=Gloo()``: PyTorch over gloo (CPU)."""

    _backend_name = "gloo"


class Nccl:
    """``distributed_training=Nccl()``: PyTorch over NCCL (GPU)."""

    _backend_name = "nccl"


class ParameterServer:
    """``distributed_training=ParameterServer(worker_count, parameter_server_count)``."""

    _backend_name = "ps"

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count


class PyTorch(Estimator):
    """``PyTorch(source_directory, *, compute_target, entry_script, script_params, node_count,
    process_count_per_node, distributed_backend='gloo'|'nccl'|'mpi', use_gpu, framework_version, ...)``.

    The framework is the one the environment already has (``pip install torch``);
    ``framework_version`` is recorded, not installed.
    """

    _SUPPORTED_BACKENDS = ("mpi", "gloo", "nccl")
    DEFAULT_VERSION = "1.4"

    def __init__(
        self, source_directory: str, *, framework_version: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(source_directory, **kwargs)
        self.framework_version = framework_version or self.DEFAULT_VERSION
        if self.run_config.framework == "Python":
            self.run_config.framework = "PyTorch"

    @classmethod
    def get_supported_versions(cls) -> list[str]:
        return ["1.4", "1.5", "1.6"]


class TensorFlow(Estimator):
    """``TensorFlow(source_directory, *, compute_target, entry_script, script_params, node_count,
    worker_count, parameter_server_count, distributed_backend='ps'|'mpi', use_gpu, ...)``."""

    _SUPPORTED_BACKENDS = ("mpi", "ps")
    DEFAULT_VERSION = "1.13"

    def __init__(
        self,
        source_directory: str,
        *,
        framework_version: str | None = None,
        worker_count: int = 1,
        parameter_server_count: int = 1,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("distributed_backend") == "ps" and kwargs.get("distributed_training") is None:
            kwargs["distributed_training"] = ParameterServer(worker_count, parameter_server_count)
            kwargs.pop("distributed_backend")
        super().__init__(source_directory, **kwargs)
        self.framework_version = framework_version or self.DEFAULT_VERSION
        if self.run_config.framework == "Python":
            self.run_config.framework = "TensorFlow"

    @classmethod
    def get_supported_versions(cls) -> list[str]:
        return ["1.13", "2.0", "2.1", "2.2"]
