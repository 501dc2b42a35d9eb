"""``azureml.train.sklearn``: the scikit-learn estimator, for single-node CPU training."""

from __future__ import annotations

from typing import Any

from trainforge.exceptions import TrainingException
from trainforge.train.dnn import _FrameworkEstimator

__all__ = ["SKLearn"]

# Estimator arguments SKLearn does not take: scikit-learn trains on one CPU node.
_SINGLE_NODE_ONLY = {
    "node_count": 1,
    "process_count_per_node": 1,
    "distributed_backend": None,
    "distributed_training": None,
    "use_gpu": False,
    "custom_docker_base_image": None,
    "source_directory_data_store": None,
}


class SKLearn(_FrameworkEstimator):
    """``SKLearn(source_directory, *, compute_target, vm_size, vm_priority, entry_script,
    script_params, use_docker, custom_docker_image, user_managed, conda_packages,
    pip_packages, environment_variables, environment_definition, inputs, shm_size,
    resume_from, max_run_duration_seconds, framework_version, ...)``.

    Single-node CPU training only: distributed settings and ``use_gpu`` are refused.
    """

    _SUPPORTED_BACKENDS: tuple[str, ...] = ()
    FRAMEWORK = "Python"
    DEFAULT_VERSION = "0.20.3"
    SUPPORTED_VERSIONS = ("0.20.3",)

    def __init__(self, source_directory: str, **kwargs: Any) -> None:
        for name, default in _SINGLE_NODE_ONLY.items():
            if name in kwargs and kwargs[name] != default:
                raise TrainingException(
                    f"{name}: SKLearn supports single-node CPU training only; "
                    f"{name}={kwargs[name]!r} is not allowed"
                )
            kwargs.pop(name, None)
        super().__init__(source_directory, **kwargs)
