"""The server's secrets stay the server's: a private home, secrets sealed at rest, and
datastore credentials that the secrets API cannot reach."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from cryptography.fernet import Fernet

from tests.helpers import HOME_PROBE, run_file_bytes
from trainforge.client import local_server, session
from trainforge.core import Datastore, Environment, Experiment, ScriptRunConfig, Workspace
from trainforge.exceptions import KeyVaultException
from trainforge.node.work_root import names_path_in
from trainforge.server.services.secrets import Vault
from trainforge.server.store.database import MIGRATIONS, Store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.real_process
def test_the_home_and_its_files_are_private_whatever_was_there(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / "server.log").write_text("from before\n")
    try:
        local_server.ensure_server(home)
        local_server.stop_server(home)
        # An administrator loosens everything, as a home copied with default modes is.
        home.chmod(0o755)
        for entry in home.iterdir():
            entry.chmod(0o644)
        state = local_server.ensure_server(home)
        import httpx

        created = httpx.post(
            f"{state.address}/api/v1/workspaces",
            json={"name": "private-ws"},
            headers={"Authorization": f"Bearer {state.token}"},
        )
        assert created.status_code == 201
        assert _mode(home) == 0o700
        files = {entry.name: _mode(entry) for entry in home.iterdir() if entry.is_file()}
        for name in ("server.json", "signing.key", "secrets.key", "trainforge.db", "server.log"):
            assert name in files
        assert "trainforge.db-wal" in files
        assert files == dict.fromkeys(files, 0o600)
    finally:
        local_server.stop_all(home)


def _database_bytes(home: Path) -> bytes:
    return b"".join(
        path.read_bytes() for path in home.iterdir() if path.name.startswith("trainforge.db")
    )


def test_secrets_and_datastore_keys_are_sealed_at_rest(ws: Workspace, tf_home: Path) -> None:
    value = f"vault-value-{uuid.uuid4().hex}"
    account_key = base64.b64encode(uuid.uuid4().bytes * 2).decode()
    ws.get_default_keyvault().set_secret("sealed-check", value)
    name = f"blob{uuid.uuid4().hex[:8]}"
    Datastore.register_azure_blob_container(
        ws, name, "container", "account", account_key=account_key, skip_validation=True
    )
    stored = _database_bytes(tf_home)
    assert value.encode() not in stored and account_key.encode() not in stored
    assert ws.get_default_keyvault().get_secret("sealed-check") == value


def test_datastore_credentials_are_not_secrets(ws: Workspace) -> None:
    name = f"blob{uuid.uuid4().hex[:8]}"
    Datastore.register_azure_blob_container(
        ws, name, "container", "account", account_key="a2V5", skip_validation=True
    )
    vault = ws.get_default_keyvault()
    secret = f"datastore-credentials-{name}"
    assert {"name": secret} not in vault.list_secrets()
    with pytest.raises(KeyVaultException):
        vault.get_secret(secret)
    vault.set_secret(secret, "not json at all")  # an ordinary secret now: the store is untouched
    access = ws.service_context.client.post(f"/workspaces/{ws.name}/datastores/{name}/access")
    # The account key still signs a fresh SAS; the key itself is never handed out.
    assert "SharedAccessSignature=" in access["storage_options"]["connection_string"]
    assert "a2V5" not in str(access)
    vault.delete_secret(secret)


def test_an_old_database_keeps_its_secrets_and_credentials_sealed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0009")
    with contextlib.closing(sqlite3.connect(tmp_path / "old.db")) as db, db:
        db.execute(
            "INSERT INTO workspaces (id, name, subscription_id, resource_group, location,"
            " friendly_name, description, tags, sku, created) VALUES"
            " ('w1', 'ws', 's', 'rg', 'local', 'ws', '', '{}', 'basic', CURRENT_TIMESTAMP)"
        )
        db.execute(
            "INSERT INTO datastores (workspace_id, name, datastore_type, config, is_default)"
            " VALUES ('w1', 'Blobs', 'AzureBlob', '{}', 0)"
        )
        for secret, value in (
            ("datastore-credentials-blobs", '{"account_key": "old-key"}'),
            ("mine", "old-value"),
        ):
            db.execute(
                "INSERT INTO secrets (workspace_id, name, value, content_type, updated)"
                " VALUES ('w1', ?, ?, 'text/plain', CURRENT_TIMESTAMP)",
                (secret, value),
            )
    store = Store(url)
    vault = Vault(Fernet.generate_key())
    with store.session() as db:
        assert vault.seal_plaintext(db) == 2
    store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "old.db")) as db:
        secrets = dict(db.execute("SELECT name, value FROM secrets").fetchall())
        (credentials,) = db.execute("SELECT credentials FROM datastores").fetchone()
    assert list(secrets) == ["mine"]
    assert vault.open(secrets["mine"]) == "old-value"
    assert vault.open(credentials) == '{"account_key": "old-key"}'
    assert "old" not in secrets["mine"] + credentials


PROBE = (
    """
import json, os, sys

seen = {"uid": os.getuid(), "home": os.environ.get("HOME")}
seen["mounted"] = open(os.path.join(sys.argv[2], "weights.txt")).read()
"""
    + HOME_PROBE
)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user may traverse (0755), as a home's parent usually is."""
    folder = Path(tempfile.mkdtemp(prefix="tf-open-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _python_for_everyone(folder: Path) -> Path:
    """An interpreter the run user can execute, with this suite's packages (this machine's
    own interpreter lives under /root, which only root may enter)."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    base = shutil.which(version, path="/usr/local/bin:/usr/bin")
    if base is None:
        pytest.skip("no interpreter outside /root to run as another user")
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder / "py")], check=True)
    site = next((folder / "py" / "lib").glob("python3*/site-packages"))
    # A site folder, not a plain path: its own .pth files count, so an editable install of
    # trainforge imports as it does in the suite's interpreter, with no PYTHONPATH.
    purelib = sysconfig.get_paths()["purelib"]
    (site / "suite.pth").write_text(f"import site; site.addsitedir({purelib!r})\n")
    return folder / "py" / "bin" / "python"


@pytest.mark.skipif(os.geteuid() != 0, reason="runs change user only under a root server")
@pytest.mark.real_process
def test_under_root_a_run_runs_unprivileged_and_cannot_read_the_home(
    open_folder: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = _python_for_everyone(open_folder)
    home = open_folder / "home"
    monkeypatch.setenv("TRAINFORGE_HOME", str(home))
    monkeypatch.setenv("TRAINFORGE_RUN_USER", "nobody")
    # A session of its own for this server; the suite's comes back afterwards.
    monkeypatch.setattr(session, "_default", None)
    try:
        ws = Workspace.create("as-root-ws", exist_ok=True, show_output=False)
        env = Environment("probe-env")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = str(python)
        (project / "probe.py").write_text(PROBE)
        data = project.parent / "data"
        data.mkdir()
        (data / "weights.txt").write_text("w=1")
        store = ws.get_default_datastore()
        store.upload(str(data), target_path="probe-data", show_progress=False)
        mounted = store.path("probe-data").as_mount()
        config = ScriptRunConfig(
            source_directory=str(project), script="probe.py", arguments=[str(home), mounted]
        )
        config.run_config.environment = env
        run = Experiment(ws, "as-root").submit(config)
        run.wait_for_completion(show_output=False, raise_on_error=True)
        seen = json.loads(run_file_bytes(run, "outputs/seen.json"))
        assert seen["uid"] == pwd.getpwnam("nobody").pw_uid
        assert seen["mounted"] == "w=1"  # a local datastore, bound into the run's view
        assert {
            name: seen[name]
            for name in ("server.json", "signing.key", "secrets.key", "trainforge.db")
        } == dict.fromkeys(
            ("server.json", "signing.key", "secrets.key", "trainforge.db"), "PermissionError"
        )
        assert not names_path_in(seen["home"], home)

        # An interpreter the run user cannot execute: the run says so, naming the setting.
        if not os.path.realpath(sys.executable).startswith("/root/"):
            return  # this suite's interpreter is one every user may run
        env.python.interpreter_path = sys.executable
        failed = Experiment(ws, "as-root").submit(config)
        failed.wait_for_completion(show_output=False, raise_on_error=False)
        message = str(failed.get_details()["error"])
        assert sys.executable in message and "TRAINFORGE_RUN_USER" in message
    finally:
        session.reset()
        local_server.stop_all(home)


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.realpath(sys.executable).startswith("/root/"),
    reason="the default run user gives way only under root, to an interpreter under /root",
)
@pytest.mark.real_process
def test_under_root_the_default_run_user_gives_way_to_an_interpreter_it_cannot_run(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's quickstart as root with Python under /root: TRAINFORGE_RUN_USER unset.
    home = tmp_path / "home"
    monkeypatch.setenv("TRAINFORGE_HOME", str(home))
    monkeypatch.setenv("TRAINFORGE_PORT", "0")
    monkeypatch.delenv("TRAINFORGE_RUN_USER", raising=False)
    monkeypatch.setattr(session, "_default", None)
    try:
        ws = Workspace.create("default-user-ws", exist_ok=True, show_output=False)
        (project / "hello.py").write_text("print('hello from the run', flush=True)\n")
        config = ScriptRunConfig(source_directory=str(project), script="hello.py")
        run = Experiment(ws, "default-user").submit(config)
        assert run.wait_for_completion(show_output=False)["status"] == "Completed"
        log = run.get_details_with_logs()["logFiles"]["azureml-logs/70_driver_log.txt"]
        assert "hello from the run" in log
        assert "cannot execute" in log and "TRAINFORGE_RUN_USER" in log
    finally:
        session.reset()
        local_server.stop_all(home)


SCORING_PROBE = """
import json, os, sys

SERVER_HOME = {home!r}


def names_home(value):
    return any(
        part == SERVER_HOME or part.startswith(SERVER_HOME + os.sep)
        for part in value.split(os.pathsep)
    )


def init():
    global seen
    seen = {{
        "uid": os.getuid(),
        "home": os.environ.get("HOME"),
        "prefix": sys.prefix,
        "settings": sorted(k for k in os.environ if k.startswith("TRAINFORGE_")),
        "naming_home": sorted(k for k, v in os.environ.items() if names_home(v)),
    }}
    for name in ("server.json", "signing.key", "secrets.key", "trainforge.db"):
        try:
            with open(os.path.join(SERVER_HOME, name), "rb") as f:
                seen[name] = len(f.read())
        except OSError as exc:
            seen[name] = type(exc).__name__
    {extra}


def run(raw_data):
    return {{**seen, "sum": sum(json.loads(raw_data)["values"])}}
"""

SECRETS = ("server.json", "signing.key", "secrets.key", "trainforge.db")


@pytest.fixture
def root_server_for_everyone(
    open_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path]]:
    """A root server of its own (home in ``open_folder``) with TRAINFORGE_RUN_USER=nobody,
    started, as its node agents, service hosts and built environments are, from an
    interpreter the run user can execute (this suite's may live under /root); yields the
    home and that interpreter, and stops everything the server started by pid."""
    if os.geteuid() != 0:
        pytest.skip("processes change user only under a root server")
    python = _python_for_everyone(open_folder)
    home = open_folder / "home"
    monkeypatch.setenv("TRAINFORGE_HOME", str(home))
    monkeypatch.setenv("TRAINFORGE_RUN_USER", "nobody")
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(session, "_default", None)
    try:
        yield home, python
    finally:
        session.reset()
        local_server.stop_all(home)


BUILT_PROBE = """
import json, os, sys
import tabulate, trainforge
from trainforge.core import Run

run = Run.get_context()
run.log("seen", 1)
seen = {"uid": os.getuid(), "prefix": sys.prefix, "runtime": trainforge.__file__}
os.makedirs("outputs", exist_ok=True)
with open("outputs/seen.json", "w") as f:
    json.dump(seen, f)
"""


@pytest.mark.real_process
def test_under_root_a_run_in_a_built_environment_imports_trainforge_as_the_run_user(
    root_server_for_everyone: tuple[Path, Path], project: Path
) -> None:
    """The environment's own interpreter, as the run user, finds trainforge through the
    runtime link (no PYTHONPATH of the node reaches a built environment)."""
    from trainforge.core.conda_dependencies import CondaDependencies
    from trainforge.node.work_root import envs_root

    home, _ = root_server_for_everyone
    ws = Workspace.create("built-as-root-ws", exist_ok=True, show_output=False)
    env = Environment("built")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["tabulate"])
    (project / "probe.py").write_text(BUILT_PROBE)
    config = ScriptRunConfig(source_directory=str(project), script="probe.py")
    config.run_config.environment = env
    run = Experiment(ws, "built-as-root").submit(config)
    run.wait_for_completion(show_output=False, raise_on_error=True)
    seen = json.loads(run_file_bytes(run, "outputs/seen.json"))
    assert seen["uid"] == pwd.getpwnam("nobody").pw_uid
    assert Path(seen["prefix"]).parent == envs_root(home, ws.name)
    assert "trainforge-runtime" in seen["runtime"]
    assert run.get_metrics()["seen"] == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="the run user is chosen only under root")
@pytest.mark.real_process
def test_a_run_user_who_cannot_read_trainforge_gives_way_or_is_refused(
    open_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trainforge installed where the run user cannot read it (an editable install under
    /root): its processes would fail with ModuleNotFoundError, so the default user gives
    way with a warning and a chosen one is refused, naming the package."""
    from trainforge.node import run_user

    python = str(_python_for_everyone(open_folder))
    private = tmp_path / "private" / "trainforge"  # under pytest's 0700 folder
    private.mkdir(parents=True)
    (private / "__init__.py").write_text("")
    assert run_user.user_for(python, {})[0] == run_user.run_user({})  # readable: nobody
    monkeypatch.setattr(run_user, "runtime_package", lambda: private)
    user, warning = run_user.user_for(python, {}, "service")
    assert user is None and warning is not None
    assert f"cannot read trainforge's package {private}; the service runs as" in warning
    with pytest.raises(run_user.RunUserError, match=f"cannot read trainforge's package {private}"):
        run_user.user_for(python, {"TRAINFORGE_RUN_USER": "nobody"})


@pytest.mark.real_process
def test_under_root_a_scoring_service_runs_unprivileged_and_cannot_read_the_home(
    root_server_for_everyone: tuple[Path, Path], tmp_path: Path
) -> None:
    """Under a root server the scoring process of a deployed service runs its entry script
    as the run user, in a folder of its own, with nothing of the server's home: also in a
    built environment, whose interpreter finds trainforge through its own runtime link (no
    PYTHONPATH of the server reaches it)."""
    import httpx

    from trainforge.core import InferenceConfig, Model
    from trainforge.core.conda_dependencies import CondaDependencies
    from trainforge.core.webservice import AciWebservice, LocalWebservice
    from trainforge.node.work_root import envs_root, work_root

    home, python = root_server_for_everyone
    nobody = pwd.getpwnam("nobody").pw_uid
    deployed: list[object] = []
    try:
        ws = Workspace.create("serving-as-root-ws", exist_ok=True, show_output=False)
        model_file = tmp_path / "weights.txt"
        model_file.write_text("w=1")
        model = Model.register(ws, str(model_file), "weights")

        def deploy(name: str, extra: str, environment: Environment, config: object) -> object:
            source = tmp_path / name
            source.mkdir()
            (source / "score.py").write_text(SCORING_PROBE.format(home=str(home), extra=extra))
            inference = InferenceConfig(
                entry_script="score.py", source_directory=str(source), environment=environment
            )
            service = Model.deploy(ws, name, [model], inference, config)
            deployed.append(service)
            service.wait_for_deployment()
            return service

        def seen_by(service: object, headers: dict[str, str] | None = None) -> dict[str, object]:
            answer = httpx.post(
                service.scoring_uri,  # type: ignore[attr-defined]
                json={"values": [1, 2, 3]},
                headers=headers or {},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            seen: dict[str, object] = answer.json()
            return seen

        def private_to_the_server(seen: dict[str, object], service_name: str) -> None:
            assert seen["uid"] == nobody
            assert {name: seen[name] for name in SECRETS} == dict.fromkeys(
                SECRETS, "PermissionError"
            )
            assert seen["settings"] == [] and seen["naming_home"] == []
            folder = work_root(home) / "workspaces" / ws.name / "services" / service_name
            assert seen["home"] == str(folder)
            assert seen["sum"] == 6

        # The service's own interpreter (the server's, which the run user can execute).
        plain = Environment("plain")
        plain.python.user_managed_dependencies = True
        local = deploy(
            "as-nobody",
            "seen['model'] = open(os.path.join(os.getenv('AZUREML_MODEL_DIR'), 'weights.txt')).read()",
            plain,
            LocalWebservice.deploy_configuration(),
        )
        seen = seen_by(local)
        private_to_the_server(seen, "as-nobody")
        assert seen["prefix"] == str(python.parent.parent)
        assert "as user nobody" in local.get_logs()  # type: ignore[attr-defined]

        # A built environment (its packages installed for it), with key auth: the keys
        # file, regenerated by the server, stays readable to the run user.
        built = Environment("built")
        built.python.conda_dependencies = CondaDependencies.create(pip_packages=["tabulate"])
        aci = deploy(
            "built-as-nobody",
            "import tabulate, trainforge; seen['runtime'] = trainforge.__file__",
            built,
            AciWebservice.deploy_configuration(auth_enabled=True),
        )
        primary, _ = aci.get_keys()  # type: ignore[attr-defined]
        seen = seen_by(aci, {"Authorization": f"Bearer {primary}"})
        private_to_the_server(seen, "built-as-nobody")
        assert Path(str(seen["prefix"])).parent == envs_root(home, ws.name)
        assert "trainforge-runtime" in str(seen["runtime"])
        aci.regen_key("Primary")  # type: ignore[attr-defined]
        new_primary, _ = aci.get_keys()  # type: ignore[attr-defined]
        assert seen_by(aci, {"Authorization": f"Bearer {new_primary}"})["sum"] == 6
    finally:
        for service in deployed:  # each stops its host and scoring process by pid
            service.delete()  # type: ignore[attr-defined]
