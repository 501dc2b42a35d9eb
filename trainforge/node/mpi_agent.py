"""``python -m trainforge.node.mpi_agent HOST COMMAND...``: Open MPI's ``plm_rsh_agent``.

mpirun calls it as it would call ssh, to start its daemon on another node. It posts the
command to the control plane for the node that ``HOST`` names; that node's launcher
runs it among its own processes. The agent lives as long as the daemon does and exits
with its status, as ssh would.
"""

from __future__ import annotations

import sys

from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.node.gang_client import GangClient
from trainforge.node.mpi import node_rank_of
from trainforge.schemas.settings import RunContext


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m trainforge.node.mpi_agent HOST COMMAND...", file=sys.stderr)
        return 2
    host, words = argv[0], argv[1:]
    try:
        node_rank = node_rank_of(host)
    except ValueError as exc:
        print(f"trainforge mpi agent: {exc}", file=sys.stderr)
        return 255
    # The daemon must stay a child of its node's launcher, so it may not detach.
    # The words form one shell line, as ssh would hand it to the remote shell.
    command = " ".join(word for word in words if word != "--daemonize")
    context = RunContext()
    attempt = context.run_attempt
    missing = context.missing() + ([] if attempt else ["TRAINFORGE_RUN_ATTEMPT"])
    if missing or attempt is None:
        print(f"trainforge mpi agent: not in a run ({', '.join(missing)} not set)", file=sys.stderr)
        return 255
    # Part of a run: it waits out an outage of the control plane, however long.
    client = TrainforgeClient(Endpoint(context.service_endpoint, context.run_token), retry_s=None)
    gang = GangClient(client, context.workspace_name, context.run_id, attempt)
    posted = gang.post_command(node_rank, command)
    while True:
        state = gang.wait_command(posted.id)
        if state.state == "ended":
            return 255 if state.exit_code is None else state.exit_code & 0xFF


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
