"""Registered environments as the REST API sees them: a definition, its name and version."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from trainforge.schemas.names import validate

ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,254}$")
ENVIRONMENT_RULE = (
    "1 to 255 characters, starting with a letter or digit, then letters, digits, '_', '-' or '.'"
)
# Names Azure ML keeps for its curated environments.
RESERVED_PREFIXES = ("azureml", "microsoft")


def _check_name(value: str) -> str:
    return validate(ENVIRONMENT_NAME, value, "Environment name", ENVIRONMENT_RULE)


EnvironmentName = Annotated[str, AfterValidator(_check_name)]


class PythonDefinition(BaseModel):
    user_managed_dependencies: bool = False
    interpreter_path: str = "python"
    # The conda specification as its YAML mapping: name, channels, dependencies (+ pip).
    conda_dependencies: dict[str, Any] | None = None
    base_conda_environment: str | None = None


class DockerDefinition(BaseModel):
    enabled: bool = False
    base_image: str | None = None
    base_dockerfile: str | None = None
    shm_size: str | None = None
    arguments: list[str] = Field(default_factory=list)


class EnvironmentDefinition(BaseModel):
    """Everything an ``Environment`` says except its name and version."""

    python: PythonDefinition = Field(default_factory=PythonDefinition)
    docker: DockerDefinition = Field(default_factory=DockerDefinition)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    inferencing_stack_version: str | None = None

    def content_hash(self) -> str:
        """Equal for equal content: registering it again returns the existing version."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class EnvironmentInfo(BaseModel):
    name: str
    version: str
    definition: EnvironmentDefinition
    content_hash: str
    created: datetime


class EnvironmentList(BaseModel):
    environments: list[EnvironmentInfo]
