"""The model registry as the REST API sees it: registering a version (from uploaded files or
from a run's files), its description, updates and list filters (``azureml.core.Model``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

from trainforge.schemas.limits import MAX_DISPLAY_NAME, MAX_PATH
from trainforge.schemas.names import RunId, validate

# Letters, digits, '-', '_' and '.' (2019 notebooks register 'sklearn_regression_model.pkl').
MODEL_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,254}$")
MODEL_RULE = (
    "1 to 255 characters, starting with a letter or digit, then letters, digits, '_', '-' or '.'"
)
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_TAGS = 256
MAX_TAG_TEXT = 4_096


def check_model_name(value: str) -> str:
    return validate(MODEL_NAME, value, "Model name", MODEL_RULE)


def _check_upload_id(value: str) -> str:
    return validate(UPLOAD_ID, value, "upload_id", "32 lowercase hexadecimal digits (a uuid4 hex)")


ModelName = Annotated[str, AfterValidator(check_model_name)]
UploadId = Annotated[str, AfterValidator(_check_upload_id)]
TagText = Annotated[str, Field(max_length=MAX_TAG_TEXT)]
Tags = Annotated[dict[TagText, TagText], Field(max_length=MAX_TAGS)]


class Framework:
    """``Model.Framework``: the frameworks the registry names (any other text is accepted)."""

    CUSTOM = "Custom"
    TENSORFLOW = "TensorFlow"
    SCIKITLEARN = "ScikitLearn"
    ONNX = "Onnx"
    TFKERAS = "TfKeras"
    PYTORCH = "PyTorch"
    MULTI = "Multi"


class ResourceConfigurationSpec(BaseModel):
    """``ResourceConfiguration``: what a model needs to serve (cores, GB, GPUs)."""

    cpu: float | None = Field(default=None, gt=0, le=1024, allow_inf_nan=False)
    memory_in_gb: float | None = Field(default=None, gt=0, le=65536, allow_inf_nan=False)
    gpu: int | None = Field(default=None, ge=0, le=64)


class ModelDataset(BaseModel):
    """A registered dataset linked to a model for a scenario ('training', 'inferencing', ...)."""

    scenario: str = Field(min_length=1, max_length=MAX_DISPLAY_NAME)
    dataset_id: str = Field(min_length=1, max_length=36)


class ModelRegister(BaseModel):
    """A new version of ``name``: the files of an upload (``upload_id``, under
    ``asset_name``), or the file or folder ``run_path`` of run ``run_id``."""

    name: ModelName
    upload_id: UploadId | None = None
    asset_name: str | None = Field(default=None, min_length=1, max_length=255)
    run_id: RunId | None = None
    run_path: str | None = Field(default=None, min_length=1, max_length=MAX_PATH)
    tags: Tags = Field(default_factory=dict)
    properties: Tags = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=65_536)
    model_framework: str | None = Field(default=None, max_length=64)
    model_framework_version: str | None = Field(default=None, max_length=64)
    datasets: list[ModelDataset] = Field(default_factory=list, max_length=64)
    sample_input_dataset_id: str | None = Field(default=None, max_length=36)
    sample_output_dataset_id: str | None = Field(default=None, max_length=36)
    resource_configuration: ResourceConfigurationSpec | None = None
    created_by: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME)

    @model_validator(mode="after")
    def _one_source(self) -> ModelRegister:
        if (self.upload_id is None) == (self.run_id is None):
            raise ValueError("give either upload_id (uploaded files) or run_id (a run's files)")
        if self.upload_id is not None and self.asset_name is None:
            raise ValueError("asset_name: the uploaded file or folder's name is required")
        if self.run_id is not None and self.run_path is None:
            raise ValueError("run_path: the run file or folder to register is required")
        if self.asset_name is not None and (
            "/" in self.asset_name or "\\" in self.asset_name or self.asset_name in (".", "..")
        ):
            raise ValueError(
                f"asset_name: {self.asset_name!r} must be a single file or folder name"
            )
        return self


class ModelUpdate(BaseModel):
    """What ``update``, ``add_tags``, ``remove_tags`` and ``add_properties`` change; the
    files, name and version never change."""

    description: str | None = Field(default=None, max_length=65_536)
    tags: Tags | None = None
    add_tags: Tags = Field(default_factory=dict)
    remove_tags: list[TagText] = Field(default_factory=list, max_length=MAX_TAGS)
    add_properties: Tags = Field(default_factory=dict)
    sample_input_dataset_id: str | None = Field(default=None, max_length=36)
    sample_output_dataset_id: str | None = Field(default=None, max_length=36)
    resource_configuration: ResourceConfigurationSpec | None = None


class ModelInfo(BaseModel):
    id: str
    name: str
    version: int
    asset_name: str
    is_folder: bool
    size: int
    file_count: int
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    model_framework: str = Framework.CUSTOM
    model_framework_version: str | None = None
    run_id: str | None = None
    experiment_name: str | None = None
    datasets: list[ModelDataset] = Field(default_factory=list)
    sample_input_dataset_id: str | None = None
    sample_output_dataset_id: str | None = None
    resource_configuration: ResourceConfigurationSpec | None = None
    created_by: str | None = None
    created_time: datetime
    url: str
    mime_type: str


class ModelList(BaseModel):
    models: list[ModelInfo]


class ModelFilter(BaseModel):
    """``Model.list``'s filters: each given one must hold. ``tags``/``properties`` are
    ``key`` (present) or ``key=value`` (equal)."""

    name: str | None = Field(default=None, max_length=255)
    version: int | None = Field(default=None, ge=1)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    properties: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    run_id: str | None = Field(default=None, max_length=256)
    dataset_id: str | None = Field(default=None, max_length=36)
    model_framework: str | None = Field(default=None, max_length=64)
    latest: bool = False

    def query(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            k: v for k, v in self.model_dump(exclude={"tags", "properties"}).items() if v
        }
        if self.tags:
            found["tag"] = self.tags
        if self.properties:
            found["property"] = self.properties
        return found


__all__ = [
    "Framework",
    "MODEL_RULE",
    "ModelDataset",
    "ModelFilter",
    "ModelInfo",
    "ModelList",
    "ModelName",
    "ModelRegister",
    "ModelUpdate",
    "ResourceConfigurationSpec",
    "check_model_name",
]
