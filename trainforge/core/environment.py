"""Environment: what a run's Python process needs (``azureml.core.Environment``)."""

from __future__ import annotations

from typing import Any

DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.3-cudnn8-ubuntu20.04"


class PythonSection:
    """``env.python``: with ``user_managed_dependencies=True`` the run uses the interpreter as it is."""

    def __init__(self) -> None:
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies: Any = None
        self.conda_dependencies_file: str | None = None
        self.base_conda_environment: str | None = None


class DockerSection:
    """``env.docker``: accepted; the local backend runs without a container and says so."""

    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = DEFAULT_CPU_IMAGE
        self.base_dockerfile: str | None = None
        self.base_image_registry: Any = None
        self.shm_size: str | None = None
        self.shared_volumes = True
        self.arguments: list[str] = []
        self.gpu_support = False


class Environment:
    """A named Python environment for runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}
        self.inferencing_stack_version: str | None = None

    def __repr__(self) -> str:
        return f"Environment(Name: {self.name},\nVersion: {self.version})"

    def _packages(self) -> tuple[list[str], list[str]]:
        """(pip, conda) packages asked for beyond the SDK's own defaults."""
        deps = self.python.conda_dependencies
        if deps is None:
            return [], []
        pip = [
            p
            for p in getattr(deps, "pip_packages", [])
            if not str(p).startswith("azureml-defaults")
        ]
        conda = [
            p
            for p in getattr(deps, "conda_packages", [])
            if not str(p).startswith(("python", "pip"))
        ]
        return list(pip), list(conda)
