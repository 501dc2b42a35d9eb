"""The workspace key vault: secrets by name."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.client.http import ApiError
from trainforge.schemas.workspaces import SecretValue


class SecretsApi(WorkspaceResource):
    def path(self, name: str) -> str:
        return f"{self.base}/secrets/{name}"

    def set(self, name: str, value: SecretValue) -> None:
        """Add or replace ``name`` (a PUT: safe to send again)."""
        self.client.put(self.path(name), value.model_dump(mode="json"))

    def get(self, name: str) -> SecretValue:
        return SecretValue.model_validate(self.client.get(self.path(name)))

    def find(self, name: str) -> SecretValue | None:
        """The secret, or None when the vault does not hold it."""
        try:
            return self.get(name)
        except ApiError as exc:
            if exc.status_code != 404:
                raise
            return None

    def names(self) -> list[str]:
        return list(self.client.get(f"{self.base}/secrets"))

    def delete(self, name: str) -> None:
        self.client.delete(self.path(name))
