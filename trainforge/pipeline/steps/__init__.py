"""Pipeline steps, as ``azureml.pipeline.steps``."""

from trainforge.pipeline.steps.command_step import CommandStep
from trainforge.pipeline.steps.python_script_step import PythonScriptStep

__all__ = ["CommandStep", "PythonScriptStep"]
