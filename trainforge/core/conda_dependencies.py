"""CondaDependencies: the packages of an environment, as ``azureml.core.conda_dependencies``.

The object is a conda environment specification (``name``, ``channels``, ``dependencies``
with an optional ``pip`` section), read from and written to the same YAML files that
Azure ML uses. trainforge installs it from PyPI (see ``trainforge.schemas.conda``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from trainforge.exceptions import UserErrorException
from trainforge.schemas.conda import package_name, translate
from trainforge.storage.paths import UnsafePathError, safe_relative_path

DEFAULT_PYTHON_VERSION = "3.8.13"
DEFAULT_SDK_PACKAGE = "azureml-defaults"
CONDA_FILE_NAME = "conda_dependencies.yml"
HEADER = (
    "# Conda environment specification. The dependencies defined in this file will\n"
    "# be automatically provisioned for runs with userManagedDependencies=False.\n\n"
    "# Details about the Conda environment file format:\n"
    "# https://conda.io/docs/user-guide/tasks/manage-environments.html#create-env-file-manually\n\n"
)


def _default_structure(python_version: str | None, pip: list[str]) -> dict[str, Any]:
    dependencies: list[Any] = [f"python={python_version}"] if python_version else []
    dependencies.append({"pip": list(pip)})
    return {
        "name": "project_environment",
        "dependencies": dependencies,
        "channels": ["anaconda", "conda-forge"],
    }


def _same_package(a: str, b: str) -> bool:
    try:
        return package_name(a) == package_name(b)
    except ValueError:
        return a == b


class CondaDependencies:
    """``CondaDependencies(conda_dependencies_file_path=None)``: a conda specification.

    Without a file it holds the SDK's default: ``python=3.8.13`` and the pip package
    ``azureml-defaults``, which trainforge provides itself rather than installing.
    """

    def __init__(
        self,
        conda_dependencies_file_path: str | None = None,
        _underlying_structure: dict[str, Any] | None = None,
    ) -> None:
        if conda_dependencies_file_path is not None:
            path = Path(conda_dependencies_file_path)
            if not path.is_file():
                raise UserErrorException(
                    f"conda_dependencies_file_path: {conda_dependencies_file_path} is not a file"
                )
            try:
                structure = yaml.safe_load(path.read_text())
            except yaml.YAMLError as exc:
                raise UserErrorException(
                    f"conda_dependencies_file_path: {conda_dependencies_file_path} is not valid YAML: {exc}"
                ) from None
            self._conda_dependencies = self._checked(structure, str(conda_dependencies_file_path))
        elif _underlying_structure is not None:
            self._conda_dependencies = self._checked(
                copy.deepcopy(_underlying_structure), "_underlying_structure"
            )
        else:
            self._conda_dependencies = _default_structure(
                DEFAULT_PYTHON_VERSION, [DEFAULT_SDK_PACKAGE]
            )

    @staticmethod
    def _checked(structure: Any, where: str) -> dict[str, Any]:
        if structure is None:
            structure = {}
        if not isinstance(structure, dict):
            raise UserErrorException(
                f"{where}: a conda specification is a mapping with 'dependencies', not {type(structure).__name__}"
            )
        dependencies = structure.setdefault("dependencies", [])
        if not isinstance(dependencies, list):
            raise UserErrorException(f"{where}: 'dependencies' must be a list")
        for item in dependencies:
            if isinstance(item, dict):
                if set(item) != {"pip"} or not isinstance(item["pip"] or [], list):
                    raise UserErrorException(
                        f"{where}: a mapping in 'dependencies' may only be the 'pip' list, got {item!r}"
                    )
                item["pip"] = [str(p) for p in item["pip"] or []]
            elif not isinstance(item, str | int | float):
                raise UserErrorException(
                    f"{where}: 'dependencies' entries are package specs, got {item!r}"
                )
        structure["dependencies"] = [
            item if isinstance(item, dict) else str(item) for item in dependencies
        ]
        return structure

    # -- factories ------------------------------------------------------------------------
    @staticmethod
    def create(
        pip_indexurl: str | None = None,
        pip_packages: Iterable[str] | None = None,
        conda_packages: Iterable[str] | None = None,
        python_version: str | None = DEFAULT_PYTHON_VERSION,
        pin_sdk_version: bool = True,
    ) -> CondaDependencies:
        """A specification with these packages; without ``pip_packages`` it holds ``azureml-defaults``."""
        deps = CondaDependencies(_underlying_structure=_default_structure(python_version, []))
        if pip_indexurl:
            deps.set_pip_index_url(pip_indexurl)
        for package in conda_packages or []:
            deps.add_conda_package(package)
        for package in [DEFAULT_SDK_PACKAGE] if pip_packages is None else pip_packages:
            deps.add_pip_package(package)
        return deps

    @staticmethod
    def merge_requirements(requirements: Iterable[str]) -> list[str]:
        """Requirements with duplicates (the same text) removed, first one kept."""
        return list(dict.fromkeys(str(r).strip() for r in requirements if str(r).strip()))

    # -- the pip section ----------------------------------------------------------------------
    def _pip_list(self, create: bool = False) -> list[str] | None:
        for item in self._conda_dependencies["dependencies"]:
            if isinstance(item, dict) and "pip" in item:
                return item["pip"]
        if not create:
            return None
        pip: list[str] = []
        self._conda_dependencies["dependencies"].append({"pip": pip})
        return pip

    @property
    def pip_packages(self) -> list[str]:
        """The pip requirements (options such as ``--index-url`` are in ``pip_options``)."""
        return [p for p in self._pip_list() or [] if not p.strip().startswith("-")]

    @property
    def pip_options(self) -> list[str]:
        return [p for p in self._pip_list() or [] if p.strip().startswith("-")]

    def add_pip_package(self, pip_package: str) -> None:
        """Add ``pip_package``, replacing an entry of the same package."""
        pip = self._pip_list(create=True)
        assert pip is not None
        for i, existing in enumerate(pip):
            if not existing.startswith("-") and _same_package(existing, pip_package):
                pip[i] = pip_package
                return
        pip.append(pip_package)

    def remove_pip_package(self, pip_package: str) -> None:
        """Remove every pip entry of the package named by ``pip_package`` (version ignored)."""
        pip = self._pip_list()
        if pip is not None:
            pip[:] = [p for p in pip if p.startswith("-") or not _same_package(p, pip_package)]

    def set_pip_requirements(self, pip_requirements: Iterable[str]) -> None:
        """Replace the pip section (packages and options) with ``pip_requirements``."""
        pip = self._pip_list(create=True)
        assert pip is not None
        pip[:] = [str(p) for p in pip_requirements]

    def set_pip_option(self, pip_option: str) -> None:
        """Add a pip option such as ``--extra-index-url URL`` or ``--pre``, replacing one
        with the same flag."""
        pip = self._pip_list(create=True)
        assert pip is not None
        flag = pip_option.split()[0] if pip_option.split() else pip_option
        for i, existing in enumerate(pip):
            if (
                existing.startswith("-")
                and existing.split()[0] == flag
                and flag != "--extra-index-url"
            ):
                pip[i] = pip_option
                return
        pip.insert(0, pip_option)

    def remove_pip_option(self, pip_option: str) -> None:
        """Remove the pip option ``pip_option`` (given whole or by its flag)."""
        pip = self._pip_list()
        if pip is not None:
            pip[:] = [p for p in pip if p != pip_option and p.split()[0] != pip_option]

    def set_pip_index_url(self, index_url: str) -> None:
        """Install pip packages from ``index_url`` instead of PyPI (``--index-url``)."""
        self.set_pip_option(f"--index-url {index_url}")

    # -- conda packages and channels ----------------------------------------------------------
    @property
    def conda_packages(self) -> list[str]:
        """The conda packages, without the ``python`` pin."""
        return [
            item
            for item in self._conda_dependencies["dependencies"]
            if isinstance(item, str) and package_name(item) != "python"
        ]

    def add_conda_package(self, conda_package: str) -> None:
        """Add ``conda_package``, replacing an entry of the same package."""
        package_name(conda_package)  # a clear error for something that is not a spec
        deps = self._conda_dependencies["dependencies"]
        for i, existing in enumerate(deps):
            if isinstance(existing, str) and _same_package(existing, conda_package):
                deps[i] = conda_package
                return
        pip_at = next((i for i, d in enumerate(deps) if isinstance(d, dict)), len(deps))
        deps.insert(pip_at, conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        """Remove every conda entry of the package named by ``conda_package``."""
        deps = self._conda_dependencies["dependencies"]
        deps[:] = [d for d in deps if isinstance(d, dict) or not _same_package(d, conda_package)]

    @property
    def conda_channels(self) -> list[str]:
        """The conda channels (kept in the file; packages install from PyPI)."""
        return list(self._conda_dependencies.get("channels") or [])

    def add_channel(self, channel: str) -> None:
        """Add a conda channel."""
        channels = self._conda_dependencies.setdefault("channels", [])
        if channel not in channels:
            channels.append(channel)

    def remove_channel(self, channel: str) -> None:
        """Remove a conda channel."""
        channels = self._conda_dependencies.get("channels") or []
        self._conda_dependencies["channels"] = [c for c in channels if c != channel]

    def get_python_version(self) -> str | None:
        """The version of the ``python`` pin, or None without one."""
        return translate(
            [d for d in self._conda_dependencies["dependencies"] if isinstance(d, str)]
        ).python_version

    def set_python_version(self, version: str) -> None:
        """Pin ``python``; trainforge records it and builds with the node's interpreter."""
        self.remove_conda_package("python")
        self._conda_dependencies["dependencies"].insert(0, f"python={version}")

    # -- files ----------------------------------------------------------------------------------
    def serialize_to_string(self) -> str:
        """The specification as conda YAML."""
        return HEADER + yaml.safe_dump(
            self._conda_dependencies, sort_keys=False, default_flow_style=False
        )

    def save_to_file(self, base_directory: str, conda_file_path: str | None = None) -> str:
        """Write the YAML to ``base_directory/conda_file_path`` (default
        ``conda_dependencies.yml``); the path must stay inside ``base_directory``."""
        try:
            relative = safe_relative_path(conda_file_path or CONDA_FILE_NAME, "conda_file_path")
        except UnsafePathError as exc:
            raise UserErrorException(str(exc)) from None
        path = Path(base_directory) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.serialize_to_string())
        return str(path)

    def save(self, path: str) -> str:
        """Write the YAML to ``path``."""
        Path(path).write_text(self.serialize_to_string())
        return str(path)

    def as_dict(self) -> dict[str, Any]:
        """The specification as the mapping its YAML holds."""
        return copy.deepcopy(self._conda_dependencies)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CondaDependencies)
            and self._conda_dependencies == other._conda_dependencies
        )

    def __repr__(self) -> str:
        return self.serialize_to_string().split("\n\n", 2)[-1]
