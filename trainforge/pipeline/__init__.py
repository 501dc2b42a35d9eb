"""ML pipelines, as ``azureml.pipeline``: ``trainforge.pipeline.core`` (Pipeline,
PipelineData, PipelineParameter, PipelineRun...) and ``trainforge.pipeline.steps``."""

# The steps with the core: a pipeline YAML's step types are their classes
# (``PipelineStep._classes``), whichever of the two a caller imports.
import trainforge.pipeline.steps  # noqa: E402, F401
