"""What node agents say to the control plane: heartbeats, which bring back assignments."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.compute import Heartbeat, HeartbeatReply


class AgentsApi(WorkspaceResource):
    def heartbeat(self, node_id: str, beat: Heartbeat) -> HeartbeatReply:
        """Report the node's launchers; the answer holds its new assignments and orders."""
        return HeartbeatReply.model_validate(
            self.client.post(f"{self.base}/agents/{node_id}/heartbeat", beat.model_dump())
        )
