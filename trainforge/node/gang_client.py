"""A launcher's side of the gang meeting point: publish endpoints, wait for the others,
and pass daemon commands between nodes (see ``trainforge.server.services.gang``)."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from trainforge.client.api.gang import GangApi
from trainforge.client.http import TrainforgeClient
from trainforge.schemas.gang import (
    EndpointsPublish,
    GangEndpoints,
    NodeCommand,
    NodeCommandCreate,
    NodeCommandUpdate,
    TaskEndpoint,
)

# Long polls return at once when what they wait for happens; this bounds how late a
# launcher notices that it was asked to stop while waiting.
POLL_S = 5.0


class GangTimeout(Exception):
    """The other nodes of the gang did not publish in time."""


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux: 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _listen_socket(host: str) -> socket.socket:
    """A socket bound to a free port below the ephemeral range: once released for the task
    to bind, no outgoing connection of the host (HTTP clients, the task's peers) can take it
    meanwhile, as one may take a port of the ephemeral range."""
    floor = _ephemeral_floor()
    for _ in range(200):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind((host, random.randrange(20000, max(floor, 20001))))
            return probe
        except OSError:
            probe.close()
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind((host, 0))
    return probe


class PortReservation:
    """Free ports on this node's address, held open until the processes that use them start.

    Nodes of the local backend share one host: holding the sockets keeps the ports
    from being handed to another node's launcher in the meantime.
    """

    def __init__(self, host: str, count: int) -> None:
        self.host = host
        self._sockets: list[socket.socket] = []
        for _ in range(count):
            self._sockets.append(_listen_socket(host))
        self.ports = [probe.getsockname()[1] for probe in self._sockets]

    def release(self) -> None:
        for probe in self._sockets:
            probe.close()
        self._sockets = []


class GangClient:
    def __init__(self, client: TrainforgeClient, workspace: str, run_id: str, attempt: int) -> None:
        self.api = GangApi(client, workspace)
        self.run_id = run_id
        self.attempt = attempt

    # -- endpoints ----------------------------------------------------------------------
    def publish(self, node_rank: int, endpoints: list[TaskEndpoint]) -> None:
        self.api.publish(
            self.run_id, self.attempt, node_rank, EndpointsPublish(endpoints=endpoints)
        )

    def wait_for_all(
        self, timeout_s: float, stop: threading.Event, clock: Callable[[], float]
    ) -> GangEndpoints:
        """Every node's endpoints, once all have published (long polls)."""
        deadline = clock() + timeout_s
        while True:
            if stop.is_set():
                raise GangTimeout("the run was stopped while waiting for the other nodes")
            gang = self.api.endpoints(self.run_id, self.attempt, POLL_S)
            if gang.complete:
                return gang
            if clock() >= deadline:
                missing = sorted(
                    set(range(gang.node_count)) - {node.node_rank for node in gang.nodes}
                )
                raise GangTimeout(
                    f"nodes {missing} of the run did not say where their tasks listen "
                    f"within {timeout_s:.0f} s"
                )

    # -- node commands ------------------------------------------------------------------
    def post_command(self, node_rank: int, command: str) -> NodeCommand:
        return self.api.post_command(
            self.run_id, self.attempt, node_rank, NodeCommandCreate(command=command)
        )

    def posted_commands(self, node_rank: int, wait_s: float = POLL_S) -> list[NodeCommand]:
        return self.api.commands(self.run_id, self.attempt, node_rank, wait_s)

    def wait_command(self, command_id: int, wait_s: float = POLL_S) -> NodeCommand:
        return self.api.command(self.run_id, self.attempt, command_id, wait_s)

    def update_command(self, command_id: int, state: str, exit_code: int | None = None) -> None:
        body = NodeCommandUpdate(state=state, exit_code=exit_code)  # type: ignore[arg-type]
        self.api.update_command(self.run_id, self.attempt, command_id, body)
