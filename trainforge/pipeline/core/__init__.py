"""ML pipelines' core, as ``azureml.pipeline.core``: Pipeline, PipelineData,
PipelineParameter, StepSequence, PipelineRun and StepRun."""

from trainforge.pipeline.core.builder import PipelineData, PipelineStep, StepSequence
from trainforge.pipeline.core.graph import PipelineParameter, PortDataReference
from trainforge.pipeline.core.pipeline import Pipeline
from trainforge.pipeline.core.run import PipelineRun, StepRun, StepRunOutput

__all__ = [
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PipelineRun",
    "PipelineStep",
    "PortDataReference",
    "StepRun",
    "StepRunOutput",
    "StepSequence",
]
