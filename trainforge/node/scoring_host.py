"""The host of one scoring service on this machine: it builds (or reuses) the service's
environment, starts its scoring process (``trainforge.node.scoring``) in it, says in
``state.json`` whether the service is Transitioning, Healthy, Unhealthy or Failed, and
starts the scoring process again when it dies (each restart said in the service's log).
On SIGHUP (the server rewrote the service's files: ``reload``/``update``) it starts a new
scoring process from them beside the one serving, and stops the old one only once the new
one answers (it drains first: see ``trainforge.node.scoring``), so an update refuses no
request. The host holds the service's listening socket for its whole life and hands it to
each scoring process it starts: connections that arrive while one starts again wait in its
queue instead of being refused. A new version that fails leaves the old one serving (the
service says Failed, with the error, until one starts).

The scoring process runs the user's entry script, so it is kept from the server's files as
a run's processes are (``run_user``): under a root server it runs as the run user, with the
service's folder handed to that user and as its HOME, and its variables carry no
TRAINFORGE_* setting and no path into the server's home (0700, so the admin token, the keys
and the database stay unreadable to it).

``python -m trainforge.node.scoring_host <service folder> <home> <workspace>``; the folder
holds ``serving.json`` (a ServingSpec) and ``environment.json`` (an EnvironmentSpec).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import httpx

from trainforge import processes
from trainforge.node.environments import (
    EnvironmentBuildError,
    interpreter_for,
    node_variables_for,
)
from trainforge.node.run_user import RunUser, RunUserError, hand_over, user_for
from trainforge.node.scoring import INIT_FAILED
from trainforge.node.settings import NodeSettings
from trainforge.node.work_root import without_home, work_root
from trainforge.schemas.runs import EnvironmentSpec
from trainforge.schemas.services import HostState, ServiceState, ServingSpec

LOG_NAME = "logs/scoring.log"
STATE_NAME = "state.json"
# Restarts in a row that never got healthy before the service is Failed (a crash loop).
MAX_FAILED_RESTARTS = 5
ERROR_TAIL = 60  # lines of the log an error carries


class Host:
    def __init__(self, folder: Path, home: Path, workspace: str) -> None:
        self.folder = folder
        self.home = home
        self.workspace = workspace
        self._read_spec()
        self.log_path = folder / LOG_NAME
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.state = HostState(state=ServiceState.TRANSITIONING)
        self.child: subprocess.Popen[bytes] | None = None
        self.user: RunUser | None = None  # whom the scoring process runs as
        self.listener: socket.socket | None = None  # the service's port, held by the host
        self.health_port = 0  # the private port the current scoring process answers on
        self.stopping = False
        self.reloading = False
        self.start_timeout_s = NodeSettings().scoring_start_timeout_s

    # -- reporting --------------------------------------------------------------------
    def say(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"{stamp} [host] {line}\n")

    def report(self, state: ServiceState, error: str | None = None) -> None:
        self.state.state = state
        self.state.error = error
        self.state.updated = time.time()
        self.state.scoring_pid = self.child.pid if self.child is not None else None
        partial = self.folder / f".{STATE_NAME}.partial"
        partial.write_text(self.state.model_dump_json())
        partial.replace(self.folder / STATE_NAME)

    def tail_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if "[host]" not in line]
        return "\n".join(lines[-ERROR_TAIL:])

    # -- the scoring process ----------------------------------------------------------
    def variables(self) -> dict[str, str]:
        """The scoring process's variables: nothing of the server's home, and as the run
        user its own HOME (the service's folder)."""
        python = self.state.python or sys.executable
        env = node_variables_for(
            python, without_home(os.environ, self.home), self.home, self.workspace
        )
        if self.user is not None:
            env.update(HOME=str(self.folder), USER=self.user.name, LOGNAME=self.user.name)
        return env

    def listen(self) -> socket.socket:
        """The service's listening socket, bound once for the host's whole life."""
        return socket.create_server(
            (self.spec.host or "0.0.0.0", self.spec.port), backlog=2048, reuse_port=False
        )

    def start(self, python: str) -> int:
        """Start a scoring process on the service's socket and a health socket of its own
        (``self.health_port``); the log's size before it, where its output begins."""
        assert self.listener is not None
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        user = self.user
        if user is not None:
            # Again at each start: reload/update lay out new files as the server's user.
            hand_over(user, work_root(self.home), self.folder)
        health = socket.create_server(("127.0.0.1", 0))
        self.health_port = health.getsockname()[1]
        fds = (self.listener.fileno(), health.fileno())
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it; closed below
        try:
            self.child = subprocess.Popen(
                [
                    python,
                    "-m",
                    "trainforge.node.scoring",
                    str(self.spec_file),
                    *map(str, fds),
                ],
                cwd=self.spec.app_dir,
                env=self.variables(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                pass_fds=fds,
                user=user.uid if user else None,
                group=user.gid if user else None,
                extra_groups=[] if user else None,
            )
        finally:
            log.close()
            health.close()  # the child's copy serves it
        who = f" as user {user.name}" if user is not None else ""
        self.say(f"scoring process {self.child.pid} started with {python}{who}")
        return offset

    def healthy(self) -> bool:
        """Whether the current scoring process answers GET / on its own health port."""
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.health_port}/", timeout=2.0)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def _address(self) -> str:
        host = "127.0.0.1" if self.spec.host in ("0.0.0.0", "") else self.spec.host
        return f"{host}:{self.spec.port}"

    def wait_healthy(self) -> bool:
        """Whether the scoring process answers GET / before it exits or times out."""
        assert self.child is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline and not self.stopping:
            if self.child.poll() is not None:
                return False
            if self.healthy():
                return True
            time.sleep(0.1)
        return False

    def _python(self) -> str | None:
        """The environment's interpreter (built or reused), and whom it runs as; None when
        it cannot be built or the run user cannot run it (the service is Failed)."""
        try:
            python = (
                interpreter_for(self.environment, self.home, self.workspace, self.log_path)
                if self.environment is not None
                else sys.executable
            )
            self.user, warning = user_for(python, os.environ, "service")
        except (EnvironmentBuildError, RunUserError) as exc:
            self.say(str(exc))
            self.report(ServiceState.FAILED, str(exc))
            return None
        if warning:
            self.say(warning)
        self.state.python = python
        return python

    def _read_spec(self) -> None:
        text = (self.folder / "serving.json").read_text()
        self.spec = ServingSpec.model_validate_json(text)
        # The version's own copy: its processes (a restart, a worker) start from it even
        # after the server wrote the next version's serving.json.
        self.spec_file = self.folder / f"{Path(self.spec.app_dir).name}.serving.json"
        self.spec_file.write_text(text)
        env_file = self.folder / "environment.json"
        self.environment = (
            EnvironmentSpec.model_validate_json(env_file.read_text()) if env_file.exists() else None
        )

    def bring_up(self, python: str, fresh: bool) -> str | None:
        """Start scoring processes until one answers (None) or the start counts as failed:
        at once for a new version (``fresh``), after MAX_FAILED_RESTARTS in a row for a
        restart. Returns why it failed, with the log's tail."""
        failed_in_a_row = 0
        while not self.stopping:
            offset = self.start(python)
            if self.wait_healthy():
                return None
            if self.stopping:
                break
            code = self.stop_child()
            tail = self.tail_since(offset)
            why = (
                "init() failed"
                if code == INIT_FAILED
                else f"the scoring process exited with status {code} before it answered"
                if code is not None
                else f"the scoring process did not answer within {self.start_timeout_s:.0f} s"
            )
            failed_in_a_row += 1
            if fresh or failed_in_a_row >= MAX_FAILED_RESTARTS:
                self.say(f"deployment failed: {why}")
                return f"{why}:\n{tail}"
            self.state.restarts += 1
            self.say(f"{why}; starting it again (restart {self.state.restarts})")
            time.sleep(min(2.0**failed_in_a_row * 0.1, 5.0))
        return None

    def serve(self) -> int:
        self.report(ServiceState.TRANSITIONING)
        try:
            self.listener = self.listen()
        except OSError as exc:
            message = f"the service cannot listen on {self._address()}: {exc}"
            self.say(message)
            self.report(ServiceState.FAILED, message)
            return 1
        python = self._python()
        if python is None:
            return 1
        failure = self.bring_up(python, fresh=True)
        if failure is not None:
            self.report(ServiceState.FAILED, failure)
            return 1
        serving = True  # False after a failed update: the service says Failed meanwhile
        while not self.stopping:
            if serving:
                self.say(f"healthy at http://{self._address()}/score")
                self.report(ServiceState.HEALTHY)
            serving = True
            assert self.child is not None
            while not self.stopping and not self.reloading and self.child.poll() is None:
                time.sleep(0.2)
            if self.stopping:
                break
            if self.reloading:  # new code, models or environment: start from them
                self.reloading = False
                serving = self.update()
                continue
            self.state.restarts += 1
            self.say(
                f"scoring process {self.child.pid} exited with status {self.child.returncode}; "
                f"starting it again (restart {self.state.restarts})"
            )
            self.report(
                ServiceState.UNHEALTHY, f"the scoring process exited ({self.child.returncode})"
            )
            failure = self.bring_up(python, fresh=False)
            if failure is not None:
                self.report(ServiceState.FAILED, failure)
                return 1
        self.stop_child()
        self.say("stopped")
        return 0

    def update(self) -> bool:
        """A new version beside the one serving; the old one stops once the new answers.
        A new version that fails stops, and the old one goes on serving (False)."""
        self.say("reloading: a new scoring process starts from the new files")
        old_child, old_spec, old_user = self.child, self.spec, self.user
        old_spec_file = self.spec_file
        old_health, old_python = self.health_port, self.state.python
        self._read_spec()
        self.report(ServiceState.TRANSITIONING)
        python = self._python()
        failure = None if python is None else self.bring_up(python, fresh=True)
        if python is None or failure is not None:
            # _python said why (and reported it); bring_up left the log's tail.
            error = self.state.error if python is None else failure
            self.child, self.spec, self.user = old_child, old_spec, old_user
            self.spec_file = old_spec_file
            self.health_port, self.state.python = old_health, old_python
            self.say("the new version failed; the previous one goes on serving")
            self.report(ServiceState.FAILED, f"{error}\n(the previous version goes on serving)")
            return False
        new_child = self.child
        self.child = old_child
        self.stop_child()  # it drains: what it accepted is answered
        self.child = new_child
        if old_spec.app_dir != self.spec.app_dir and Path(old_spec.app_dir).parent == self.folder:
            shutil.rmtree(old_spec.app_dir, ignore_errors=True)
            old_spec_file.unlink(missing_ok=True)
        self.say(f"scoring process {new_child.pid if new_child else '-'} took over")
        return True

    def stop_child(self) -> int | None:
        child = self.child
        if child is None:
            return None
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)
        return child.returncode

    def on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self.reloading = True


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    host = Host(Path(args[0]), Path(args[1]), args[2])
    signal.signal(signal.SIGTERM, host.on_signal)
    signal.signal(signal.SIGINT, host.on_signal)
    signal.signal(signal.SIGHUP, host.on_reload)  # the server rewrote the service's files
    try:
        return host.serve()
    except Exception as exc:  # said in the state, so the deployment fails with it
        host.say(f"host failed: {exc!r}")
        host.report(ServiceState.FAILED, f"the service's host failed: {exc!r}")
        raise


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Host", "LOG_NAME", "STATE_NAME"]


def spawn(folder: Path, home: Path, workspace: str) -> tuple[int, float]:
    """Start the host of the service in ``folder`` (in a session of its own, so it outlives
    the control plane's restarts); its pid and start time."""
    import psutil

    (folder / "logs").mkdir(parents=True, exist_ok=True)
    with open(folder / "logs" / "host.log", "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trainforge.node.scoring_host",
                str(folder),
                str(home),
                workspace,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    created = processes.started(psutil.Process(process.pid))  # as processes.find names it
    # Reap it when it ends, so that no zombie stays behind in the control plane.
    threading.Thread(target=process.wait, name=f"reap {process.pid}", daemon=True).start()
    return process.pid, created
