"""Pipeline steps, as ``azureml.pipeline.steps``."""

from trainforge.pipeline.steps.automl_step import AutoMLStep, AutoMLStepRun
from trainforge.pipeline.steps.command_step import CommandStep
from trainforge.pipeline.steps.data_transfer_step import DataTransferStep
from trainforge.pipeline.steps.estimator_step import EstimatorStep
from trainforge.pipeline.steps.hyper_drive_step import HyperDriveStep, HyperDriveStepRun
from trainforge.pipeline.steps.mpi_step import MpiStep
from trainforge.pipeline.steps.parallel_run_config import ParallelRunConfig
from trainforge.pipeline.steps.parallel_run_step import ParallelRunStep
from trainforge.pipeline.steps.python_script_step import PythonScriptStep

__all__ = [
    "AutoMLStep",
    "AutoMLStepRun",
    "CommandStep",
    "DataTransferStep",
    "EstimatorStep",
    "HyperDriveStep",
    "HyperDriveStepRun",
    "MpiStep",
    "ParallelRunConfig",
    "ParallelRunStep",
    "PythonScriptStep",
]
