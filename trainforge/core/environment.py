"""Environment: what a run's Python process needs (``azureml.core.Environment``).

An environment names its packages (``python.conda_dependencies``), variables and Docker
settings. Runs whose environment asks for packages get a virtualenv built once per
content and reused (see ``trainforge.node.environments``); registered environments are
versioned per workspace as in Azure ML.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainforge.client.api import api
from trainforge.client.api.environments import EnvironmentsApi
from trainforge.client.errors import sdk_errors
from trainforge.core.conda_dependencies import CondaDependencies
from trainforge.exceptions import UserErrorException
from trainforge.schemas.conda import conda_only_error, translate
from trainforge.schemas.environments import (
    ENVIRONMENT_NAME,
    ENVIRONMENT_RULE,
    RESERVED_PREFIXES,
    DockerDefinition,
    EnvironmentDefinition,
    EnvironmentInfo,
    PythonDefinition,
)
from trainforge.schemas.runs import EnvironmentSpec
from trainforge.schemas.runs import PythonSection as PythonSpec

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

log = logging.getLogger("trainforge")
DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.3-cudnn8-ubuntu20.04"
# pip packages of the Azure ML SDK itself: trainforge stands in for them in every environment.
SDK_PACKAGE_PREFIX = "azureml-"
DEFINITION_FILE = "azureml_environment.json"
CONDA_FILE = "conda_dependencies.yml"


class PythonSection:
    """``env.python``: with ``user_managed_dependencies=True`` the run uses the interpreter as it is;
    otherwise the packages of ``conda_dependencies`` are installed into a cached virtualenv."""

    def __init__(self) -> None:
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies: Any = CondaDependencies()
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


def _conda_structure(deps: Any) -> dict[str, Any] | None:
    """The conda mapping of ``deps``: a CondaDependencies, or any object with package lists."""
    if deps is None:
        return None
    if isinstance(deps, CondaDependencies):
        return deps.as_dict()
    structure = CondaDependencies.create(
        pip_packages=list(getattr(deps, "pip_packages", []) or []),
        conda_packages=list(getattr(deps, "conda_packages", []) or []),
        python_version=None,
    )
    return structure.as_dict()


class Environment:
    """A named Python environment for runs: ``Environment(name)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}
        self.inferencing_stack_version: str | None = None

    def __repr__(self) -> str:
        return f"Environment(Name: {self.name},\nVersion: {self.version})"

    # -- factories ------------------------------------------------------------------------------
    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        """An environment from a conda YAML file; its ``pip`` section is installed too.

        Raises UserErrorException naming any conda-only package (one PyPI cannot provide).
        """
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(conda_dependencies_file_path=file_path)
        env._check_installable()
        return env

    @staticmethod
    def from_pip_requirements(
        name: str, file_path: str, pip_version: str | None = None
    ) -> Environment:
        """An environment whose pip section is the requirements file's lines (options included)."""
        path = Path(file_path)
        if not path.is_file():
            raise UserErrorException(f"file_path: {file_path} is not a file")
        lines = []
        for raw in path.read_text().splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
        deps = CondaDependencies.create(pip_packages=[], python_version=None)
        deps.add_conda_package(f"pip={pip_version}" if pip_version else "pip")
        deps.set_pip_requirements(lines)
        env = Environment(name)
        env.python.conda_dependencies = deps
        return env

    @staticmethod
    def load_from_directory(path: str) -> Environment:
        """An environment saved by ``save_to_directory``."""
        folder = Path(path)
        definition_file = folder / DEFINITION_FILE
        if not definition_file.is_file():
            raise UserErrorException(f"path: {path} holds no {DEFINITION_FILE}")
        data = json.loads(definition_file.read_text())
        env = Environment._from_definition(
            data.get("name", folder.name),
            None,
            EnvironmentDefinition.model_validate(data["definition"]),
        )
        if (folder / CONDA_FILE).is_file():
            env.python.conda_dependencies = CondaDependencies(str(folder / CONDA_FILE))
        return env

    def save_to_directory(self, path: str, overwrite: bool = False) -> None:
        """Write ``azureml_environment.json`` and ``conda_dependencies.yml`` into ``path``."""
        folder = Path(path)
        if folder.exists() and any(folder.iterdir()) and not overwrite:
            raise UserErrorException(
                f"path: {path} is not empty; pass overwrite=True to replace it"
            )
        folder.mkdir(parents=True, exist_ok=True)
        definition = self._definition()
        (folder / DEFINITION_FILE).write_text(
            json.dumps(
                {"name": self.name, "definition": definition.model_dump(mode="json")}, indent=2
            )
        )
        if isinstance(self.python.conda_dependencies, CondaDependencies):
            self.python.conda_dependencies.save(str(folder / CONDA_FILE))

    def clone(self, new_name: str) -> Environment:
        """A copy named ``new_name``, not registered (``version`` is None)."""
        env = copy.deepcopy(self)
        env.name = new_name
        env.version = None
        return env

    # -- the workspace registry -----------------------------------------------------------------
    def register(self, workspace: Workspace) -> Environment:
        """Register this environment in ``workspace``. The same content again returns the
        version already registered; changed content becomes the next version."""
        if not ENVIRONMENT_NAME.fullmatch(self.name or ""):
            raise UserErrorException(
                f"name: environment name {self.name!r} is invalid: {ENVIRONMENT_RULE}"
            )
        if self.name.lower().startswith(RESERVED_PREFIXES):
            raise UserErrorException(
                f"name: environment names starting with 'AzureML' or 'Microsoft' are reserved for "
                f"curated environments; {self.name!r} cannot be registered"
            )
        self._check_installable()
        with sdk_errors():
            created = api(workspace, EnvironmentsApi).register(self.name, self._definition())
        return Environment._from_info(created)

    @staticmethod
    def get(
        workspace: Workspace, name: str, version: str | None = None, label: str | None = None
    ) -> Environment:
        """The registered environment ``name`` at ``version`` (the latest when None)."""
        try:
            with sdk_errors():
                found = api(workspace, EnvironmentsApi).get(name, version)
        except UserErrorException:
            if version is None and name.lower().startswith(RESERVED_PREFIXES):
                return Environment._curated(name)
            raise
        return Environment._from_info(found)

    @staticmethod
    def _curated(name: str) -> Environment:
        """A curated environment (``AzureML-Minimal``, ``AzureML-PyTorch-1.6-GPU``, ...):
        Azure ML's are prebuilt images with the framework installed; here the node's own
        interpreter stands in for the image (user-managed), so install the framework there."""
        log.warning(
            "%s is a curated Azure ML environment: runs use the node's interpreter as it is "
            "(user_managed_dependencies=True); the framework it names must be installed there",
            name,
        )
        env = Environment(name)
        env.python.user_managed_dependencies = True
        env.python.conda_dependencies = None
        return env

    @staticmethod
    def list(workspace: Workspace) -> dict[str, Environment]:
        """{name: latest version} of the environments registered in ``workspace``."""
        with sdk_errors():
            found = api(workspace, EnvironmentsApi).list()
        return {info.name: Environment._from_info(info) for info in found}

    # -- conversions ------------------------------------------------------------------------------
    def _definition(self) -> EnvironmentDefinition:
        return EnvironmentDefinition(
            python=PythonDefinition(
                user_managed_dependencies=bool(self.python.user_managed_dependencies),
                interpreter_path=self.python.interpreter_path,
                conda_dependencies=_conda_structure(self.python.conda_dependencies),
                base_conda_environment=self.python.base_conda_environment,
            ),
            docker=DockerDefinition(
                enabled=bool(self.docker.enabled),
                base_image=self.docker.base_image,
                base_dockerfile=self.docker.base_dockerfile,
                shm_size=self.docker.shm_size,
                arguments=list(self.docker.arguments),
            ),
            environment_variables={str(k): str(v) for k, v in self.environment_variables.items()},
            inferencing_stack_version=self.inferencing_stack_version,
        )

    @staticmethod
    def _from_definition(
        name: str, version: str | None, definition: EnvironmentDefinition
    ) -> Environment:
        env = Environment(name)
        env.version = version
        env.python.user_managed_dependencies = definition.python.user_managed_dependencies
        env.python.interpreter_path = definition.python.interpreter_path
        env.python.base_conda_environment = definition.python.base_conda_environment
        structure = definition.python.conda_dependencies
        env.python.conda_dependencies = (
            None if structure is None else CondaDependencies(_underlying_structure=structure)
        )
        env.docker.enabled = definition.docker.enabled
        env.docker.base_image = definition.docker.base_image
        env.docker.base_dockerfile = definition.docker.base_dockerfile
        env.docker.shm_size = definition.docker.shm_size
        env.docker.arguments = list(definition.docker.arguments)
        env.environment_variables = dict(definition.environment_variables)
        env.inferencing_stack_version = definition.inferencing_stack_version
        return env

    @staticmethod
    def _from_info(info: EnvironmentInfo) -> Environment:
        return Environment._from_definition(info.name, info.version, info.definition)

    def _conda(self) -> CondaDependencies | None:
        structure = _conda_structure(self.python.conda_dependencies)
        return None if structure is None else CondaDependencies(_underlying_structure=structure)

    def _check_installable(self) -> None:
        """Refuse, by name, conda packages that no PyPI project provides."""
        deps = self._conda()
        if deps is None or self.python.user_managed_dependencies:
            return
        try:
            conda_only = translate(deps.conda_packages).conda_only
        except ValueError as exc:
            raise UserErrorException(str(exc)) from None
        if conda_only:
            raise UserErrorException(conda_only_error(conda_only))

    def _spec(self, extra_variables: dict[str, str], docker_enabled: bool) -> EnvironmentSpec:
        """What a run's launcher needs to know of this environment."""
        self._check_installable()
        deps = self._conda()
        pip = [] if deps is None else deps.pip_packages
        return EnvironmentSpec(
            name=self.name,
            version=self.version,
            python=PythonSpec(
                user_managed_dependencies=bool(self.python.user_managed_dependencies),
                interpreter_path=self.python.interpreter_path,
                submitting_interpreter=sys.executable,
                pip_packages=[p for p in pip if not p.lower().startswith(SDK_PACKAGE_PREFIX)],
                conda_packages=[] if deps is None else deps.conda_packages,
                pip_options=[] if deps is None else deps.pip_options,
                python_version=None if deps is None else deps.get_python_version(),
            ),
            environment_variables={**self.environment_variables, **extra_variables},
            docker_enabled=docker_enabled,
            docker_base_image=self.docker.base_image,
        )
