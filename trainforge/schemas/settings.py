"""The base of every process's settings: ``TRAINFORGE_*`` variables, and the home folder.

Each kind of process reads its variables through one pydantic-settings model of its own
(``trainforge.client.settings``, ``trainforge.server.settings``, ``trainforge.node.settings``),
built when the value is needed, never at import time, so a variable set after import
(a test, a notebook's ``os.environ[...] = ...``) counts. docs/configuration.md lists them all.
"""

from __future__ import annotations

from pathlib import Path

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
