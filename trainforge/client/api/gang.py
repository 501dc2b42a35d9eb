"""The gang meeting point of a run's attempt: endpoints of every node, and daemon
commands passed between nodes (see ``trainforge.server.services.gang``)."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.gang import (
    EndpointsPublish,
    GangEndpoints,
    NodeCommand,
    NodeCommandCreate,
    NodeCommandUpdate,
)


class GangApi(WorkspaceResource):
    def path(self, run_id: str, attempt: int) -> str:
        return f"{self.base}/runs/{run_id}/attempts/{attempt}"

    def publish(self, run_id: str, attempt: int, node_rank: int, body: EndpointsPublish) -> None:
        self.client.put(
            f"{self.path(run_id, attempt)}/nodes/{node_rank}/endpoints",
            body.model_dump(mode="json"),
        )

    def endpoints(self, run_id: str, attempt: int, wait: float) -> GangEndpoints:
        return GangEndpoints.model_validate(
            self.client.get(f"{self.path(run_id, attempt)}/endpoints", wait=wait)
        )

    def post_command(
        self, run_id: str, attempt: int, node_rank: int, body: NodeCommandCreate
    ) -> NodeCommand:
        return NodeCommand.model_validate(
            self.client.post(
                f"{self.path(run_id, attempt)}/nodes/{node_rank}/commands",
                body.model_dump(mode="json"),
            )
        )

    def commands(self, run_id: str, attempt: int, node_rank: int, wait: float) -> list[NodeCommand]:
        found = self.client.get(
            f"{self.path(run_id, attempt)}/nodes/{node_rank}/commands", wait=wait
        )
        return [NodeCommand.model_validate(item) for item in found]

    def command(self, run_id: str, attempt: int, command_id: int, wait: float) -> NodeCommand:
        return NodeCommand.model_validate(
            self.client.get(f"{self.path(run_id, attempt)}/commands/{command_id}", wait=wait)
        )

    def update_command(
        self, run_id: str, attempt: int, command_id: int, body: NodeCommandUpdate
    ) -> None:
        self.client.patch(
            f"{self.path(run_id, attempt)}/commands/{command_id}", body.model_dump(mode="json")
        )
