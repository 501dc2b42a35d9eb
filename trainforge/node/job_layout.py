"""What a launcher does around a run's processes that depends on the kind of job.

An Azure ML run needs nothing beyond the launcher's own steps (``AzureMLLayout``); a Batch
AI job (``node/batchai_job.py``) brings its mounts, its directories and variables, its
setup task and job preparation, its output directories and its error in Batch AI's terms.
The launcher calls the hooks below in order, whatever the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from trainforge.client.api.files import FilesApi
from trainforge.node.shipping import FolderSync, LogShipper


class JobRefused(Exception):
    """The job cannot start on this node; the message is the run's error."""


class JobSetupFailed(Exception):
    """A step the job runs before its processes failed: the run fails with ``error``."""

    def __init__(self, exit_code: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.exit_code = exit_code
        self.error = error


class JobLayout(Protocol):
    """The hooks of one kind of job, in the order the launcher calls them."""

    def log_path(self, name: str) -> Path | None:
        """Where the log ``name`` goes on this node; None: the run's own logs folder."""
        ...

    def start(self, logs: LogShipper) -> Path | None:
        """Before anything else (mounts); the log the launcher's notes go to from now on
        (shipped by ``logs``), or None for the first driver log. Raises JobRefused."""
        ...

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """The processes' variables, given the launcher's."""
        ...

    def prepare(self, env: dict[str, str], logs: LogShipper) -> None:
        """What runs before the processes (setup tasks); raises JobSetupFailed."""
        ...

    def output_syncs(self, files: FilesApi) -> list[FolderSync]:
        """Folders shipped as the run's files beyond ``outputs`` and the watched ones."""
        ...

    def after(self, exit_codes: list[int | None], reason: str | None) -> None:
        """Once the processes have ended, before the last files and logs are shipped."""
        ...

    def job_error(self, exit_code: int | None, error: dict[str, Any]) -> dict[str, Any]:
        """The run's error for a failed process, in the job's own terms."""
        ...


class AzureMLLayout:
    """An Azure ML run: the launcher's own steps are all it needs."""

    def log_path(self, name: str) -> Path | None:
        return None

    def start(self, logs: LogShipper) -> Path | None:
        return None

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return env

    def prepare(self, env: dict[str, str], logs: LogShipper) -> None:
        return None

    def output_syncs(self, files: FilesApi) -> list[FolderSync]:
        return []

    def after(self, exit_codes: list[int | None], reason: str | None) -> None:
        return None

    def job_error(self, exit_code: int | None, error: dict[str, Any]) -> dict[str, Any]:
        return error
