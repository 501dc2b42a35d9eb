"""MpiStep (``azureml.pipeline.steps.mpi_step``): an MPI job as a pipeline step; deprecated
in the SDK in favour of CommandStep, still in older pipelines."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from trainforge.core.runconfig import check_count
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.graph import PipelineParameter
from trainforge.pipeline.steps.estimator_step import EstimatorStep
from trainforge.train.estimator import Estimator, Mpi

log = logging.getLogger("trainforge")
# The Estimator's options an MpiStep passes on (its **kwargs in the SDK).
ESTIMATOR_OPTIONS = frozenset(inspect.signature(Estimator.__init__).parameters) - {
    "self",
    "source_directory",
    "compute_target",
    "entry_script",
    "script_params",
    "node_count",
    "process_count_per_node",
    "distributed_backend",
    "distributed_training",
    "inputs",
}


def _count(value: Any, field: str, runconfig_param: str, params: dict[str, Any]) -> int:
    """A count given as an int or as a PipelineParameter (its default until submit)."""
    if value is None:
        return 1
    if isinstance(value, PipelineParameter):
        params[runconfig_param] = value
        value = value.default_value
    return check_count(value, field, 1, UserErrorException)


class MpiStep(EstimatorStep):
    """``MpiStep(name=None, source_directory=None, script_name=None, arguments=None,
    compute_target=None, node_count=None, process_count_per_node=None, inputs=None,
    outputs=None, allow_reuse=True, version=None, hash_paths=None, **kwargs)``: the script
    started with ``mpirun`` over ``node_count`` nodes, ``process_count_per_node`` ranks on
    each. Both counts may be PipelineParameters; ``kwargs`` are the Estimator's environment
    options (``pip_packages``, ``conda_packages``, ``environment_definition``, ``use_gpu``,
    ``environment_variables``...)."""

    KIND = "MpiStep"

    def __init__(
        self,
        name: str | None = None,
        source_directory: str | None = None,
        script_name: str | None = None,
        arguments: list[Any] | None = None,
        compute_target: Any = None,
        node_count: int | PipelineParameter | None = None,
        process_count_per_node: int | PipelineParameter | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(script_name, str) or not script_name:
            raise UserErrorException(f"script_name: an MpiStep needs a script, got {script_name!r}")
        if not isinstance(source_directory, str) or not source_directory:
            raise UserErrorException(
                f"source_directory: an MpiStep needs the folder of {script_name}, "
                f"got {source_directory!r}"
            )
        unknown = sorted(set(kwargs) - ESTIMATOR_OPTIONS)
        if unknown:
            raise UserErrorException(
                f"{unknown[0]}: not an option of MpiStep; its keyword options are "
                f"{', '.join(sorted(ESTIMATOR_OPTIONS))}"
            )
        if hash_paths:
            log.warning("hash_paths is deprecated: the whole source_directory is hashed for reuse")
        params: dict[str, Any] = {}
        nodes = _count(node_count, "node_count", "NodeCount", params)
        ranks = _count(
            process_count_per_node, "process_count_per_node", "MpiProcessCountPerNode", params
        )
        estimator = Estimator(
            source_directory,
            compute_target=compute_target,
            entry_script=script_name,
            node_count=nodes,
            process_count_per_node=ranks,
            distributed_training=Mpi(process_count_per_node=ranks),
            **kwargs,
        )
        super().__init__(
            name or script_name,
            estimator,
            list(arguments or []),
            params or None,
            inputs,
            outputs,
            compute_target,
            allow_reuse,
            version,
        )
