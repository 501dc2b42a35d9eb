"""The core SDK, as ``azureml.core``: Workspace, Experiment, Run and how to configure runs.

Each name is imported when first used (PEP 562): a training script's ``from
trainforge.core import Run`` then loads what a run needs, not the whole SDK, which
every trial of a sweep would otherwise pay for at its start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainforge import __version__

if TYPE_CHECKING:
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

_MODULES = {
    "ComputeTarget": "trainforge.core.compute",
    "Dataset": "trainforge.core.dataset",
    "Datastore": "trainforge.core.datastore",
    "Environment": "trainforge.core.environment",
    "Experiment": "trainforge.core.experiment",
    "InferenceConfig": "trainforge.core.model",
    "Keyvault": "trainforge.core.keyvault",
    "Model": "trainforge.core.model",
    "Run": "trainforge.core.run",
    "RunConfiguration": "trainforge.core.runconfig",
    "ScriptRun": "trainforge.core.script_run",
    "ScriptRunConfig": "trainforge.core.script_run_config",
    "Webservice": "trainforge.core.webservice",
    "Workspace": "trainforge.core.workspace",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
