"""Code snapshots of a workspace, by content id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from trainforge.client.api import WorkspaceResource


class SnapshotsApi(WorkspaceResource):
    def path(self, snapshot_id: str) -> str:
        return f"{self.base}/snapshots/{snapshot_id}"

    def exists(self, snapshot_id: str) -> bool:
        return self.client.exists(self.path(snapshot_id))

    def upload(self, snapshot_id: str, zip_file: BinaryIO) -> None:
        """Keep the zip under its id (a PUT of content-addressed bytes: safe to send again)."""
        self.client.upload(self.path(snapshot_id), zip_file)

    def download(self, snapshot_id: str) -> Iterator[bytes]:
        return self.client.download(self.path(snapshot_id))
