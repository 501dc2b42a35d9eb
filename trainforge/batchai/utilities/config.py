"""``utilities.config``: the samples' configuration.json and the client built from it.

configuration.json::

    {"subscription_id": "...", "aad_client_id": "...", "aad_secret": "...",
     "aad_tenant": "...", "location": "eastus", "resource_group": "batchai",
     "workspace": "ws", "base_url": "https://management.azure.com" (optional),
     "storage_account": {"name": "...", "key": "..."},
     "admin_user": {"name": "...", "password": "...", "ssh_public_key": "..."}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainforge.batchai.client import BatchAIManagementClient

DEFAULT_BASE_URL = "https://management.azure.com"


class ServicePrincipalCredentials:
    """The service principal of configuration.json (accepted; the embedded default needs
    no credentials)."""

    def __init__(self, client_id: str, secret: str, token_uri: str | None = None, **_: Any) -> None:
        self.client_id = client_id
        self.secret = secret
        self.token_uri = token_uri


class Configuration:
    """The recipes' configuration file, read into attributes (``subscription_id``,
    ``resource_group``, ``workspace``, ``location``, ``storage_account_name``,
    ``storage_account_key``, ``admin``, ``admin_password``, ``admin_ssh_key``, ...)."""

    def __init__(self, file_name: str) -> None:
        path = Path(file_name)
        if not path.exists():
            raise ValueError(f'Cannot find configuration file "{file_name}"')
        try:
            conf = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file_name}: not valid JSON ({exc})") from None
        try:
            self.subscription_id: str = conf["subscription_id"]
            self.aad_client_id: str = conf.get("aad_client_id", "")
            self.aad_secret_key: str = conf.get("aad_secret", "")
            self.aad_tenant: str = conf.get("aad_tenant", "")
            self.aad_token_uri = f"https://login.microsoftonline.com/{self.aad_tenant}/oauth2/token"
            self.location: str = conf["location"]
            self.url: str = conf.get("base_url") or DEFAULT_BASE_URL
            self.resource_group: str = conf["resource_group"]
            self.workspace: str = conf["workspace"]
            self.storage_account_name: str = conf["storage_account"]["name"]
            self.storage_account_key: str = conf["storage_account"]["key"]
            self.admin: str = conf["admin_user"]["name"]
            self.admin_password: str | None = conf["admin_user"].get("password")
            self.admin_ssh_key: str | None = conf["admin_user"].get("ssh_public_key")
        except KeyError as exc:
            raise ValueError(f"{file_name}: the configuration has no {exc.args[0]!r}") from None


def create_batchai_client(configuration: Configuration) -> BatchAIManagementClient:
    """The Batch AI client of the configuration's subscription."""
    credentials = ServicePrincipalCredentials(
        client_id=configuration.aad_client_id,
        secret=configuration.aad_secret_key,
        token_uri=configuration.aad_token_uri,
    )
    return BatchAIManagementClient(
        credentials=credentials,
        subscription_id=configuration.subscription_id,
        base_url=configuration.url,
    )


def create_resource_group(configuration: Configuration) -> str:
    """The configuration's resource group. trainforge keeps resource groups as names on
    its workspaces, so there is nothing to create; the name is checked."""
    from trainforge.schemas.batchai import check_resource_group

    return check_resource_group(configuration.resource_group)
