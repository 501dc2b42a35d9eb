"""MPI daemons that mpirun on the first node asks this node to run, picked up from the
control plane by a background thread and started by the launcher's own loop."""

from __future__ import annotations

import logging
import queue
import threading

from trainforge.client.http import ApiError
from trainforge.node.gang_client import GangClient
from trainforge.schemas.gang import NodeCommand

log = logging.getLogger("trainforge.launcher")


class DaemonInbox:
    def __init__(self, gang: GangClient, node_rank: int, stop: threading.Event) -> None:
        self.gang = gang
        self.node_rank = node_rank
        self.stop = stop
        self.arrived: queue.Queue[NodeCommand] = queue.Queue()
        self._thread = threading.Thread(target=self._listen, name="mpi-daemons", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _listen(self) -> None:
        while not self.stop.is_set():
            try:
                for command in self.gang.posted_commands(self.node_rank):
                    self.gang.update_command(command.id, "running")
                    self.arrived.put(command)
            except ApiError as exc:
                # 409: the attempt ended; the launcher hears of it through its stop signal.
                log.warning("stopped listening for MPI daemons: %s", exc)
                return
            except Exception:
                log.exception("could not read MPI daemon commands; retrying")
                self.stop.wait(1.0)

    def take(self) -> list[NodeCommand]:
        found: list[NodeCommand] = []
        while True:
            try:
                found.append(self.arrived.get_nowait())
            except queue.Empty:
                return found

    def ended(self, command_id: int, exit_code: int) -> None:
        try:
            self.gang.update_command(command_id, "ended", exit_code)
        except ApiError as exc:
            log.warning("could not report the end of MPI daemon %s: %s", command_id, exc)
