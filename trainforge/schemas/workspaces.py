"""Workspaces, key-vault secrets and datastores as the REST API sees them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from trainforge.schemas import limits
from trainforge.schemas.names import SecretName, WorkspaceName

LOCAL_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


class WorkspaceCreate(BaseModel):
    name: WorkspaceName
    subscription_id: str | None = Field(default=None, max_length=limits.MAX_SUBSCRIPTION_ID)
    resource_group: str | None = Field(default=None, max_length=limits.MAX_RESOURCE_GROUP)
    location: str | None = Field(default=None, max_length=limits.MAX_LOCATION)
    create_resource_group: bool = True
    exist_ok: bool = False
    friendly_name: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME)
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    sku: str = Field(default="basic", max_length=limits.MAX_SKU)
    # An Azure Storage connection string: the default datastore becomes a blob container there.
    storage_account: str | None = None


class WorkspaceUpdate(BaseModel):
    """``PATCH /workspaces/{name}``: what ``Workspace.update`` changes; None keeps a value,
    given tags replace the workspace's."""

    friendly_name: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME)
    description: str | None = None
    tags: dict[str, str] | None = None


class WorkspaceInfo(BaseModel):
    id: str
    workspace_id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    friendly_name: str
    description: str
    tags: dict[str, str]
    sku: str
    created: datetime


class ExperimentInfo(BaseModel):
    id: str
    name: str
    workspace_name: str


class SecretValue(BaseModel):
    value: str
    content_type: str = Field(default="text/plain", max_length=limits.MAX_CONTENT_TYPE)


class SecretName_(BaseModel):
    name: SecretName
