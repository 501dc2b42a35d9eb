"""Workspace, config.json, datastores and the key vault, against the real control plane.

Each check is what a user of ``azureml.core.Workspace`` relies on (see
shared/reference/azureml-v1.md section 1).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from trainforge.core import Datastore, Experiment, Keyvault, Run, Workspace
from trainforge.exceptions import (
    KeyVaultException,
    ProjectSystemException,
    UserErrorException,
)

ARM_TYPE = "Microsoft.MachineLearningServices/workspaces"


def _unique(prefix: str = "ws") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _arm_id(ws: Workspace) -> str:
    return (
        f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}"
        f"/providers/{ARM_TYPE}/{ws.name}"
    )


def _portal_config(ws: Workspace) -> dict[str, str]:
    return {
        "subscription_id": ws.subscription_id,
        "resource_group": ws.resource_group,
        "workspace_name": ws.name,
    }


def _scope_config(ws: Workspace) -> dict[str, object]:
    return {"Id": None, "Scope": _arm_id(ws)}


def _write(path: Path, content: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


@pytest.fixture(scope="module")
def other_ws(tf_home: Path) -> Workspace:
    """A second workspace, so config tests can tell which file was read."""
    return Workspace.create(_unique("other"), exist_ok=True, show_output=False)


# -- create / load -------------------------------------------------------------------------
def test_create_new_workspace_with_explicit_scope(tf_home: Path) -> None:
    name = _unique()
    ws = Workspace.create(
        name,
        subscription_id="11111111-2222-3333-4444-555555555555",
        resource_group=f"{name}-group",
        location="westeurope",
        show_output=False,
    )
    assert isinstance(ws, Workspace)
    assert ws.name == name
    assert ws.subscription_id == "11111111-2222-3333-4444-555555555555"
    assert ws.resource_group == f"{name}-group"
    assert ws.location == "westeurope"


def test_create_defaults_fill_subscription_resource_group_and_location(tf_home: Path) -> None:
    ws = Workspace.create(_unique(), show_output=False)
    assert isinstance(ws.subscription_id, str) and ws.subscription_id
    assert isinstance(ws.resource_group, str) and ws.resource_group
    assert isinstance(ws.location, str) and ws.location


def test_create_exist_ok_true_returns_the_same_workspace(tf_home: Path) -> None:
    name = _unique()
    first = Workspace.create(name, show_output=False)
    second = Workspace.create(name, exist_ok=True, show_output=False)
    assert second == first
    assert second.get_details()["workspaceid"] == first.get_details()["workspaceid"]
    assert (second.subscription_id, second.resource_group) == (
        first.subscription_id,
        first.resource_group,
    )


def test_create_existing_without_exist_ok_raises_user_error(tf_home: Path) -> None:
    name = _unique()
    Workspace.create(name, show_output=False)
    with pytest.raises(UserErrorException) as info:
        Workspace.create(name, exist_ok=False, show_output=False)
    assert name in str(info.value)
    assert "exist" in str(info.value)


@pytest.mark.parametrize("bad", ["w", "ab", "-abc", "_abc", "a" * 34, "a" * 40, "bad name", "ws!x"])
def test_create_with_invalid_name_raises_naming_the_rule(tf_home: Path, bad: str) -> None:
    with pytest.raises(UserErrorException) as info:
        Workspace.create(bad, show_output=False)
    message = str(info.value)
    assert "name" in message.lower()
    assert repr(bad) in message or bad in message
    # The message states the rule: length bounds and allowed characters.
    assert "3 to 33" in message
    assert "letter or digit" in message
    assert not Workspace.list().get(bad)


@pytest.mark.parametrize("good", ["abc", "a" * 33, "A1_b-2"])
def test_create_with_boundary_valid_names(tf_home: Path, good: str) -> None:
    ws = Workspace.create(good, exist_ok=True, show_output=False)
    assert ws.name == good


def test_constructor_loads_existing_workspace(ws: Workspace) -> None:
    loaded = Workspace(ws.subscription_id, ws.resource_group, ws.name)
    assert loaded == ws
    assert loaded.name == "test-ws"
    assert loaded.get_details()["workspaceid"] == ws.get_details()["workspaceid"]


def test_update_changes_name_description_and_tags(ws: Workspace) -> None:
    details = ws.update(friendly_name="Team ML", tags={"team": "vision"})
    assert (details["friendlyName"], details["tags"]) == ("Team ML", {"team": "vision"})
    loaded = Workspace(ws.subscription_id, ws.resource_group, ws.name)
    assert loaded.tags == {"team": "vision"}
    # What is not given stays as it was.
    assert loaded.update(description="shared")["friendlyName"] == "Team ML"
    assert loaded.get_details()["description"] == "shared"
    assert loaded.tags == {"team": "vision"}


def test_constructor_with_wrong_resource_group_raises_project_system_exception(
    ws: Workspace,
) -> None:
    with pytest.raises(ProjectSystemException) as info:
        Workspace(ws.subscription_id, "no-such-group", ws.name)
    assert isinstance(info.value, UserErrorException)
    assert ws.name in str(info.value)
    assert "no-such-group" in str(info.value)


def test_constructor_with_wrong_subscription_raises_project_system_exception(
    ws: Workspace,
) -> None:
    with pytest.raises(ProjectSystemException):
        Workspace("99999999-9999-9999-9999-999999999999", ws.resource_group, ws.name)


def test_constructor_with_unknown_name_raises_project_system_exception(ws: Workspace) -> None:
    missing = _unique("missing")
    with pytest.raises(ProjectSystemException) as info:
        Workspace(ws.subscription_id, ws.resource_group, missing)
    assert isinstance(info.value, UserErrorException)
    assert missing in str(info.value)


def test_get_by_name_and_with_scope(ws: Workspace) -> None:
    assert Workspace.get("test-ws") == ws
    assert (
        Workspace.get(
            "test-ws", subscription_id=ws.subscription_id, resource_group=ws.resource_group
        )
        == ws
    )
    with pytest.raises(ProjectSystemException):
        Workspace.get(_unique("missing"))
    with pytest.raises(ProjectSystemException):
        Workspace.get("test-ws", resource_group="not-its-group")


def test_list_returns_name_to_list_of_workspaces(ws: Workspace) -> None:
    name = _unique()
    group = f"{name}-only-group"
    created = Workspace.create(name, resource_group=group, show_output=False)

    found = Workspace.list(ws.subscription_id)
    assert isinstance(found, dict)
    assert "test-ws" in found and name in found
    for key, workspaces in found.items():
        assert isinstance(workspaces, list) and workspaces
        assert all(isinstance(item, Workspace) and item.name == key for item in workspaces)
    assert found["test-ws"] == [ws]

    in_group = Workspace.list(created.subscription_id, resource_group=group)
    assert list(in_group) == [name]
    assert in_group[name] == [created]

    assert Workspace.list("99999999-9999-9999-9999-999999999999") == {}


# -- properties and details ------------------------------------------------------------------
def test_properties(ws: Workspace) -> None:
    assert ws.name == "test-ws"
    assert isinstance(ws.location, str) and ws.location
    assert isinstance(ws.subscription_id, str) and ws.subscription_id
    assert isinstance(ws.resource_group, str) and ws.resource_group


def test_get_details_keys_and_values(ws: Workspace) -> None:
    details = ws.get_details()
    for key in (
        "id",
        "name",
        "location",
        "type",
        "tags",
        "workspaceid",
        "description",
        "friendlyName",
        "creationTime",
        "keyVault",
        "storageAccount",
        "containerRegistry",
        "applicationInsights",
        "identityPrincipalId",
        "identityTenantId",
        "identityType",
        "sku",
        "hbiWorkspace",
        "imageBuildCompute",
        "systemDatastoresAuthMode",
    ):
        assert key in details, key
    assert details["id"] == _arm_id(ws)
    assert details["name"] == "test-ws"
    assert details["location"] == ws.location
    assert details["type"] == ARM_TYPE
    assert str(uuid.UUID(details["workspaceid"])) == details["workspaceid"]
    created = datetime.fromisoformat(details["creationTime"])
    assert created.tzinfo is not None
    assert details["keyVault"].startswith(
        f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/providers/"
    )
    assert details["storageAccount"].startswith(
        f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/providers/"
    )
    json.dumps(details)  # plain JSON, as printed by the CLI


def test_repr_is_the_sdk_form(ws: Workspace) -> None:
    assert repr(ws) == (
        f"Workspace.create(name='test-ws', subscription_id='{ws.subscription_id}', "
        f"resource_group='{ws.resource_group}')"
    )


# -- write_config ----------------------------------------------------------------------------
def test_write_config_writes_scope_form_into_dot_azureml(ws: Workspace, tmp_path: Path) -> None:
    ws.write_config(path=str(tmp_path))
    written = tmp_path / ".azureml" / "config.json"
    assert written.is_file()
    assert json.loads(written.read_text()) == {"Id": None, "Scope": _arm_id(ws)}
    assert not (tmp_path / "aml_config").exists()


def test_write_config_defaults_to_cwd(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ws.write_config()
    assert json.loads((tmp_path / ".azureml" / "config.json").read_text())["Scope"] == _arm_id(ws)


def test_write_config_uses_existing_aml_config_folder(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "aml_config").mkdir()
    ws.write_config(path=str(tmp_path))
    written = tmp_path / "aml_config" / "config.json"
    assert json.loads(written.read_text()) == {"Id": None, "Scope": _arm_id(ws)}
    assert not (tmp_path / ".azureml").exists()


def test_write_config_keeps_legacy_project_json(ws: Workspace, tmp_path: Path) -> None:
    legacy = _write(tmp_path / "aml_config" / "project.json", {"old": True})
    ws.write_config(path=str(tmp_path))
    assert json.loads(legacy.read_text()) == {"Id": None, "Scope": _arm_id(ws)}
    assert not (tmp_path / "aml_config" / "config.json").exists()


def test_write_config_file_name_gets_json_suffix(ws: Workspace, tmp_path: Path) -> None:
    ws.write_config(path=str(tmp_path), file_name="myconfig")
    assert (tmp_path / ".azureml" / "myconfig.json").is_file()
    assert not (tmp_path / ".azureml" / "config.json").exists()
    ws.write_config(path=str(tmp_path), file_name="other.json")
    assert (tmp_path / ".azureml" / "other.json").is_file()
    assert not (tmp_path / ".azureml" / "other.json.json").exists()


def test_write_config_then_from_config_round_trip(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write_config(path=str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert Workspace.from_config() == ws


# -- from_config -----------------------------------------------------------------------------
def test_from_config_portal_form(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = _write(tmp_path / "config.json", _portal_config(ws))
    monkeypatch.chdir(tmp_path)
    loaded = Workspace.from_config()
    assert loaded == ws
    assert loaded.name == "test-ws"
    assert f"Found the config file in: {path}" in capsys.readouterr().out


def test_from_config_scope_form(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / ".azureml" / "config.json", _scope_config(ws))
    monkeypatch.chdir(tmp_path)
    assert Workspace.from_config() == ws


def test_from_config_accepts_extra_keys(ws: Workspace, tmp_path: Path) -> None:
    _write(tmp_path / "config.json", {**_portal_config(ws), "store_root": "/somewhere"})
    assert Workspace.from_config(path=str(tmp_path)) == ws


def test_from_config_dot_azureml_beats_aml_config_beats_bare(
    ws: Workspace, other_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "config.json", _portal_config(other_ws))
    assert Workspace.from_config() == other_ws

    _write(tmp_path / "aml_config" / "config.json", _portal_config(ws))
    assert Workspace.from_config() == ws  # aml_config/ beats the bare file

    _write(tmp_path / "aml_config" / "config.json", _portal_config(other_ws))
    _write(tmp_path / ".azureml" / "config.json", _scope_config(ws))
    assert Workspace.from_config() == ws  # .azureml/ beats aml_config/


def test_from_config_dot_azureml_in_parent_beats_aml_config_in_cwd(
    ws: Workspace, other_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK walks all the way up for .azureml/ before it looks at aml_config/.
    _write(tmp_path / ".azureml" / "config.json", _scope_config(ws))
    sub = tmp_path / "project"
    _write(sub / "aml_config" / "config.json", _portal_config(other_ws))
    _write(sub / "config.json", _portal_config(other_ws))
    monkeypatch.chdir(sub)
    assert Workspace.from_config() == ws


def test_from_config_config_json_beats_project_json(
    ws: Workspace, other_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / ".azureml" / "project.json", _portal_config(other_ws))
    assert Workspace.from_config() == other_ws  # legacy project.json is found
    _write(tmp_path / ".azureml" / "config.json", _portal_config(ws))
    assert Workspace.from_config() == ws


def test_from_config_found_walking_up_from_a_subfolder(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "aml_config" / "config.json", _portal_config(ws))
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Workspace.from_config() == ws
    # and from an explicit starting folder
    assert Workspace.from_config(path=str(deep)) == ws


def test_from_config_path_to_a_file_is_used_directly(
    ws: Workspace, other_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / ".azureml" / "config.json", _scope_config(other_ws))
    direct = _write(tmp_path / "elsewhere" / "my-settings.json", _portal_config(ws))
    monkeypatch.chdir(tmp_path)
    assert Workspace.from_config(path=str(direct)) == ws


def test_from_config_missing_keys_raise_naming_them(ws: Workspace, tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", {"subscription_id": ws.subscription_id})
    with pytest.raises(UserErrorException) as info:
        Workspace.from_config(path=str(path))
    message = str(info.value)
    assert "resource_group" in message
    assert "workspace_name" in message
    assert "required parameters" in message


def test_from_config_without_any_config_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tf_home: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    with pytest.raises(UserErrorException) as info:
        Workspace.from_config()
    assert "config" in str(info.value)
    assert str(empty) in str(info.value)


def test_from_config_unparseable_file_raises_user_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{ not json")
    with pytest.raises(UserErrorException) as info:
        Workspace.from_config(path=str(path))
    assert str(path) in str(info.value)


def test_from_config_for_unknown_workspace_raises_project_system_exception(
    ws: Workspace, tmp_path: Path
) -> None:
    config = {**_portal_config(ws), "workspace_name": _unique("gone")}
    path = _write(tmp_path / "config.json", config)
    with pytest.raises(ProjectSystemException):
        Workspace.from_config(path=str(path))


# -- experiments, datastores, runs ------------------------------------------------------------
def test_experiments_dict_contains_created_experiments(ws: Workspace) -> None:
    names = [f"wsexp-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    created = [Experiment(ws, name) for name in names]
    found = ws.experiments
    assert isinstance(found, dict)
    for exp in created:
        assert exp.name in found
        assert isinstance(found[exp.name], Experiment)
        assert found[exp.name].id == exp.id
        assert found[exp.name].name == exp.name


def test_datastores_and_default_datastore(ws: Workspace) -> None:
    stores = ws.datastores
    assert "workspaceblobstore" in stores
    assert isinstance(stores["workspaceblobstore"], Datastore)
    default = ws.get_default_datastore()
    assert default.name == "workspaceblobstore"
    assert default.datastore_type == "AzureBlob"
    assert isinstance(default.account_name, str) and default.account_name
    assert isinstance(default.container_name, str) and default.container_name
    assert stores["workspaceblobstore"].container_name == default.container_name


def test_get_run_by_id(ws: Workspace, tmp_path: Path) -> None:
    exp = Experiment(ws, f"wsrun-{uuid.uuid4().hex[:8]}")
    run = exp.start_logging(snapshot_directory=None, outputs=str(tmp_path / "outputs"))
    try:
        loaded = ws.get_run(run.id)
        assert isinstance(loaded, Run)
        assert loaded.id == run.id
        assert loaded.experiment.name == exp.name
        assert loaded.get_status() == "Running"
    finally:
        run.complete()
    with pytest.raises(UserErrorException):
        ws.get_run(str(uuid.uuid4()))


# -- key vault -------------------------------------------------------------------------------
@pytest.fixture
def keyvault(ws: Workspace) -> Keyvault:
    return ws.get_default_keyvault()


def test_keyvault_set_get_list(keyvault: Keyvault) -> None:
    name = f"secret-{uuid.uuid4().hex[:8]}"
    keyvault.set_secret(name, "s3cr3t-value")
    assert keyvault.get_secret(name) == "s3cr3t-value"
    keyvault.set_secret(name, "replaced")
    assert keyvault.get_secret(name) == "replaced"

    listed = keyvault.list_secrets()
    assert isinstance(listed, list)
    assert {"name": name} in listed
    assert all(set(item) == {"name"} for item in listed)
    assert "replaced" not in json.dumps(listed)


def test_keyvault_get_secrets_with_missing_name(keyvault: Keyvault) -> None:
    name = f"secret-{uuid.uuid4().hex[:8]}"
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    keyvault.set_secret(name, "v")
    assert keyvault.get_secrets([name, missing]) == {name: "v", missing: None}


def test_keyvault_delete_then_get_raises(keyvault: Keyvault) -> None:
    name = f"secret-{uuid.uuid4().hex[:8]}"
    keyvault.set_secret(name, "v")
    keyvault.delete_secret(name)
    with pytest.raises(KeyVaultException) as info:
        keyvault.get_secret(name)
    assert name in str(info.value)
    assert {"name": name} not in keyvault.list_secrets()
    with pytest.raises(KeyVaultException):
        keyvault.delete_secret(name)


@pytest.mark.parametrize("bad", ["bad_name!", "under_score", "a" * 128])
def test_keyvault_invalid_secret_name(keyvault: Keyvault, bad: str) -> None:
    with pytest.raises(UserErrorException) as info:
        keyvault.set_secret(bad, "x")
    assert "name" in str(info.value).lower()
    assert "letters, digits and '-'" in str(info.value)


def test_keyvault_is_shared_with_run_get_secret(ws: Workspace, tmp_path: Path) -> None:
    name = f"secret-{uuid.uuid4().hex[:8]}"
    ws.get_default_keyvault().set_secret(name, "from-vault")
    exp = Experiment(ws, f"wskv-{uuid.uuid4().hex[:8]}")
    with exp.start_logging(snapshot_directory=None, outputs=str(tmp_path / "o")) as run:
        assert run.get_secret(name) == "from-vault"
        assert run.get_secrets([name]) == {name: "from-vault"}
