"""The studio's sign-in links."""

from __future__ import annotations

from trainforge.client.http import TrainforgeClient


class StudioApi:
    def __init__(self, client: TrainforgeClient) -> None:
        self.client = client

    def login_link(self, page: str = "/studio/") -> str:
        """A link that signs one browser in as this client, once, within minutes, and
        opens ``page`` of the studio."""
        return str(self.client.post("/studio/login-links", next=page)["url"])
