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
import string
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import psutil

from trainforge.client.http import ApiError, Endpoint, TrainforgeClient
from trainforge.compute import processes
from trainforge.node.shipping import FolderSync, LogShipper
from trainforge.schemas.runs import RunDefinition, RunInfo, RunStatus
from trainforge.schemas.server_state import read_state

log = logging.getLogger("trainforge.launcher")
DRIVER_LOG = "azureml-logs/70_driver_log.txt"
LOG_SHIP_INTERVAL_S = 0.5
# Outputs go up during the run too, so a preempted or killed run keeps its checkpoints.
OUTPUT_SYNC_INTERVAL_S = float(os.environ.get("TRAINFORGE_OUTPUT_SYNC_S", "10"))
STOP_GRACE_S = 5.0
TRACEBACK_MARK = "Traceback (most recent call last):"


class LaunchError(Exception):
    """The run cannot start on this node; the message is the run's error."""


class Launcher:
    def __init__(self, environ: dict[str, str]) -> None:
        self.run_id = environ["TRAINFORGE_RUN_ID"]
        self.workspace = environ["TRAINFORGE_WORKSPACE"]
        self.attempt = int(environ["TRAINFORGE_ATTEMPT"])
        self.node_dir = Path(environ["TRAINFORGE_NODE_DIR"])
        self.home = Path(environ["TRAINFORGE_HOME"])
        self.endpoint = environ["TRAINFORGE_ENDPOINT"]
        self.token = environ["TRAINFORGE_RUN_TOKEN"]
        self.client = TrainforgeClient(Endpoint(self.endpoint, self.token, self._find_server))
        self.run_path = f"/workspaces/{self.workspace}/runs/{self.run_id}"
        self.work_dir = self.node_dir / "wd"
        self.driver_log = self.node_dir / DRIVER_LOG
        self.logs = LogShipper(self.client, self.run_path)
        self.stop_requested = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    def _find_server(self) -> tuple[str, str] | None:
        state = read_state(self.home)
        return (state.address, self.token) if state else None

    # -- reporting ----------------------------------------------------------------------
    def report(self, status: RunStatus, error: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"status": status.value, "attempt": self.attempt}
        if error is not None:
            body["error"] = error
        self.client.patch(self.run_path, body)

    def note(self, line: str) -> None:
        """A line of the launcher's own in the driver log (e.g. that Docker is not used)."""
        with open(self.driver_log, "a") as out:
            out.write(line.rstrip("\n") + "\n")

    # -- preparation --------------------------------------------------------------------
    def fetch_snapshot(self, snapshot_id: str | None) -> None:
        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        self.work_dir.mkdir(parents=True)
        if snapshot_id is None:
            return
        archive_path = self.node_dir / "snapshot.zip"
        with open(archive_path, "wb") as out:
            for chunk in self.client.download(
                f"/workspaces/{self.workspace}/snapshots/{snapshot_id}"
            ):
                out.write(chunk)
        with zipfile.ZipFile(archive_path) as archive:
            archive.extractall(self.work_dir)
        archive_path.unlink()

    def interpreter(self, definition: RunDefinition) -> str:
        """The submitting interpreter unless the environment names another; packages need
        a built environment, which this backend does not make yet."""
        python = definition.environment.python
        if python.user_managed_dependencies:
            if python.interpreter_path not in ("python", "python3"):
                found = shutil.which(python.interpreter_path)
                if found is None:
                    raise LaunchError(
                        f"environment.python.interpreter_path: {python.interpreter_path} was not found on the node"
                    )
                return found
            return python.submitting_interpreter or sys.executable
        wanted = python.pip_packages + python.conda_packages
        if wanted:
            raise LaunchError(
                "This run's environment asks for packages to be installed "
                f"({', '.join(wanted)}); building environments arrives with cached environments. "
                "Until then set environment.python.user_managed_dependencies = True and install them "
                "into the submitting interpreter."
            )
        return python.submitting_interpreter or sys.executable

    def environment(self, info: RunInfo) -> dict[str, str]:
        definition = info.definition
        assert definition is not None
        ws = self.client.get(f"/workspaces/{self.workspace}")
        env = dict(os.environ)
        for key in [k for k in env if k.startswith("TRAINFORGE_") and k != "TRAINFORGE_HOME"]:
            del env[key]
        env.update(definition.environment.environment_variables)
        env.update(
            AZUREML_RUN_ID=info.run_id,
            AZUREML_ARM_SUBSCRIPTION=ws["subscription_id"],
            AZUREML_ARM_RESOURCEGROUP=ws["resource_group"],
            AZUREML_ARM_WORKSPACE_NAME=self.workspace,
            AZUREML_ARM_PROJECT_NAME=info.experiment_name,
            AZUREML_EXPERIMENT_ID=info.experiment_id,
            AZUREML_WORKSPACE_ID=ws["workspace_id"],
            AZUREML_SERVICE_ENDPOINT=self.client.address,
            AZUREML_DISCOVERY_SERVICE_ENDPOINT=self.client.address,
            AZUREML_RUN_TOKEN=self.token,
            AZUREML_RUN_TOKEN_EXPIRY=str(int(time.time()) + 30 * 86400),
            AZUREML_TARGET_TYPE=definition.target,
            AZUREML_OUTPUT_DIRECTORY="./outputs",
            AZUREML_NODE_COUNT=str(definition.node_count),
            AZUREML_RUN_CONFIGURATION=str(self.node_dir / "run_definition.json"),
            TRAINFORGE_HOME=str(self.home),
            PYTHONUNBUFFERED="1",
        )
        return env

    def command(
        self, definition: RunDefinition, interpreter: str, env: dict[str, str]
    ) -> list[str]:
        arguments = [string.Template(arg).safe_substitute(env) for arg in definition.arguments]
        if definition.command:
            return [string.Template(part).safe_substitute(env) for part in definition.command]
        assert definition.script is not None
        return [interpreter, definition.script, *arguments]

    # -- execution ----------------------------------------------------------------------
    def run(self) -> int:
        info = RunInfo.model_validate(self.client.get(self.run_path))
        if info.status.is_terminal or info.attempt != self.attempt:
            return 0
        definition = info.definition
        assert definition is not None
        self.driver_log.parent.mkdir(parents=True, exist_ok=True)
        self.driver_log.touch()
        self.logs.add(self.driver_log, DRIVER_LOG)
        (self.node_dir / "run_definition.json").write_text(definition.model_dump_json(indent=2))
        try:
            self.fetch_snapshot(info.snapshot_id)
            interpreter = self.interpreter(definition)
        except LaunchError as exc:
            self.note(str(exc))
            self.logs.ship()
            self.report(RunStatus.FAILED, {"code": "UserError", "message": str(exc)})
            return 1
        if definition.environment.docker_enabled:
            self.note(
                "Docker is enabled in this run's configuration; the local backend runs it as a process without a container."
            )
        env = self.environment(info)
        for folder in ("outputs", "logs"):
            (self.work_dir / folder).mkdir(exist_ok=True)
        syncs = (
            [FolderSync(self.client, self.run_path, self.work_dir / "outputs", "outputs")]
            if definition.output_collection
            else []
        )
        syncs += [
            FolderSync(self.client, self.run_path, self.work_dir / d, d)
            for d in definition.directories_to_watch
            if d != "outputs"
        ]
        command = self.command(definition, interpreter, env)
        with open(self.driver_log, "ab") as driver:
            self.process = subprocess.Popen(
                command,
                cwd=self.work_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=driver,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.report(RunStatus.RUNNING)
        return_code, reason = self.supervise(syncs, definition.max_run_duration_seconds)
        return self.finish(return_code, reason, syncs, command)

    def supervise(self, syncs: list[FolderSync], max_seconds: int | None) -> tuple[int, str | None]:
        """Wait for the script, shipping logs often and outputs now and then."""
        assert self.process is not None
        started = time.monotonic()
        last_sync = started
        syncer: threading.Thread | None = None
        reason: str | None = None
        while True:
            try:
                # Returns the moment the script exits; SIGTERM only sets stop_requested.
                self.process.wait(LOG_SHIP_INTERVAL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if self.stop_requested.is_set():
                reason = "canceled"
                self.stop_process()
                break
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                reason = f"The run exceeded max_run_duration_seconds={max_seconds} and was stopped"
                self.stop_process()
                break
            self.logs.ship()
            if time.monotonic() - last_sync > OUTPUT_SYNC_INTERVAL_S and (
                syncer is None or not syncer.is_alive()
            ):
                syncer = threading.Thread(target=lambda: [s.sync() for s in syncs], daemon=True)
                syncer.start()
                last_sync = time.monotonic()
        if syncer is not None:
            syncer.join()
        return self.process.wait(), reason

    def stop_process(self) -> None:
        """SIGTERM the script's process group, then kill whatever is left of its tree."""
        assert self.process is not None
        try:
            tree = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        survivors = tree
        if self.process.poll() is None:
            survivors = [psutil.Process(self.process.pid), *tree]
        for member in survivors:
            processes.kill_tree(member)
        self.process.wait()

    def finish(
        self, return_code: int, reason: str | None, syncs: list[FolderSync], command: list[str]
    ) -> int:
        if reason != "canceled":
            self.report(RunStatus.FINALIZING)
        for sync in syncs:
            sync.sync()
        self.logs.ship()
        if reason == "canceled":
            self.report(RunStatus.CANCELED)
        elif reason is not None:
            self.report(RunStatus.FAILED, {"code": "UserError", "message": reason})
        elif return_code == 0:
            self.report(RunStatus.COMPLETED)
        else:
            self.report(RunStatus.FAILED, self.error(return_code, command))
        return 0

    def error(self, return_code: int, command: list[str]) -> dict[str, Any]:
        script = command[1] if len(command) > 1 else command[0]
        text = self.driver_log.read_text(errors="replace")[-65536:]
        mark = text.rfind(TRACEBACK_MARK)
        detail = text[mark:] if mark >= 0 else "\n".join(text.splitlines()[-20:])
        return {
            "code": "UserError",
            "message": (
                f"Execution failed. User process '{script}' exited with status code {return_code}. "
                f"Please check log file '{DRIVER_LOG}' for more details.\n{detail.rstrip()}"
            ),
            "details": [
                {"code": "UserProcessExitCode", "message": str(return_code)},
                {"code": "Traceback", "message": detail.rstrip()},
            ],
        }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s launcher %(levelname)s %(message)s")
    launcher = Launcher(dict(os.environ))
    signal.signal(signal.SIGTERM, lambda *_: launcher.stop_requested.set())
    try:
        return launcher.run()
    except ApiError as exc:
        log.error("the control plane refused the launcher: %s", exc)
        return 1
    except Exception as exc:
        log.exception("launcher failed")
        try:
            launcher.logs.ship()
            launcher.report(
                RunStatus.FAILED, {"code": "ServiceError", "message": f"The launcher failed: {exc}"}
            )
        except Exception:
            log.exception("could not report the failure")
        return 1


if __name__ == "__main__":
    sys.exit(main())
