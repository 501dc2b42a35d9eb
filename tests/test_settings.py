"""Every process reads its TRAINFORGE_* variables when it needs them, so one set after
``import trainforge`` counts; each variable keeps its name and meaning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.client.local_server import default_home
from trainforge.server.settings import ServerSettings


def test_the_client_retry_time_is_read_when_a_client_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAINFORGE_CLIENT_RETRY_S", "1.5")
    client = TrainforgeClient(Endpoint("http://127.0.0.1:9", "token"))
    assert client.retry_s == 1.5
    assert TrainforgeClient(Endpoint("http://127.0.0.1:9", "t"), retry_s=None).retry_s is None
    monkeypatch.delenv("TRAINFORGE_CLIENT_RETRY_S")
    assert TrainforgeClient(Endpoint("http://127.0.0.1:9", "token")).retry_s == 120.0


def test_the_home_is_trainforge_home_else_dot_trainforge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINFORGE_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
    monkeypatch.setenv("TRAINFORGE_HOME", "")  # empty: unset
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_home() == tmp_path / ".trainforge"


def test_the_server_takes_its_timeouts_and_roots_from_the_environment_unless_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINFORGE_HEARTBEAT_TIMEOUT_S", "3")
    monkeypatch.setenv("TRAINFORGE_RUN_TOKEN_GRACE_S", "7")
    monkeypatch.setenv("TRAINFORGE_MAX_FILE_BYTES", "1000")
    monkeypatch.setenv(
        "TRAINFORGE_LOCAL_DATASTORE_ROOTS", os.pathsep.join([str(tmp_path / "a"), "~/b", ""])
    )
    settings = ServerSettings(home=tmp_path, token="t", signing_key=b"k" * 32, backend_grace_s=1)
    assert (settings.heartbeat_timeout_s, settings.run_token_grace_s) == (3, 7)
    assert (settings.max_file_bytes, settings.backend_grace_s) == (1000, 1)
    assert settings.local_datastore_roots == [tmp_path / "a", Path("~/b").expanduser()]
    for name in ("HEARTBEAT_TIMEOUT_S", "RUN_TOKEN_GRACE_S", "MAX_FILE_BYTES"):
        monkeypatch.delenv(f"TRAINFORGE_{name}")
    monkeypatch.delenv("TRAINFORGE_LOCAL_DATASTORE_ROOTS")
    monkeypatch.delenv("TRAINFORGE_BACKEND_GRACE_S", raising=False)  # the suite's tf_home sets it
    defaults = ServerSettings(home=tmp_path, token="t", signing_key=b"k" * 32)
    assert (defaults.heartbeat_timeout_s, defaults.run_token_grace_s) == (10, 300)
    assert defaults.backend_grace_s == 60 and defaults.max_file_bytes == 16 * 2**30
    assert Path.home() in defaults.local_datastore_roots


def test_a_bad_value_names_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINFORGE_HEARTBEAT_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="heartbeat_timeout_s"):
        ServerSettings(home=tmp_path, token="t", signing_key=b"k" * 32)


def test_the_nodes_work_root_and_run_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainforge.node.settings import NodeSettings
    from trainforge.node.work_root import work_root

    monkeypatch.setenv("TRAINFORGE_WORK_DIR", str(tmp_path / "work"))
    assert work_root(tmp_path / "home") == tmp_path / "work"
    monkeypatch.setenv("TRAINFORGE_WORK_DIR", "")
    assert work_root(tmp_path / "home") == tmp_path / "home-work"
    monkeypatch.setenv("TRAINFORGE_RUN_USER", "")  # empty is a value: the node's own user
    assert NodeSettings().run_user == ""
    monkeypatch.delenv("TRAINFORGE_RUN_USER")
    assert NodeSettings().run_user == "nobody"


def test_a_runs_context_is_read_when_get_context_is_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trainforge.schemas.settings import RunContext

    for name in ("AZUREML_RUN_ID", "AZUREML_RUN_TOKEN", "TRAINFORGE_RUN_ATTEMPT"):
        monkeypatch.delenv(name, raising=False)
    assert "AZUREML_RUN_ID" in RunContext().missing()
    monkeypatch.setenv("AZUREML_RUN_ID", "run-1")
    monkeypatch.setenv("TRAINFORGE_RUN_ATTEMPT", "2")
    context = RunContext()
    assert (context.run_id, context.run_attempt) == ("run-1", 2)
    assert "AZUREML_RUN_ID" not in context.missing()
