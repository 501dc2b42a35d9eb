"""The client's token is an httpx.Auth: a 401 makes it read the server's token again (a
restarted server has a new one) and send the request again, bodies and file streams alike."""

from __future__ import annotations

import io

import httpx

from tests.inprocess import TOKEN, Api, api_fixture  # noqa: F401  (the fixture)
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.client.api.files import FilesApi
from trainforge.client.api.runs import RunsApi
from trainforge.client.api.secrets import SecretsApi
from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.schemas.runs import RunCreate
from trainforge.schemas.workspaces import SecretValue


class InProcess(httpx.BaseTransport):
    """Hands each request to the in-process server and counts what it answered."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        answer = self.api.client.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content,
            headers=dict(request.headers),
        )
        self.statuses.append(answer.status_code)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def test_a_refused_token_is_read_again_and_the_request_sent_again(api: Api) -> None:
    api.workspace("ws-auth")
    transport = InProcess(api)
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
