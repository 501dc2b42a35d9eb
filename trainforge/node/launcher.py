"""``python -m trainforge.node.launcher``: run one attempt of a run on this node.

Fetches the snapshot, chooses the interpreter, sets the run's variables, starts the
script with its output going to ``azureml-logs/70_driver_log.txt``, ships logs and
outputs while it runs, and reports the end: Completed, Failed (with the traceback) or
Canceled (on SIGTERM, after stopping every process the script started).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock
import psutil

from trainforge import processes
from trainforge.client.api.files import FilesApi
from trainforge.client.api.runs import RunsApi
from trainforge.client.api.snapshots import SnapshotsApi
from trainforge.client.api.workspaces import WorkspacesApi
from trainforge.client.http import ApiError, Endpoint, TrainforgeClient
from trainforge.node import (
    batchai_job,
    environments,
    mpi,
    process_plan,
    read_only_view,
    tf_cluster,
)
from trainforge.node.daemon_inbox import DaemonInbox
from trainforge.node.data_inputs import DataPreparationError, NodeCache, RunData
from trainforge.node.gang_client import GangClient, GangTimeout, PortReservation
from trainforge.node.gpus import host_gpus
from trainforge.node.job_layout import AzureMLLayout, JobLayout, JobRefused, JobSetupFailed
from trainforge.node.mpi import MpiUnavailable
from trainforge.node.run_user import (
    RUN_USER_VARIABLE,
    RunUser,
    RunUserError,
    hand_over,
    run_user,
    user_for,
)
from trainforge.node.settings import NodeSettings
from trainforge.node.shipping import FolderSync, LogShipper
from trainforge.node.work_root import datastore_cache, snapshot_cache, without_home, work_root
from trainforge.schemas.backend import LaunchRequest
from trainforge.schemas.compute import MAX_REPORT_LOG_BYTES, AssignmentReport, LogChunk
from trainforge.schemas.gang import TaskEndpoint
from trainforge.schemas.runs import RunDefinition, RunInfo
from trainforge.schemas.server_state import ADDRESS_FILE, read_state, write_address
from trainforge.storage.paths import safe_relative_path
from trainforge.storage.snapshot import SNAPSHOT_ID

log = logging.getLogger("trainforge.launcher")
DRIVER_LOG = process_plan.DRIVER_LOG
JOB_PREP_LOG = "azureml-logs/65_job_prep.txt"
LOG_SHIP_INTERVAL_S = 0.5
# A single process that ends this soon after it starts is reported once, at its end.
QUICK_END_S = 0.05
STOP_GRACE_S = 5.0
TRACEBACK_MARK = "Traceback (most recent call last):"


class LauncherSettings(NodeSettings):
    """The launcher process's settings: what to launch (its LaunchRequest, as JSON in
    TRAINFORGE_LAUNCH_REQUEST, written by whoever started it) and the node's settings
    (gang_timeout_s, output_sync_s, fence_check_s, ...)."""

    launch_request: LaunchRequest


def job_dir(home: Path, workspace: str, run_id: str, attempt: int) -> Path:
    """The folder the nodes of one attempt of a run share (its ``wd`` is their cwd)."""
    return work_root(home) / "workspaces" / workspace / "jobs" / f"{run_id}.{attempt}"


class LaunchError(Exception):
    """The run cannot start on this node; the message is the run's error."""


class Superseded(Exception):
    """This attempt is no longer the run's: its node was given up on and the run moved on."""


class Launcher:
    def __init__(self, settings: LauncherSettings) -> None:
        self.settings = settings
        request = self.request = settings.launch_request
        self.run_id = request.run_id
        self.workspace = request.workspace_name
        self.attempt = request.attempt
        self.assignment_id = request.assignment_id
        self.node_rank = request.node_rank
        self.node_count = request.node_count
        # When the processes started, while "running" has not been reported on its own.
        self.started_at: datetime | None = None
        self.node_id = request.node_id or "local"
        self.master_addr = request.master_addr
        self.master_port = request.master_port
        self.node_dir = request.node_dir
        self.home = request.home
        self.endpoint = request.endpoint
        self.token = request.run_token
        # retry_s=None: a launcher waits out an outage of the control plane, however long,
        # and its processes go on meanwhile.
        self.client = TrainforgeClient(
            Endpoint(self.endpoint, self.token, self._find_server), retry_s=None, max_backoff_s=2.0
        )
        self.runs = RunsApi(self.client, self.workspace)
        self.files = FilesApi(self.client, self.workspace)
        # One working folder for every node of the attempt, as Azure ML gave a job's nodes
        # one folder on the workspace's blob store: scripts that coordinate through files
        # in it (worker 0 writes outputs/MNIST/complete.txt, the others wait) work. Nodes
        # share it where they share this filesystem; on separate hosts each host has its own.
        self.work_dir = job_dir(self.home, self.workspace, self.run_id, self.attempt) / "wd"
        self.logs_dir = self.node_dir / "azureml-logs"
        self.logs = LogShipper(self.files, self.run_id, self.attempt)
        # The node agent that forked this launcher: if it dies, the node is lost.
        self.agent_pid = request.agent_pid
        self.stop_requested = threading.Event()
        self.node_addr = request.node_addr
        self.processes: list[subprocess.Popen[bytes]] = []
        self.specs: list[process_plan.ProcessSpec] = []
        self.stopped: set[int] = set()  # processes stopped on purpose, not failed
        self.log_files: list[Path] = []
        self.data = RunData(
            self.client,
            self.workspace,
            self.work_dir,
            NodeCache(datastore_cache(self.home, self.workspace)),
            self.prep_note,
            # Beside the shared working folder, so the links every node of the job writes
            # into it name one mount point, which each node binds in its own namespace.
            self.work_dir.parent / "mounts",
        )
        self.gang = GangClient(self.client, self.workspace, self.run_id, self.attempt)
        self.ports: PortReservation | None = None
        self.inbox: DaemonInbox | None = None
        self.daemon_ids: dict[int, int] = {}  # process index -> its node command
        self.user: RunUser | None = None  # whom the run's processes run as
        self.layout: JobLayout = AzureMLLayout()  # what the kind of job adds around its processes
        self.execution_log: Path | None = None

    def log_path(self, name: str) -> Path:
        """Where the log ``name`` is written on this node (a Batch AI job's on its mount)."""
        return self.layout.log_path(name) or self.logs_dir / Path(name).name

    def job_layout(self, definition: RunDefinition) -> JobLayout:
        """The hooks of the definition's kind of job."""
        if definition.batchai is None:
            return AzureMLLayout()
        return batchai_job.BatchAIJob(
            definition.batchai,
            self.client,
            self.workspace,
            self.run_id,
            self.attempt,
            self.home,
            self.work_dir,
            self.node_id,
            self.node_rank,
            self.node_count,
            self.note,
            # A cluster node's folder holds its runs' folders (nodes/<cluster>/<node>/runs/...).
            self.node_dir.parent.parent,
            self.node_addr,
        )

    def _find_server(self) -> tuple[str, str] | None:
        state = read_state(self.home)
        if state is None:
            return None
        # The run's processes never see the home: they follow a restarted server through
        # this file in the run's own folder (the address only, never the admin token).
        write_address(self.node_dir / ADDRESS_FILE, state.address)
        return (state.address, self.token)

    # -- reporting ----------------------------------------------------------------------
    def report(
        self,
        state: str,
        exit_code: int | None = None,
        error: dict[str, Any] | None = None,
        logs: list[LogChunk] | None = None,
    ) -> None:
        """Report this node's part of the run; the control plane settles the run's state."""
        body = AssignmentReport.model_validate(
            {
                "state": state,
                "exit_code": exit_code,
                "error": error,
                "logs": logs or [],
                "started_at": self.started_at if state != "running" else None,
            }
        )
        self.runs.report_assignment(
            self.run_id, self.assignment_id, body.model_dump(mode="json", exclude_defaults=True)
        )

    def note(self, line: str) -> None:
        """A line of the launcher's own in the first driver log (e.g. that Docker is not used);
        a Batch AI job's go to its execution log."""
        if self.execution_log is not None:
            with open(self.execution_log, "a") as out:
                out.write(line.rstrip("\n") + "\n")
            return
        if not self.log_files:  # a node with no task of the run: its launcher log only
            log.info("%s", line)
            return
        with open(self.log_files[0], "a") as out:
            out.write(line.rstrip("\n") + "\n")

    def prep_note(self, line: str) -> None:
        """A line of the node's job-preparation log (what data went where)."""
        name = (
            JOB_PREP_LOG
            if self.node_count == 1
            else JOB_PREP_LOG.replace(".txt", f"_{self.node_rank}.txt")
        )
        path = self.logs_dir / Path(name).name
        if not path.exists():
            path.touch()
            self.logs.add(path, name)
        with open(path, "a") as out:
            out.write(line.rstrip("\n") + "\n")

    # -- preparation --------------------------------------------------------------------
    def prepare_work_dir(self, snapshot_id: str | None) -> None:
        """The snapshot (and a requeued attempt's outputs) in the shared working folder,
        put there by whichever node of the attempt comes first; the others find it ready."""
        folder = self.work_dir.parent
        folder.mkdir(parents=True, exist_ok=True)
        ready = folder / "wd.ready"
        with filelock.FileLock(folder / "wd.lock"):
            if ready.exists():
                return
            self.fetch_snapshot(snapshot_id)
            if self.attempt > 1:
                self.restore_outputs()
            for name in ("outputs", "logs"):
                (self.work_dir / name).mkdir(exist_ok=True)
            ready.touch()

    def fetch_snapshot(self, snapshot_id: str | None) -> None:
        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        self.work_dir.mkdir(parents=True)
        if snapshot_id is None:
            return
        with zipfile.ZipFile(self.snapshot_archive(snapshot_id)) as archive:
            archive.extractall(self.work_dir)

    def snapshot_archive(self, snapshot_id: str) -> Path:
        """The snapshot's archive in the node's cache, downloaded by the first run that
        needs it: a snapshot's id is the hash of its content, so a copy is never stale."""
        if not SNAPSHOT_ID.fullmatch(snapshot_id):
            raise LaunchError(f"The run names no valid snapshot ({snapshot_id!r})")
        cached = snapshot_cache(self.home, self.workspace) / f"{snapshot_id}.zip"
        if cached.exists():
            return cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Launchers of one node may fetch the same snapshot at once: each writes its own
        # file and the last rename wins, with the same bytes.
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
        try:
            with open(partial, "wb") as out:
                for chunk in SnapshotsApi(self.client, self.workspace).download(snapshot_id):
                    out.write(chunk)
            os.replace(partial, cached)
        finally:
            partial.unlink(missing_ok=True)
        return cached

    def restore_outputs(self) -> None:
        """A requeued attempt starts with what earlier attempts uploaded to ./outputs,
        so a script can resume from its checkpoints."""
        outputs = self.work_dir / "outputs"
        for item in self.files.list(self.run_id, prefix="outputs/"):
            target = self.work_dir / safe_relative_path(item.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for chunk in self.files.download(self.run_id, item.name):
                    out.write(chunk)
        outputs.mkdir(exist_ok=True)

    def interpreter(self, definition: RunDefinition) -> str:
        """The submitting interpreter, the one the environment names, or the cached
        virtualenv of its packages (built first if no run built it before)."""
        build_log = self.logs_dir / Path(environments.build_log_name(self.node_rank)).name
        self.logs.add(build_log, environments.build_log_name(self.node_rank))
        try:
            return environments.interpreter_for(
                definition.environment, self.home, self.workspace, build_log, self.logs.ship
            )
        except environments.EnvironmentBuildError as exc:
            raise LaunchError(str(exc)) from None

    def environment(self, info: RunInfo, interpreter: str) -> dict[str, str]:
        """The variables every process of the run sees (ranks are added per process)."""
        definition = info.definition
        assert definition is not None
        context = self.request.context
        ws = context.workspace if context else WorkspacesApi(self.client).get(self.workspace)
        # Nothing of the server's home: no TRAINFORGE_* of the launcher's, no path into it;
        # and in a built environment nothing of the node's search path.
        env = environments.node_variables_for(
            interpreter, without_home(os.environ, self.home), self.home, self.workspace
        )
        env.update(definition.environment.environment_variables)
        env.update(
            AZUREML_RUN_ID=info.run_id,
            AZUREML_ARM_SUBSCRIPTION=ws.subscription_id,
            AZUREML_ARM_RESOURCEGROUP=ws.resource_group,
            AZUREML_ARM_WORKSPACE_NAME=self.workspace,
            AZUREML_ARM_PROJECT_NAME=info.experiment_name,
            AZUREML_EXPERIMENT_ID=info.experiment_id,
            AZUREML_WORKSPACE_ID=ws.workspace_id,
            AZUREML_SERVICE_ENDPOINT=self.client.address,
            AZUREML_DISCOVERY_SERVICE_ENDPOINT=self.client.address,
            AZUREML_RUN_TOKEN=self.token,
            AZUREML_RUN_TOKEN_EXPIRY=str(int(time.time()) + 30 * 86400),
            AZUREML_TARGET_TYPE="local" if definition.target == "local" else "batchai",
            AZUREML_OUTPUT_DIRECTORY="./outputs",
            AZUREML_NODE_COUNT=str(self.node_count),
            AZUREML_CR_NODE_RANK=str(self.node_rank),
            AZUREML_RUN_CONFIGURATION=str(self.node_dir / "run_definition.json"),
            TRAINFORGE_SERVER_ADDRESS_FILE=str(self.node_dir / ADDRESS_FILE),
            TRAINFORGE_RUN_ATTEMPT=str(self.attempt),
            PYTHONUNBUFFERED="1",
        )
        return env

    def node_gpus(self) -> int:
        resources = self.request.resources
        return resources.gpus if resources is not None else host_gpus()

    def exchange_endpoints(self, plan: process_plan.Layout) -> dict[str, list[str]]:
        """Pick free ports on this node for its tasks, publish them, and wait until every
        node of the attempt has: then each task's TF_CONFIG can name the whole cluster."""
        self.ports = PortReservation(self.node_addr, len(plan.slots))
        self.gang.publish(
            self.node_rank,
            [
                TaskEndpoint(
                    task_type=slot.task_type or "task",
                    task_index=slot.rank,
                    host=self.node_addr,
                    port=port,
                )
                for slot, port in zip(plan.slots, self.ports.ports, strict=True)
            ],
        )
        try:
            gang = self.gang.wait_for_all(
                self.settings.gang_timeout_s, self.stop_requested, time.monotonic
            )
        except GangTimeout as exc:
            raise LaunchError(f"The run's nodes could not meet: {exc}") from None
        return tf_cluster.cluster_spec(gang)

    # -- execution ----------------------------------------------------------------------
    def run(self) -> int:
        context = self.request.context
        info = context.run if context else self.runs.get(self.run_id)
        if info.status.is_terminal or info.attempt != self.attempt:
            return 0
        definition = info.definition
        assert definition is not None
        self.definition = definition
        plan = process_plan.layout(definition, self.node_rank, self.node_count)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.layout = self.job_layout(definition)
        try:
            self.execution_log = self.layout.start(self.logs)
        except JobRefused as exc:
            return self.refuse(str(exc))
        for name in plan.log_names:
            path = self.log_path(name)
            path.touch()
            self.log_files.append(path)
            self.logs.add(path, name)
        (self.node_dir / "run_definition.json").write_text(definition.model_dump_json(indent=2))
        write_address(self.node_dir / ADDRESS_FILE, self.client.address)
        try:
            self.user = run_user(os.environ)
            self.prepare_work_dir(info.snapshot_id)
            interpreter = self.interpreter(definition)
            data_env = self.data.prepare(definition)
            definition.arguments = self.data.expand(definition.arguments, data_env)
            definition.command = self.data.expand(definition.command, data_env)
        except (LaunchError, DataPreparationError, RunUserError) as exc:
            return self.refuse(str(exc))
        if definition.use_gpu and self.node_gpus() == 0:
            self.note(
                f"Warning: the run asks for GPUs (use_gpu) but node {self.node_id} has none; it runs on the CPU."
            )
        if definition.environment.docker_enabled and self.node_rank == 0:
            self.note(
                "Docker is enabled in this run's configuration; the local backend runs it as a process without a container."
            )
        env = self.environment(info, interpreter)
        env.update(data_env)
        for folder in ("outputs", "logs"):
            (self.work_dir / folder).mkdir(exist_ok=True)
        env = self.layout.environment(env)
        try:
            self.layout.prepare(env, self.logs)
        except JobSetupFailed as exc:
            self.report("failed", exit_code=exc.exit_code, error=exc.error)
            return 1
        try:
            self.user, warning = user_for(interpreter, os.environ)
        except RunUserError as exc:
            return self.refuse(str(exc))
        if warning:
            self.note(warning)
        if self.user is not None:
            for folder in (self.node_dir, self.work_dir.parent):
                hand_over(self.user, work_root(self.home), folder)
            env.update(HOME=str(self.work_dir), USER=self.user.name, LOGNAME=self.user.name)
        syncs = (
            [
                FolderSync(
                    self.files, self.run_id, self.work_dir / "outputs", "outputs", self.attempt
                )
            ]
            if definition.output_collection
            else []
        )
        syncs += [
            FolderSync(self.files, self.run_id, self.work_dir / d, d, self.attempt)
            for d in definition.directories_to_watch
            if d != "outputs"
        ]
        syncs += self.layout.output_syncs(self.files)
        self.context = process_plan.NodeContext(
            definition=definition,
            interpreter=interpreter,
            env=env,
            node_rank=self.node_rank,
            node_count=self.node_count,
            master_addr=self.master_addr,
            master_port=self.master_port,
            gpus=self.node_gpus(),
            logs_dir=self.logs_dir,
        )
        try:
            cluster = (
                self.exchange_endpoints(plan)
                if definition.communicator == "ParameterServer"
                else None
            )
            specs = process_plan.specs(plan, self.context, cluster)
        except (LaunchError, MpiUnavailable) as exc:
            if self.stop_requested.is_set():
                self.report("canceled")
                return 0
            return self.refuse(str(exc))
        finally:
            if self.ports is not None:
                self.ports.release()  # the tasks bind them now
        try:
            for spec in specs:
                self.start(spec)
        except PermissionError as exc:
            if self.processes:
                self.stop_processes()
            who = f" as user {self.user.name}" if self.user else ""
            return self.refuse(
                f"The run's processes cannot start{who}: {exc} (the interpreter and the "
                f"environment must be readable by that user; see {RUN_USER_VARIABLE})"
            )
        if plan.serves_daemons:
            self.inbox = DaemonInbox(self.gang, self.node_rank, self.stop_requested)
            self.inbox.start()
        # A node with only helpers (parameter servers, MPI daemons) does not decide the
        # run's end: it serves until the others are done.
        self.started_at = datetime.now(UTC)
        if not self.ended_at_once(plan):
            self.report("running" if plan.has_main else "serving")
            self.started_at = None  # said already
        failed, reason = self.supervise(syncs, definition.max_run_duration_seconds)
        return self.finish(failed, reason, syncs)

    def ended_at_once(self, plan: process_plan.Layout) -> bool:
        """A run of one process on one node that ends within QUICK_END_S: its end's
        report says when it started, and "running" is not reported on its own (one
        request instead of two for the many small runs of a sweep)."""
        if self.node_count != 1 or len(self.processes) != 1 or not plan.has_main:
            return False
        try:
            self.processes[0].wait(QUICK_END_S)
        except subprocess.TimeoutExpired:
            return False
        return True

    def refuse(self, message: str) -> int:
        """The run cannot start here: say why in the log and in the run's error."""
        self.note(message)
        self.logs.ship()
        self.report("failed", error={"code": "UserError", "message": message})
        return 1

    def start(self, spec: process_plan.ProcessSpec) -> None:
        log_path = self.log_path(spec.slot.log_name)
        # Local datastores are bound read-only into this process's own view; the wrapper
        # that binds them drops to the run user itself, after mounting.
        command = read_only_view.wrap(spec.command, self.data.binds(), self.user)
        user = self.user if command == spec.command else None
        # A Batch AI task keeps stderr apart (stderr-wk-0.txt beside stdout-wk-0.txt).
        stderr_path = self.log_path(spec.slot.stderr_name) if spec.slot.stderr_name else None
        with (
            open(log_path, "ab") as driver,
            open(stderr_path or os.devnull, "ab") as errors,
        ):
            self.processes.append(
                subprocess.Popen(
                    command,
                    cwd=self.work_dir,
                    env=spec.env,
                    stdin=subprocess.DEVNULL,
                    stdout=driver,
                    stderr=errors if stderr_path else subprocess.STDOUT,
                    start_new_session=True,
                    **({"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}),
                )
            )
        self.specs.append(spec)

    def start_daemons(self) -> None:
        """Start the MPI daemons mpirun posted for this node since the last look."""
        if self.inbox is None:
            return
        for command in self.inbox.take():
            self.start(process_plan.daemon_spec(self.context, command.command))
            self.daemon_ids[len(self.processes) - 1] = command.id

    def report_daemon_ends(self, codes: list[int | None]) -> None:
        if self.inbox is None:
            return
        for index, command_id in list(self.daemon_ids.items()):
            if codes[index] is not None:
                self.inbox.ended(command_id, codes[index])  # type: ignore[arg-type]
                del self.daemon_ids[index]

    def supervise(
        self, syncs: list[FolderSync], max_seconds: int | None
    ) -> tuple[int | None, str | None]:
        """Wait for the processes, shipping logs often and outputs now and then.

        Returns the index of the process that failed first (None if none did) and why
        the processes were stopped, if they were. The run's part here is done when its
        main processes have all succeeded; helpers (parameter servers) are then stopped.
        """
        started = time.monotonic()
        last_sync = started
        last_fence_check = started
        syncer: threading.Thread | None = None
        reason: str | None = None
        failed: int | None = None
        while True:
            self.start_daemons()
            mains = [i for i, spec in enumerate(self.specs) if spec.slot.role == "main"]
            waiting = [i for i in mains if self.processes[i].poll() is None]
            try:
                # Returns the moment a main process exits; SIGTERM only sets stop_requested.
                if waiting:
                    self.processes[waiting[0]].wait(
                        LOG_SHIP_INTERVAL_S if len(self.processes) == 1 else 0.1
                    )
                else:
                    self.stop_requested.wait(0.1)
            except subprocess.TimeoutExpired:
                pass
            codes = [p.poll() for p in self.processes]
            self.report_daemon_ends(codes)
            failed = next(
                (
                    i
                    for i, code in enumerate(codes)
                    if code not in (None, 0)
                    and i not in self.stopped
                    and self.specs[i].slot.role != "daemon"
                ),
                None,
            )
            if failed is not None:
                self.stop_processes()  # one process failing fails the node's part: stop the others
                break
            if mains and all(codes[i] == 0 for i in mains):
                self.stop_processes()  # what is left are helpers, which never end by themselves
                break
            if self.stop_requested.is_set():
                reason = "canceled"
                self.stop_processes()
                break
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                reason = f"The run exceeded max_run_duration_seconds={max_seconds} and was stopped"
                self.stop_processes()
                break
            self.logs.ship()
            if time.monotonic() - last_fence_check > self.settings.fence_check_s:
                self.check_fence()
                last_fence_check = time.monotonic()
            if time.monotonic() - last_sync > self.settings.output_sync_s and (
                syncer is None or not syncer.is_alive()
            ):
                syncer = threading.Thread(target=lambda: [s.sync() for s in syncs], daemon=True)
                syncer.start()
                last_sync = time.monotonic()
        if syncer is not None:
            syncer.join()
        self.report_daemon_ends([p.poll() for p in self.processes])
        return failed, reason

    def check_fence(self) -> None:
        """Raise Superseded when this attempt is no longer wanted: its node agent died (the
        node is lost, the run goes on elsewhere) or the control plane moved the run to
        another attempt; stop as asked when the run ended without this node hearing."""
        if self.agent_pid is not None and os.getppid() != self.agent_pid:
            raise Superseded(f"the node agent (pid {self.agent_pid}) is gone: the node is lost")
        info = self.runs.get(self.run_id)
        if info.attempt != self.attempt:
            raise Superseded(
                f"the run is on attempt {info.attempt}; this launcher ran attempt {self.attempt}"
            )
        if info.status.is_terminal:
            self.stop_requested.set()

    def stop_processes(self) -> None:
        """SIGTERM each process group that still runs, then kill whatever is left of their trees."""
        trees: list[psutil.Process] = []
        running = [(i, p) for i, p in enumerate(self.processes) if p.poll() is None]
        for index, process in running:
            self.stopped.add(index)
            try:
                trees += psutil.Process(process.pid).children(recursive=True)
            except psutil.Error:
                pass
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        for _, process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.05))
            except subprocess.TimeoutExpired:
                trees.append(psutil.Process(process.pid))
        for member in trees:
            processes.kill_tree(member)
        for process in self.processes:
            process.wait()

    def finish(self, failed: int | None, reason: str | None, syncs: list[FolderSync]) -> int:
        for sync in syncs:
            sync.sync()
        self.layout.after([p.returncode for p in self.processes], reason)
        if reason != "canceled":
            try:
                self.data.upload_outputs()
            except Exception as exc:  # the run's own result still counts; say what was lost
                self.prep_note(f"Uploading as_upload data failed: {exc}")
        # The logs' last bytes go with the end's report, one request, when they are few.
        tails = self.logs.unshipped(MAX_REPORT_LOG_BYTES)
        if tails is None:
            self.logs.ship()
            tails = []
        if reason == "canceled":
            self.report("canceled", logs=tails)
        elif reason is not None:
            self.report("failed", error={"code": "UserError", "message": reason}, logs=tails)
        elif failed is not None:
            code = self.processes[failed].returncode
            error = self.layout.job_error(code, self.error(failed, code))
            self.report("failed", exit_code=code, error=error, logs=tails)
        else:
            self.report("succeeded", exit_code=0, logs=tails)
        self.logs.shipped(tails)
        return 0

    def error(self, index: int, return_code: int) -> dict[str, Any]:
        """The run's error for a failed process: which rank or task, and its traceback."""
        slot = self.specs[index].slot
        definition = self.definition
        script = definition.script or (definition.command[0] if definition.command else "")
        log_name = slot.log_name
        text = self.log_path(log_name).read_text(errors="replace")[-65536:]
        if slot.stderr_name:
            text += self.log_path(slot.stderr_name).read_text(errors="replace")[-65536:]
        label = slot.label
        found = mpi.rank_failure(text) if slot.label == "mpirun" else None
        if found is not None:
            rank, return_code, detail = found
            label = f"rank {rank}"
            log_name = process_plan.rank_log(
                rank, self.node_count * definition.process_count_per_node
            )
        else:
            mark = text.rfind(TRACEBACK_MARK)
            detail = text[mark:] if mark >= 0 else "\n".join(text.splitlines()[-20:])
        several = len(self.specs) > 1 or self.node_count > 1 or slot.label == "mpirun"
        where = f" ({label} on node {self.node_id})" if several else ""
        if found is not None:
            where = f" ({label})"
        details: list[dict[str, str]] = [
            {"code": "UserProcessExitCode", "message": str(return_code)},
        ]
        if label.startswith("rank "):
            details.append({"code": "Rank", "message": label.removeprefix("rank ")})
        else:  # a TensorFlow task ("worker 0") or mpirun itself
            details.append({"code": "Task", "message": label})
        details.append({"code": "Traceback", "message": detail.rstrip()})
        return {
            "code": "UserError",
            "message": (
                f"Execution failed. User process '{script}'{where} exited with status code {return_code}. "
                f"Please check log file '{log_name}' for more details.\n{detail.rstrip()}"
            ),
            "details": details,
        }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s launcher %(levelname)s %(message)s")
    # What the launcher builds for the run (environments, data, its folder) is readable by
    # the run's user; the server's own files stay private through the home's 0700.
    os.umask(0o022)
    launcher = Launcher(LauncherSettings())
    signal.signal(signal.SIGTERM, lambda *_: launcher.stop_requested.set())
    try:
        return launcher.run()
    except (ApiError, Superseded) as exc:
        # 409 or Superseded: this attempt was given up on (requeued or ended); stop what it
        # started, so that nothing of it writes over the attempt that replaced it.
        log.error("the control plane refused the launcher: %s", exc)
        if launcher.processes:
            launcher.stop_processes()
        return 1
    except Exception as exc:
        log.exception("launcher failed")
        try:
            if launcher.processes:
                launcher.stop_processes()
            launcher.logs.ship()
            error = {"code": "ServiceError", "message": f"The launcher failed: {exc}"}
            launcher.report("failed", error=error)
        except Exception:
            log.exception("could not report the failure")
        return 1


if __name__ == "__main__":
    sys.exit(main())
