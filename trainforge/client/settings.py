"""What the SDK and the CLI read from their environment: which control plane to talk to.

Built when needed, never at import time. (What a run's own process reads is
``trainforge.schemas.settings.RunContext``: the launcher writes it, the SDK reads it.)
"""

from __future__ import annotations

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
