"""The model registry of a workspace: stage an upload's files, register a version (from an
upload or a run's files), get, list, update, delete, and read a version's files."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import BinaryIO

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.models import ModelFilter, ModelInfo, ModelList, ModelRegister, ModelUpdate
from trainforge.schemas.runs import FileInfo


class ModelsApi(WorkspaceResource):
    """``/workspaces/{ws}/models`` and ``/workspaces/{ws}/model-uploads``."""

    def stage(self, upload_id: str, name: str, data: bytes | BinaryIO) -> FileInfo:
        """Store the file ``name`` (``<asset>/<path>``) of upload ``upload_id``."""
        return FileInfo.model_validate(
            self.client.upload(f"{self.base}/model-uploads/{upload_id}/files/{name}", data)
        )

    def register(self, body: ModelRegister) -> ModelInfo:
        return ModelInfo.model_validate(
            self.client.post(f"{self.base}/models", body.model_dump(mode="json"))
        )

    def get(self, name: str, version: int | None = None) -> ModelInfo:
        path = f"{self.base}/models/{name}"
        if version is not None:
            path = f"{path}/versions/{version}"
        return ModelInfo.model_validate(self.client.get(path))

    def list(self, query: ModelFilter | None = None) -> builtins.list[ModelInfo]:
        params = (query or ModelFilter()).query()
        return ModelList.model_validate(self.client.get(f"{self.base}/models", **params)).models

    def update(self, name: str, version: int, body: ModelUpdate) -> ModelInfo:
        return ModelInfo.model_validate(
            self.client.patch(
                f"{self.base}/models/{name}/versions/{version}",
                body.model_dump(mode="json", exclude_unset=True),
            )
        )

    def delete(self, name: str, version: int) -> None:
        self.client.delete(f"{self.base}/models/{name}/versions/{version}")

    def files(self, name: str, version: int) -> builtins.list[FileInfo]:
        found = self.client.get(f"{self.base}/models/{name}/versions/{version}/files")
        return [FileInfo.model_validate(item) for item in found]

    def download(self, name: str, version: int, path: str) -> Iterator[bytes]:
        return self.client.download(f"{self.base}/models/{name}/versions/{version}/files/{path}")
