"""The control plane object: settings, store, services and scheduler, built once per server."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from trainforge.compute import registry
from trainforge.server.automl_loop import INTERVAL_S as AUTOML_INTERVAL_S
from trainforge.server.automl_loop import AutoMLLoop
from trainforge.server.events import RunEvents
from trainforge.server.janitor import Janitor
from trainforge.server.login_codes import LoginCodes
from trainforge.server.pipeliner import Pipeliner
from trainforge.server.replica_loop import ReplicaLoop
from trainforge.server.schedule_loop import ScheduleLoop
from trainforge.server.scheduler import Scheduler
from trainforge.server.services.computes import ComputeService, first_cluster_settings
from trainforge.server.services.runs import RunService
from trainforge.server.services.secrets import Vault
from trainforge.server.services.workspaces import WorkspaceService
from trainforge.server.settings import ServerSettings
from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.sweeper import Sweeper
from trainforge.storage.artifacts import ArtifactStore
from trainforge.storage.run_files import RunFiles


class ControlPlane:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.events = RunEvents()
        self.login_codes = LoginCodes()
        self.store = Store(
            settings.db_url, on_commit=self._changed, busy_timeout_s=settings.db_busy_timeout_s
        )
        self.vault = Vault(settings.secrets_key)
        with self.store.session() as db:
            self.vault.seal_plaintext(db)
        self.workspaces = WorkspaceService(settings, self.vault)
        self.runs = RunService()
        # Every backend registered by name, each reading its clusters' settings from the store.
        self.backends = registry.create_backends(
            lambda name: lambda: first_cluster_settings(self.store, name)
        )
        self.computes = ComputeService(self.backends)
        self.scheduler = Scheduler(self.store, settings, self.backends)
        self.sweeper = Sweeper(
            self.store, self.runs, self.artifacts, self.events.notify, self.scheduler.wake
        )
        self.pipeliner = Pipeliner(
            self.store,
            self.runs,
            self.vault,
            self.artifacts,
            self.events.notify,
            self.scheduler.wake,
        )
        self.automl = AutoMLLoop(
            self.store,
            self.runs,
            self.artifacts,
            self.events.notify,
            self.scheduler.wake,
            AUTOML_INTERVAL_S,
        )
        self.schedule_loop = ScheduleLoop(self.store, self.runs, self.vault, self.pipeliner.wake)
        self.janitor = Janitor(self.store, settings.request_key_retention_s)
        # AKS-style services: their replicas on cluster nodes, and the router in front.
        self.replicas = ReplicaLoop(self.store, settings, self.vault)

    def _changed(self, run_ids: set[str]) -> None:
        self.events.notify(run_ids)
        self.sweeper.runs_changed()  # a child of a sweep may have started or ended
        self.pipeliner.runs_changed()  # and a step of a pipeline
        self.automl.runs_changed()  # and an iteration of an AutoML run

    def run_key(self, workspace_name: str, run_id: str) -> str:
        """The change key of a run named in a request (``models.run_key``): what a long
        poll on the run waits for. An unknown workspace: 404."""
        with self.store.reading() as db:
            return models.run_key(self.workspaces.get_row(db, workspace_name).id, run_id)

    def artifacts(self, workspace_name: str, run_id: str) -> ArtifactStore:
        """The files of one run: ``ExperimentRun/dcid.<run id>/`` as in Azure ML."""
        root = self.settings.workspace_dir(workspace_name) / "artifacts" / "ExperimentRun"
        return ArtifactStore(str(root / f"dcid.{run_id}"))

    def run_files(self, workspace_name: str, run_id: str, attempt: int) -> RunFiles:
        """The run's files with the logs of each attempt (the run is on ``attempt``)."""
        root = self.settings.workspace_dir(workspace_name) / "artifacts" / "ExperimentRun"
        return RunFiles(
            self.artifacts(workspace_name, run_id),
            str(root / "attempts" / f"dcid.{run_id}"),
            attempt,
        )

    def _run_folders(self, workspace_name: str, run_id: str) -> list[Path]:
        root = self.settings.workspace_dir(workspace_name) / "artifacts" / "ExperimentRun"
        return [root / f"dcid.{run_id}", root / "attempts" / f"dcid.{run_id}"]

    def delete_runs(
        self, workspace_name: str, delete: Callable[[Session, models.Workspace], list[models.Run]]
    ) -> None:
        """Delete runs (``RunService.delete``, ``delete_experiment``) and their files.

        The folders are moved aside inside the transaction and put back if it fails, so a
        run is never left without its files, nor a new run of the same id with old ones."""
        trash = self.settings.workspace_dir(workspace_name) / "artifacts" / ".deleted"
        trash = trash / uuid.uuid4().hex
        moved: list[tuple[Path, Path]] = []
        try:
            with self.store.session() as db:
                runs = delete(db, self.workspaces.get_row(db, workspace_name))
                for index, run in enumerate(runs):
                    for kind, folder in enumerate(self._run_folders(workspace_name, run.id)):
                        if folder.exists():
                            aside = trash / f"{index}.{kind}"
                            aside.parent.mkdir(parents=True, exist_ok=True)
                            folder.rename(aside)
                            moved.append((aside, folder))
        except BaseException:
            for aside, folder in reversed(moved):
                aside.rename(folder)
            raise
        shutil.rmtree(trash, ignore_errors=True)

    def start(self) -> None:
        self.scheduler.start(self.settings.endpoint)
        self.sweeper.start()
        self.pipeliner.start()
        self.automl.start()
        self.schedule_loop.start()
        self.janitor.start()
        self.replicas.start()

    def close(self) -> None:
        self.replicas.stop()
        self.janitor.stop()
        self.automl.stop()
        self.schedule_loop.stop()
        self.pipeliner.stop()
        self.sweeper.stop()
        self.scheduler.stop()
        self.store.close()
