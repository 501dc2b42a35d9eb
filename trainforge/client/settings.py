"""What the SDK, the CLI and a run's own process read from their environment.

``ClientSettings``: which control plane a user's process talks to. ``RunContext``: the
variables the launcher sets for a run's processes, read by ``Run.get_context()`` (the
``AZUREML_*`` names are Azure ML's, so in-script code that reads them works unchanged).
Both are built when needed, never at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from trainforge.schemas.settings import HomeSettings, TrainforgeSettings


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


class RunContext(TrainforgeSettings):
    """The variables a run's process is started with (set by the launcher, not by users);
    an unset one is empty."""

    run_id: str = Field(default="", validation_alias="AZUREML_RUN_ID", description="The run's id.")
    workspace_name: str = Field(
        default="",
        validation_alias="AZUREML_ARM_WORKSPACE_NAME",
        description="The run's workspace.",
    )
    experiment_name: str = Field(
        default="", validation_alias="AZUREML_ARM_PROJECT_NAME", description="The run's experiment."
    )
    experiment_id: str | None = Field(
        default=None, validation_alias="AZUREML_EXPERIMENT_ID", description="The experiment's id."
    )
    service_endpoint: str = Field(
        default="",
        validation_alias="AZUREML_SERVICE_ENDPOINT",
        description="The control plane's address, as the run reaches it.",
    )
    run_token: str = Field(
        default="",
        validation_alias="AZUREML_RUN_TOKEN",
        description="The run's token: it reaches this run only.",
    )
    subscription_id: str | None = Field(
        default=None,
        validation_alias="AZUREML_ARM_SUBSCRIPTION",
        description="The workspace's subscription id.",
    )
    resource_group: str | None = Field(
        default=None,
        validation_alias="AZUREML_ARM_RESOURCEGROUP",
        description="The workspace's resource group.",
    )
    run_attempt: int | None = Field(
        default=None,
        description="The attempt the process belongs to: the server refuses the writes of an "
        "attempt that was superseded meanwhile.",
    )
    server_address_file: Path | None = Field(
        default=None, description="Where the launcher keeps the server's current address."
    )
    logs_dir: Path = Field(
        default=Path("."), description="Where an MPI rank's wrapper writes its log."
    )

    def missing(self) -> list[str]:
        """The variables without which this process is not part of a run (then
        ``Run.get_context()`` is offline)."""
        needed = ("run_id", "workspace_name", "experiment_name", "service_endpoint", "run_token")
        return [self.variable(name) for name in needed if not getattr(self, name)]
