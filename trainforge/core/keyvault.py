"""The workspace key vault: ``ws.get_default_keyvault()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainforge.client.api import api
from trainforge.client.api.secrets import SecretsApi
from trainforge.client.errors import sdk_errors
from trainforge.exceptions import KeyVaultException, UserErrorException
from trainforge.schemas.workspaces import SecretValue

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace


class Keyvault:
    """Secrets of one workspace. Values are returned only by ``get_secret(s)``."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._secrets = api(workspace, SecretsApi)

    def set_secret(self, name: str, value: str, content_type: str = "text/plain") -> None:
        """Add or replace the secret ``name``."""
        if not isinstance(value, str):
            raise UserErrorException(
                f"value: a secret value must be a string, not {type(value).__name__}"
            )
        with sdk_errors():
            self._secrets.set(
                name, SecretValue.model_construct(value=value, content_type=content_type)
            )

    def set_secrets(self, secrets_batch: dict[str, str]) -> None:
        for name, value in secrets_batch.items():
            self.set_secret(name, value)

    def get_secret(self, name: str) -> str:
        """The value of ``name``; raises KeyVaultException when it is absent."""
        with sdk_errors(not_found=KeyVaultException):
            return self._secrets.get(name).value

    def get_secret_content_type(self, name: str) -> str:
        with sdk_errors(not_found=KeyVaultException):
            return self._secrets.get(name).content_type

    def get_secrets(self, secrets: list[str]) -> dict[str, str | None]:
        """{name: value} with None for each name the vault does not hold."""
        found: dict[str, str | None] = {}
        for name in secrets:
            secret = self._secrets.find(name)
            found[name] = secret.value if secret is not None else None
        return found

    def list_secrets(self) -> list[dict[str, str]]:
        """[{"name": ...}] for every secret; values are not listed."""
        with sdk_errors():
            return [{"name": name} for name in self._secrets.names()]

    def delete_secret(self, name: str) -> None:
        with sdk_errors(not_found=KeyVaultException):
            self._secrets.delete(name)

    def delete_secrets(self, secrets: list[str]) -> None:
        for name in secrets:
            self.delete_secret(name)
