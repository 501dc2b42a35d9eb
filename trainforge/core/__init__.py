"""The core SDK, as ``azureml.core``: Workspace, Experiment, Run and how to configure runs."""

from trainforge import __version__
from trainforge.core.compute import ComputeTarget
from trainforge.core.dataset import Dataset
from trainforge.core.datastore import Datastore
from trainforge.core.environment import Environment
from trainforge.core.experiment import Experiment
from trainforge.core.keyvault import Keyvault
from trainforge.core.model import InferenceConfig, Model
from trainforge.core.run import Run
from trainforge.core.runconfig import RunConfiguration
from trainforge.core.script_run import ScriptRun
from trainforge.core.script_run_config import ScriptRunConfig
from trainforge.core.webservice import Webservice
from trainforge.core.workspace import Workspace

VERSION = __version__
"""The SDK's version, as ``azureml.core.VERSION`` (the samples print it in their first cell)."""

__all__ = [
    "ComputeTarget",
    "Dataset",
    "Datastore",
    "Environment",
    "Experiment",
    "InferenceConfig",
    "Keyvault",
    "Model",
    "Run",
    "RunConfiguration",
    "ScriptRun",
    "ScriptRunConfig",
    "VERSION",
    "Webservice",
    "Workspace",
]
