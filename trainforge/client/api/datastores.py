"""Datastores of a workspace: register, list, get, make default, unregister, and the
storage access a client or a run needs to move data."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.datastores import (
    DatastoreInfo,
    DatastoreListing,
    DatastoreRegister,
    StorageAccess,
)


class DatastoresApi(WorkspaceResource):
    def path(self, name: str) -> str:
        return f"{self.base}/datastores/{name}"

    def register(self, body: DatastoreRegister) -> DatastoreInfo:
        return DatastoreInfo.model_validate(
            self.client.post(f"{self.base}/datastores", body.model_dump(mode="json"))
        )

    def list(self) -> list[DatastoreInfo]:
        return [
            DatastoreInfo.model_validate(item)
            for item in self.client.get(f"{self.base}/datastores")
        ]

    def get(self, name: str) -> DatastoreInfo:
        return DatastoreInfo.model_validate(self.client.get(self.path(name)))

    def set_default(self, name: str) -> DatastoreInfo:
        return DatastoreInfo.model_validate(self.client.put(f"{self.path(name)}/default"))

    def delete(self, name: str) -> None:
        self.client.delete(self.path(name))

    def browse(self, name: str, prefix: str = "") -> DatastoreListing:
        """The files and folders directly under ``prefix`` of the datastore."""
        return DatastoreListing.model_validate(
            self.client.get(f"{self.path(name)}/files", prefix=prefix)
        )

    def access(self, name: str) -> StorageAccess:
        """Where the datastore's files are and a short-lived credential for them."""
        body = self.client.request(
            "POST",
            f"{self.path(name)}/access",
            idempotent=True,  # it only hands out access: safe to ask again
        ).json()
        return StorageAccess.model_validate(body)
