"""ML pipelines, as ``azureml.pipeline``: ``trainforge.pipeline.core`` (Pipeline,
PipelineData, PipelineParameter, PipelineRun...) and ``trainforge.pipeline.steps``."""
