"""One rule, three doors: a bad cluster setting is refused the same way by the SDK
(ComputeTargetException), the REST API (a 4xx) and the CLI (exit 1), each naming the field.

The control plane runs in-process (FastAPI's TestClient) and the CLI in Typer's CliRunner:
what is checked is how bad input is answered, and no real process is needed for that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from trainforge.cli.main import app as cli_app
from trainforge.core.compute import AmlCompute
from trainforge.exceptions import ComputeTargetException
from trainforge.server.app import create_app
from trainforge.server.settings import ServerSettings

TOKEN = "test-token"
WS = "/api/v1/workspaces/rules"

# (field named in every refusal, SDK arguments, REST body fields, CLI options or None)
BAD: list[tuple[str, dict[str, Any], dict[str, Any], list[str] | None]] = [
    ("vm_priority", {"vm_priority": "spot"}, {"vm_priority": "spot"}, ["--vm-priority", "spot"]),
    (
        "max_nodes",
        {"min_nodes": 3, "max_nodes": 2},
        {"scale_settings": {"min_nodes": 3, "max_nodes": 2}},
        ["--min-nodes", "3", "--max-nodes", "2"],
    ),
    (
        "idle_seconds_before_scaledown",
        {"idle_seconds_before_scaledown": "five minutes"},
        {"scale_settings": {"idle_seconds_before_scaledown": "five minutes"}},
        None,  # the CLI's option is an int: Click refuses the text itself
    ),
    (
        "admin_user_password",
        {"admin_username": "azureuser", "admin_user_password": "password"},
        {"settings": {"admin_username": "azureuser", "admin_user_password": "password"}},
        None,
    ),
    (
        "admin_username",
        {"admin_username": "azureuser"},
        {"settings": {"admin_username": "azureuser"}},
        None,
    ),
    (
        "subnet_name",
        {"vnet_name": "v", "vnet_resourcegroup_name": "rg"},
        {"settings": {"vnet_name": "v", "vnet_resourcegroup_name": "rg"}},
        None,
    ),
    (
        "identity_id",
        {"identity_type": "UserAssigned"},
        {"settings": {"identity_type": "UserAssigned"}},
        None,
    ),
    (
        "remote_login_port_public_access",
        {"remote_login_port_public_access": "Open"},
        {"settings": {"remote_login_port_public_access": "Open"}},
        None,
    ),
    (
        "ray_address",
        {"backend": "ray"},
        {"backend": "ray", "vm_size": "STANDARD_D2_V2"},
        None,
    ),
    (
        "ray_address",  # host:port, as RayCompute.attach_configuration(address=...) checks it
        {"backend": "ray", "ray_address": "head-node"},
        {"backend": "ray", "settings": {"ray_address": "head-node"}},
        None,
    ),
]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    home = tmp_path / "home"
    home.mkdir()
    settings = ServerSettings(
        home=home, token=TOKEN, signing_key=b"k" * 32, endpoint="http://127.0.0.1:1"
    )
    server = create_app(settings)
    client = TestClient(
        server, raise_server_exceptions=False, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert client.post("/api/v1/workspaces", json={"name": "rules"}).status_code == 201
    try:
        yield client
    finally:
        server.state.plane.close()


def _refused(reply: Any, field: str) -> str:
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text)
    message = reply.json()["error"]["message"]
    assert field in message, message
    return str(message)


@pytest.mark.parametrize(("field", "sdk", "rest", "cli"), BAD, ids=[case[0] for case in BAD])
def test_the_sdk_the_rest_api_and_the_cli_refuse_the_same_setting(
    api: TestClient,
    field: str,
    sdk: dict[str, Any],
    rest: dict[str, Any],
    cli: list[str] | None,
) -> None:
    with pytest.raises(ComputeTargetException) as caught:
        AmlCompute.provisioning_configuration(**sdk)
    assert field in caught.value.message, caught.value.message

    _refused(api.post(f"{WS}/computes", json={"name": "c1", **rest}), field)
    assert api.get(f"{WS}/computes").json() == []  # nothing half-made

    if cli is not None:
        result = CliRunner().invoke(cli_app, ["compute", "create", "c1", *cli, "-w", "rules"])
        assert result.exit_code == 1, result.output
        assert "ComputeTargetException" in result.output and field in result.output


def test_a_password_is_checked_by_the_server_and_never_stored(api: TestClient) -> None:
    settings = {"admin_username": "azureuser", "admin_user_password": "Passw0rd!"}
    created = api.post(f"{WS}/computes", json={"name": "c1", "settings": settings})
    assert created.status_code == 201, created.text
    shown = api.get(f"{WS}/computes/c1")
    assert shown.json()["settings"]["admin_user_password_set"] is True
    assert "Passw0rd!" not in created.text + shown.text


def test_unknown_settings_are_refused_naming_them(api: TestClient) -> None:
    reply = api.post(f"{WS}/computes", json={"name": "c1", "settings": {"vnet": "v"}})
    assert reply.status_code == 422
    assert "settings.vnet" in _refused(reply, "vnet")


def test_an_update_below_min_nodes_is_refused_naming_max_nodes(api: TestClient) -> None:
    body = {"name": "c1", "scale_settings": {"min_nodes": 2, "max_nodes": 3}}
    assert api.post(f"{WS}/computes", json=body).status_code == 201
    _refused(api.patch(f"{WS}/computes/c1", json={"max_nodes": 1}), "max_nodes")
    assert api.get(f"{WS}/computes/c1").json()["scale_settings"]["max_nodes"] == 3


def test_sdk_and_rest_fill_the_same_defaults(api: TestClient) -> None:
    config = AmlCompute.provisioning_configuration()
    created = api.post(f"{WS}/computes", json={"name": "c1"}).json()
    assert created["vm_size"] == config.vm_size == "STANDARD_NC6"
    assert created["vm_priority"] == config.vm_priority == "dedicated"
    assert created["scale_settings"] == {
        "min_nodes": config.min_nodes,
        "max_nodes": config.max_nodes,
        "idle_seconds_before_scaledown": config.idle_seconds_before_scaledown,
        "node_deallocation_option": "waitforjobcompletion",
    }
    assert created["settings"]["remote_login_port_public_access"] == "NotSpecified"
