"""What the SDK and the CLI read from their environment: which control plane to talk to.

Built when needed, never at import time. (What a run's own process reads is
``trainforge.schemas.settings.RunContext``: the launcher writes it, the SDK reads it.)
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from trainforge.schemas.settings import HomeSettings


class ClientSettings(HomeSettings):
    """The SDK's and the CLI's ``TRAINFORGE_*`` variables."""

    endpoint: str | None = Field(
        default=None,
        description="Address of a team server (http://host:port). With TRAINFORGE_TOKEN, the "
        "SDK and the CLI talk to it instead of starting the local control plane of the home.",
    )
    token: str | None = Field(
        default=None, description="Bearer token for TRAINFORGE_ENDPOINT (the server's admin token)."
    )
    client_retry_s: float = Field(
        default=120.0,
        description="How long an SDK or CLI call keeps retrying an unreachable server before "
        "it raises (node agents, launchers and runs wait as long as it takes).",
    )
    batchai_storage_endpoint: str | None = Field(
        default=None,
        description="Where the storage accounts of Batch AI code live (trainforge.batchai: "
        "BlockBlobService, FileService, a job's mount volumes): an Azure endpoint suffix "
        "(core.windows.net) or an emulator's blob URL (Azurite: http://127.0.0.1:10000). Unset: "
        "each account is a local folder under TRAINFORGE_BATCHAI_STORAGE_ROOT.",
    )
    batchai_storage_root: Path | None = Field(
        default=None,
        description="The folder holding the local storage accounts of Batch AI code when no "
        "TRAINFORGE_BATCHAI_STORAGE_ENDPOINT is set (default: beside the home, "
        "<home>-batchai-storage).",
    )

    def batchai_storage_folder(self) -> Path:
        """Where the local Batch AI storage accounts live (one folder per account)."""
        root = self.batchai_storage_root
        if root is None:
            home = self.home.expanduser().resolve()
            root = home.with_name(home.name + "-batchai-storage")
        return root.expanduser().resolve()
