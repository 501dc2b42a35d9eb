"""The client's token is an httpx.Auth: a 401 makes it read the server's token again (a
restarted server has a new one) and send the request again, bodies and file streams alike."""

from __future__ import annotations

import io

from tests.inprocess import TOKEN, Api, InProcessTransport, api_fixture  # noqa: F401  (the fixture)
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.client.api.files import FilesApi
from trainforge.client.api.runs import RunsApi
from trainforge.client.api.secrets import SecretsApi
from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.schemas.runs import RunCreate
from trainforge.schemas.workspaces import SecretValue


def test_a_refused_token_is_read_again_and_the_request_sent_again(api: Api) -> None:
    api.workspace("ws-auth")
    transport = InProcessTransport(api)
    refreshed: list[bool] = []

    def refresh() -> tuple[str, str]:
        refreshed.append(True)
        return ("http://testserver", TOKEN)

    client = TrainforgeClient(
        Endpoint("http://testserver", "the-token-of-a-server-gone", refresh), transport=transport
    )
    secrets = SecretsApi(client, "ws-auth")
    secrets.set("key", SecretValue(value="v"))  # a JSON body, sent again by the auth flow
    assert secrets.get("key").value == "v"
    assert transport.statuses[:2] == [401, 204] and refreshed == [True]
    # A file stream cannot be sent again from inside the auth flow: the retry policy does.
    client.endpoint.token = "stale-again"
    runs = RunsApi(client, "ws-auth")
    run = runs.create("exp", RunCreate(kind="interactive"))
    client.endpoint.token = "stale-once-more"
    files = FilesApi(client, "ws-auth")
    files.upload(run.run_id, "outputs/a.txt", io.BytesIO(b"hello"))
    assert files.read(run.run_id, "outputs/a.txt") == b"hello"
    assert transport.statuses.count(401) == 3
