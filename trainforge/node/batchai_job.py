"""A Batch AI job on a node: its mount volumes, directories, ``AZ_BATCHAI_*`` variables and
job preparation, as Batch AI laid them out (reference 1.7, 3 and 4).

- Mounts: each mount volume is a datastore of the workspace. A local folder (the
  embedded default's storage accounts) is linked in place at
  ``$AZ_BATCHAI_JOB_MOUNT_ROOT/<relativeMountPath>`` (``$AZ_BATCHAI_MOUNT_ROOT`` for the
  cluster's own), read-write; a blob container is copied there before the job and what
  the job wrote is copied back when it ends (blobfuse too showed files once closed).
- Directories: ``$AZ_BATCHAI_JOB_TEMP`` is the job's working folder (the processes' cwd),
  ``{stdOutErrPathPrefix}/{segment}/stdouterr`` receives the logs and
  ``{pathPrefix}/{segment}/outputs[/{pathSuffix}]`` each output directory; the path fields
  are expanded as bash would, an undefined variable to nothing.
- Job preparation runs on every node before the toolkit, with its own logs
  (``stdout-job_prep.txt``); a failure fails the job (``JobPreparationFailed``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from trainforge.client.api.datastores import DatastoresApi
from trainforge.client.api.files import FilesApi
from trainforge.client.api.secrets import SecretsApi
from trainforge.client.http import TrainforgeClient
from trainforge.node import mpi
from trainforge.node.job_layout import JobRefused, JobSetupFailed
from trainforge.node.shipping import FolderSync, LogShipper
from trainforge.node.work_root import work_root
from trainforge.schemas.batchai import OUTPUTS_FOLDER, STDOUTERR, BatchAILaunch
from trainforge.storage import transfer
from trainforge.storage.locations import join, open_filesystem

VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
SHELL = shutil.which("bash") or "/bin/sh"
PREP_FAILED = "JobPreparationFailed"


def expand(text: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``env``; an undefined name becomes ''."""
    return VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


class MountError(JobRefused):
    """A mount volume could not be mounted; the message is the job's error."""


class BatchAIJob:
    """One node's part of a Batch AI job: a ``job_layout.JobLayout``."""

    def __init__(
        self,
        launch: BatchAILaunch,
        client: TrainforgeClient,
        workspace: str,
        run_id: str,
        attempt: int,
        home: Path,
        work_dir: Path,
        node_id: str,
        node_rank: int,
        node_count: int,
        note: Callable[[str], None],
        node_folder: Path,
        node_addr: str = "127.0.0.1",
    ) -> None:
        self.launch = launch
        # The node's own folder (its runs' folders are below it): the setup task's mark.
        self.node_folder = node_folder
        self.client = client
        self.workspace = workspace
        self.run_id = run_id
        self.attempt = attempt
        self.node_id = node_id
        self.node_rank = node_rank
        self.node_count = node_count
        self.note = note
        self.node_addr = node_addr
        self.job_temp = work_dir
        self.job_folder = work_dir.parent
        self.jobs_root = work_dir.parent.parent
        self.job_mount_root = self.job_folder / "batchai-mounts"
        cluster = launch.cluster_id.rstrip("/").rsplit("/", 1)[-1]
        self.mount_root = (
            work_root(home) / "workspaces" / workspace / "batchai" / "clusters" / cluster / "mounts"
        )
        self.shared_temp = self.job_folder / "shared"
        # Blob mounts copied onto the node: (datastore, local folder) to copy back.
        self.copies: list[tuple[str, Path]] = []
        self.env: dict[str, str] = {}
        self.mounted: list[str] = []  # what mount() did, for the execution log
        self.stdouterr = Path()

    # -- the launcher's hooks (job_layout.JobLayout) ------------------------------------------
    def start(self, logs: LogShipper) -> Path:
        """Mount the volumes and open the node's execution log, which the launcher's notes
        go to from now on."""
        self.mount()
        self.stdouterr_before_mount({})
        name = self.execution_log_name()
        execution_log = self.stdouterr / Path(name).name
        execution_log.touch()
        logs.add(execution_log, name)
        self.note(
            f"Job {self.launch.job_name} (attempt {self.attempt}) on node {self.node_id}, "
            f"rank {self.node_rank} of {self.node_count}"
        )
        for line in self.mounted:
            self.note(line)
        return execution_log

    def prepare(self, env: dict[str, str], logs: LogShipper) -> None:
        """The cluster's setup task (once per node), then the job preparation."""
        if self.launch.container_image and self.node_rank == 0:
            self.note(
                f"containerSettings: image {self.launch.container_image} is not run in "
                "a container; the job runs as processes on the node."
            )
        setup = self.setup_node(env)
        if setup != 0:
            logs.ship()
            raise JobSetupFailed(
                setup,
                {
                    "code": "SetupTaskFailed",
                    "message": f"The cluster's setup task failed on node {self.node_id} "
                    f"with exit code {setup}",
                    "details": [{"code": "UserProcessExitCode", "message": str(setup)}],
                },
            )
        code = self.job_preparation(env, logs)
        if code != 0:
            logs.ship()
            self.unmount()
            raise JobSetupFailed(code, self.preparation_error(code))

    def after(self, exit_codes: list[int | None], reason: str | None) -> None:
        self.unmount()
        self.note(
            f"Processes ended with exit codes {exit_codes}" + (f": {reason}" if reason else "")
        )

    # -- before the job ----------------------------------------------------------------------
    def directories(self) -> dict[str, str]:
        return {
            "AZ_BATCHAI_MOUNT_ROOT": str(self.mount_root),
            "AZ_BATCHAI_JOB_MOUNT_ROOT": str(self.job_mount_root),
            "AZ_BATCHAI_JOB_TEMP": str(self.job_temp),
            "AZ_BATCHAI_JOB_TEMP_DIR": str(self.jobs_root),
            "AZ_BATCHAI_SHARED_JOB_TEMP": str(self.shared_temp),
        }

    def mount(self) -> None:
        """Mount the job's (and its cluster's) volumes; the first node of a host does it."""
        for folder in (self.mount_root, self.job_mount_root, self.shared_temp):
            folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.job_folder / "batchai-mounts.lock")):
            for mount in self.launch.mounts:
                root = self.mount_root if mount.level == "cluster" else self.job_mount_root
                target = root / mount.relative_mount_path.strip("/")
                try:
                    self._mount_one(mount.datastore_name, target)
                except Exception as exc:
                    raise MountError(
                        f"Mounting {mount.relative_mount_path} (datastore {mount.datastore_name}) "
                        f"failed: {exc}"
                    ) from exc

    def _mount_one(self, datastore: str, target: Path) -> None:
        access = DatastoresApi(self.client, self.workspace).access(datastore)
        if access.storage_kind == "local":
            if not target.is_symlink():
                if target.exists():
                    shutil.rmtree(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(access.root, target_is_directory=True)
            self.mounted.append(f"Mounted {access.root} at {target}")
            return
        fs = open_filesystem(access)
        target.mkdir(parents=True, exist_ok=True)
        found = transfer.list_files(fs, access.root)
        base = fs._strip_protocol(access.root).rstrip("/")
        pairs = [
            (remote, target / remote[len(base) :].lstrip("/"), info.size)
            for remote, info in found.items()
        ]
        transfer.download(fs, pairs, overwrite=True, show_progress=False)
        self.copies.append((datastore, target))
        self.mounted.append(
            f"Mounted {datastore} at {target} ({len(pairs)} files copied to the node)"
        )

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """The job's variables (directories, user variables, secrets, inputs, outputs),
        its output and log folders made."""
        launch = self.launch
        env = {**base, **self.directories()}
        env["AZ_BATCHAI_CLUSTER_NAME"] = launch.cluster_id.rstrip("/").rsplit("/", 1)[-1]
        env["AZ_BATCHAI_JOB_NAME"] = launch.job_name
        env["AZ_BATCHAI_NODE_IP"] = self.node_addr
        env["AZ_BATCHAI_IS_CURRENT_NODE_MASTER"] = "true" if self.node_rank == 0 else "false"
        env["AZ_BATCHAI_JOB_WORK_DIR"] = str(self.job_temp)
        hostfile = self.job_folder / "hostfile"
        if not hostfile.exists():
            mpi.write_hostfile(hostfile, self.node_count, 1)
        env["AZ_BATCHAI_MPI_HOST_FILE"] = str(hostfile)
        env.update(mpi.own_mpirun_environment())
        self._user_variables(env, launch.environment_variables, launch.secrets)
        for input_id, path in launch.input_directories.items():
            env[f"AZ_BATCHAI_INPUT_{input_id}"] = expand(path, env)
        segment = launch.segment
        self.stdouterr = Path(expand(launch.std_out_err_path_prefix, env)) / segment / STDOUTERR
        self.stdouterr.mkdir(parents=True, exist_ok=True)
        env["AZ_BATCHAI_STDOUTERR_DIR"] = str(self.stdouterr)
        for out in launch.output_directories:
            folder = Path(expand(out.path_prefix, env)) / segment / OUTPUTS_FOLDER
            if out.path_suffix:
                folder = folder / expand(out.path_suffix, env)
            folder.mkdir(parents=True, exist_ok=True)
            env[f"AZ_BATCHAI_OUTPUT_{out.id}"] = str(folder)
        self.env = env
        return env

    def _user_variables(
        self, env: dict[str, str], variables: dict[str, str], secrets: dict[str, str]
    ) -> None:
        """Add the user's variables (expanded) and secrets (from the key vault) to ``env``."""
        for name, value in variables.items():
            env[name] = expand(value, env)
        if secrets:
            vault = SecretsApi(self.client, self.workspace)
            for name, secret in secrets.items():
                env[name] = vault.get(secret).value

    def log_path(self, name: str) -> Path | None:
        """Where a Batch AI log (``stdouterr/stdout-wk-0.txt``) is written on the mount;
        None for the run's own logs."""
        if not name.startswith(f"{STDOUTERR}/"):
            return None
        return self.stdouterr / Path(name).name

    def stdouterr_before_mount(self, base: dict[str, str]) -> None:
        """Find the stdouterr folder (the variables it may name) before the processes'
        environment is known, so the logs exist on the mount from the start."""
        env = {**base, **self.directories()}
        for name, value in self.launch.environment_variables.items():
            env[name] = expand(value, env)
        self.stdouterr = (
            Path(expand(self.launch.std_out_err_path_prefix, env)) / self.launch.segment / STDOUTERR
        )
        self.stdouterr.mkdir(parents=True, exist_ok=True)

    def execution_log_name(self) -> str:
        """The node's own log of the job (what was mounted, what started and ended)."""
        suffix = "" if self.node_count == 1 else f"-{self.node_id}"
        return f"{STDOUTERR}/execution{suffix}.log"

    def prep_log_names(self) -> tuple[str, str]:
        suffix = "" if self.node_count == 1 else f"-{self.node_id}"
        return (
            f"{STDOUTERR}/stdout-job_prep{suffix}.txt",
            f"{STDOUTERR}/stderr-job_prep{suffix}.txt",
        )

    def setup_node(self, env: dict[str, str]) -> int:
        """The cluster's setup task, once per node (before its first job, as Batch AI ran it
        after allocation); its logs at ``{prefix}/{suffix}/stdout-<node>.txt``. Its exit code."""
        task = self.launch.setup_task
        done = self.node_folder / "batchai-setup-task.done"
        if task is None or done.exists():
            return 0
        task_env = {**env}
        self._user_variables(task_env, task.environment_variables, task.secrets)
        folder = Path(expand(task.std_out_err_path_prefix, task_env)) / task.std_out_err_path_suffix
        folder.mkdir(parents=True, exist_ok=True)
        code = _run_logged(
            task.command_line,
            task_env,
            self.job_temp,
            folder / f"stdout-{self.node_id}.txt",
            folder / f"stderr-{self.node_id}.txt",
        )
        if code == 0:
            done.touch()
        self.note(f"Setup task on node {self.node_id} ended with exit code {code}")
        return code

    def job_preparation(self, env: dict[str, str], logs: LogShipper) -> int:
        """Run the job preparation (if any) on this node; its exit code."""
        command = self.launch.job_preparation
        if not command:
            return 0
        out_name, err_name = self.prep_log_names()
        out_path = self.stdouterr / Path(out_name).name
        err_path = self.stdouterr / Path(err_name).name
        logs.add(out_path, out_name)
        logs.add(err_path, err_name)
        code = _run_logged(command, env, self.job_temp, out_path, err_path)
        logs.ship()
        return code

    def output_syncs(self, files: FilesApi) -> list[FolderSync]:
        """The output directories as the run's files (``outputs/<id>/...``); the stdouterr
        logs go as logs. The first node sends them (the nodes of a host share the folders)."""
        if self.node_rank != 0:
            return []
        return [
            FolderSync(
                files,
                self.run_id,
                Path(self.env[f"AZ_BATCHAI_OUTPUT_{out.id}"]),
                f"{OUTPUTS_FOLDER}/{out.id}",
                self.attempt,
            )
            for out in self.launch.output_directories
        ]

    # -- after the job -----------------------------------------------------------------------
    def unmount(self) -> None:
        """Copy what the job wrote on blob mounts back to their containers. The mounts stay
        in this job's own folder (another job has its own mount root, so it never sees
        them), where the job's other nodes may still be writing."""
        if self.node_rank == 0:
            for datastore, folder in self.copies:
                try:
                    access = DatastoresApi(self.client, self.workspace).access(datastore)
                    fs = open_filesystem(access)
                    files = sorted(p for p in folder.rglob("*") if p.is_file())
                    pairs = [
                        (f, join(access.root, f.relative_to(folder).as_posix())) for f in files
                    ]
                    transfer.upload(fs, pairs, True, show_progress=False)
                except Exception as exc:  # the job's result stands; say what was not kept
                    self.note(f"Copying {folder} back to datastore {datastore} failed: {exc}")

    def job_error(self, exit_code: int | None, error: dict[str, Any]) -> dict[str, Any]:
        """The run's error in Batch AI's terms: ``JobFailed`` with the process's exit code
        (and the launcher's details: which task, its traceback)."""
        details: list[dict[str, Any]] = [{"code": "UserProcessExitCode", "message": str(exit_code)}]
        details += [d for d in error.get("details", []) if d.get("code") != "UserProcessExitCode"]
        message = error.get("message", "")
        return {
            "code": "JobFailed",
            "message": f"Job failed with non-zero exit code {exit_code}. {message}".strip(),
            "details": details,
        }

    @staticmethod
    def preparation_error(exit_code: int) -> dict[str, Any]:
        return {
            "code": PREP_FAILED,
            "message": f"Job preparation failed with exit code {exit_code}",
            "details": [{"code": "UserProcessExitCode", "message": str(exit_code)}],
        }


def _run_logged(
    command: str, env: dict[str, str], cwd: Path, out_path: Path, err_path: Path
) -> int:
    """``command`` under bash, its stdout and stderr appended to their logs; its exit code."""
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        process = subprocess.Popen(
            [SHELL, "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        return process.wait()
