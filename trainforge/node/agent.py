"""``python -m trainforge.node.agent``: one node of a cluster on the local backend.

The agent heartbeats to the control plane; each reply says which assignments to start,
which to stop, and whether the node must leave. It starts one launcher per assignment,
reports when a launcher's process ends, and stops launchers it is told to stop (SIGTERM,
then the whole process tree after a grace period). On SIGTERM it leaves.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil

from trainforge import processes
from trainforge.client.api.agents import AgentsApi
from trainforge.client.http import ApiError, Endpoint, TrainforgeClient
from trainforge.node import launcher as _launcher  # noqa: F401  imported once, before any fork
from trainforge.node.launch import ForkedProcess, fork_launcher
from trainforge.node.settings import AgentSettings
from trainforge.schemas.backend import LaunchRequest
from trainforge.schemas.compute import AssignmentSpec, Heartbeat, HeartbeatReply, LauncherReport
from trainforge.schemas.server_state import ProcessRecord, read_state, write_pid_file

log = logging.getLogger("trainforge.agent")
STOP_GRACE_S = 10.0
IDLE_PAUSE_S = 0.2


@dataclass
class Launcher:
    process: ForkedProcess
    stop_sent: float | None = None


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.workspace = settings.workspace
        self.node_id = settings.node_id
        self.node_dir = settings.node_dir
        self.home = settings.home
        token = settings.agent_token

        def refresh() -> tuple[str, str] | None:
            state = read_state(self.home)
            return (state.address, token) if state else None

        # retry_s=None: while the control plane is away the agent keeps its launchers
        # going and heartbeats again, however long that takes, trying every second so a
        # restarted server hears it well within its heartbeat timeout.
        self.client = TrainforgeClient(
            Endpoint(settings.endpoint, token, refresh),
            timeout=30,
            retry_s=None,
            max_backoff_s=1.0,
        )
        self.launchers: dict[int, Launcher] = {}
        self.leaving = False
        self.address = settings.node_addr
        self.resources = settings.node_resources

    def start(self, spec: AssignmentSpec) -> None:
        if spec.assignment_id in self.launchers:
            return
        request = LaunchRequest(
            run_id=spec.run_id,
            workspace_name=self.workspace,
            attempt=spec.attempt,
            assignment_id=spec.assignment_id,
            node_rank=spec.node_rank,
            node_count=spec.node_count,
            node_id=self.node_id,
            master_addr=spec.master_addr,
            master_port=spec.master_port,
            endpoint=self.client.address,
            run_token=spec.run_token,
            home=self.home,
            node_dir=self.node_dir / "runs" / f"{spec.run_id}.{spec.attempt}",
            node_addr=self.address or "127.0.0.1",
            resources=self.resources,
            context=spec.context,
        )
        log.info("starting assignment %s of run %s", spec.assignment_id, spec.run_id)
        self.launchers[spec.assignment_id] = Launcher(fork_launcher(request))

    def stop(self, assignment_id: int) -> None:
        launcher = self.launchers.get(assignment_id)
        if launcher is None or launcher.process.poll() is not None:
            return
        now = time.monotonic()
        if launcher.stop_sent is None:
            log.info("stopping assignment %s", assignment_id)
            launcher.process.send_signal(signal.SIGTERM)
            launcher.stop_sent = now
        elif now - launcher.stop_sent > STOP_GRACE_S:
            try:
                processes.kill_tree(psutil.Process(launcher.process.pid))
            except psutil.Error:
                pass

    def report(self) -> Heartbeat:
        reports = []
        for assignment_id, launcher in self.launchers.items():
            code = launcher.process.poll()
            reports.append(
                LauncherReport(assignment_id=assignment_id, alive=code is None, exit_code=code)
            )
        return Heartbeat(launchers=reports, address=self.address)

    def forget_ended(self, sent: Heartbeat) -> None:
        for item in sent.launchers:
            if not item.alive:
                self.launchers.pop(item.assignment_id, None)

    def beat(self) -> HeartbeatReply:
        sent = self.report()
        reply = AgentsApi(self.client, self.workspace).heartbeat(self.node_id, sent)
        self.forget_ended(sent)
        return reply

    def run(self) -> int:
        while True:
            asked = time.monotonic()
            try:
                reply = self.beat()
            except ApiError as exc:
                if exc.status_code == 404:
                    log.info("the control plane no longer knows this node: %s", exc.message)
                    self.leave()
                    return 0
                log.warning("heartbeat refused: %s", exc.message)
                time.sleep(1)
                continue
            for spec in reply.start:
                self.start(spec)
            for assignment_id in reply.stop:
                self.stop(assignment_id)
            if reply.leave or self.leaving:
                self.leave()
                return 0
            # The server holds a beat with nothing to say for up to a second, so an empty
            # answer after that wait is followed at once by the next beat (a run queued
            # meanwhile starts now, not after a pause). An acknowledgement of ended
            # launchers is followed at once too: the next beat is such a wait. Only an
            # answer that came back at once with nothing new (stop again, or an older
            # server's empty answer) waits a moment, so nothing spins.
            quick = time.monotonic() - asked < IDLE_PAUSE_S
            if quick and not (reply.start or reply.acknowledged):
                time.sleep(IDLE_PAUSE_S)

    def leave(self) -> None:
        """Stop what still runs here, then go."""
        for assignment_id in list(self.launchers):
            self.stop(assignment_id)
        deadline = time.monotonic() + STOP_GRACE_S
        for launcher in self.launchers.values():
            try:
                launcher.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                processes.kill_tree(psutil.Process(launcher.process.pid))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s agent %(levelname)s %(message)s")
    agent = Agent(AgentSettings())  # type: ignore[call-arg]  # the fields come from the environment
    signal.signal(signal.SIGTERM, lambda *_: setattr(agent, "leaving", True))
    # Found by ``trainforge down --all`` even while the control plane is away.
    me = psutil.Process()
    pid_file = write_pid_file(
        agent.home, ProcessRecord(pid=me.pid, pid_create_time=processes.started(me))
    )
    try:
        return agent.run()
    finally:
        pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
