"""The base of every process's settings: ``TRAINFORGE_*`` variables, and the home folder.

Each kind of process reads its variables through one pydantic-settings model of its own
(``trainforge.client.settings``, ``trainforge.server.settings``, ``trainforge.node.settings``;
``RunContext`` below, for a run's own processes, which the node layer writes and the SDK reads),
built when the value is needed, never at import time, so a variable set after import
(a test, a notebook's ``os.environ[...] = ...``) counts. docs/configuration.md lists them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "TRAINFORGE_"


class TrainforgeSettings(BaseSettings):
    """``TRAINFORGE_<FIELD>`` variables; an empty one counts as unset (``TRAINFORGE_HOME=``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore")

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable that sets ``field``: ``TRAINFORGE_<FIELD>``, or the name
        the field gives itself (``AZUREML_RUN_ID``)."""
        if field not in cls.model_fields:
            raise KeyError(f"{cls.__name__} has no field {field!r}")
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return alias
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


class HomeSettings(TrainforgeSettings):
    home: Path = Field(
        default_factory=lambda: Path.home() / ".trainforge",
        description="The control plane's state folder: server.json, the store, the keys "
        "(default: ~/.trainforge).",
    )


def default_home() -> Path:
    """The home of this machine's control plane: ``TRAINFORGE_HOME``, else ``~/.trainforge``."""
    return HomeSettings().home.expanduser()


class RunContext(TrainforgeSettings):
    """The variables a run's processes are started with, set by the launcher (node layer)
    and read by ``Run.get_context()`` and the MPI helpers; an unset one is empty. The
    ``AZUREML_*`` names are Azure ML's, so in-script code that reads them works unchanged."""

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
    rank_output: Literal["log", "merge"] = Field(
        default="log",
        description="'merge': an MPI rank writes into mpirun's output instead of a log of its "
        "own (Batch AI jobs: every rank in stdout.txt).",
    )

    def missing(self) -> list[str]:
        """The variables without which this process is not part of a run (then
        ``Run.get_context()`` is offline)."""
        needed = ("run_id", "workspace_name", "experiment_name", "service_endpoint", "run_token")
        return [self.variable(name) for name in needed if not getattr(self, name)]
