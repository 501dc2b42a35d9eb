"""ML pipelines' core, as ``azureml.pipeline.core``: Pipeline, PipelineData,
PipelineParameter, TrainingOutput, StepSequence, PipelineRun and StepRun, PublishedPipeline,
PipelineEndpoint, Schedule and ScheduleRecurrence."""

from trainforge.pipeline.core.builder import PipelineData, PipelineStep, StepSequence
from trainforge.pipeline.core.graph import PipelineParameter, PortDataReference, TrainingOutput
from trainforge.pipeline.core.pipeline import Pipeline
from trainforge.pipeline.core.pipeline_endpoint import PipelineEndpoint
from trainforge.pipeline.core.published_pipeline import PublishedPipeline
from trainforge.pipeline.core.run import PipelineRun, StepRun, StepRunOutput
from trainforge.pipeline.core.schedule import Schedule, ScheduleRecurrence, TimeZone

__all__ = [
    "Pipeline",
    "PipelineData",
    "PipelineEndpoint",
    "PipelineParameter",
    "PipelineRun",
    "PipelineStep",
    "PortDataReference",
    "PublishedPipeline",
    "Schedule",
    "ScheduleRecurrence",
    "StepRun",
    "StepRunOutput",
    "StepSequence",
    "TimeZone",
    "TrainingOutput",
]
