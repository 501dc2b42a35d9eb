"""Scoring services (``Model.deploy``): each a host process on this machine that keeps a
scoring process up in the model's environment, with the app folder laid out as Azure ML's
container: the code snapshot, and ``azureml-models/<name>/<version>/<asset>`` per model.

Folders: ``<work root>/workspaces/<ws>/services/<name>/`` holds ``app/``, ``serving.json``,
``environment.json``, ``state.json`` (what the host reports) and ``logs/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge import processes
from trainforge.node import scoring_host
from trainforge.node.work_root import work_root
from trainforge.schemas.services import (
    HostState,
    RegenerateKey,
    ScoringCounts,
    ServiceCreate,
    ServiceInfo,
    ServiceKeys,
    ServiceState,
    ServiceStats,
    ServiceUpdate,
    ServingSpec,
)
from trainforge.server.errors import BadRequest, Conflict, NotFound
from trainforge.server.services import models as registry
from trainforge.server.services import snapshots
from trainforge.server.services.secrets import Vault
from trainforge.server.settings import ServerSettings
from trainforge.server.store import models
from trainforge.storage.model_files import ModelFiles

MODELS_DIR = "azureml-models"
LOG_LINES_MAX = 100_000
KEYS_FILE = "keys.json"
STATS_DIR = "stats"
# What ACI gives a service when its configuration names no cores (the SDK's default).
ACI_DEFAULT_CORES = 0.1
ACI_DEFAULT_MEMORY_GB = 0.5


def folder(settings: ServerSettings, workspace_name: str, name: str) -> Path:
    return work_root(settings.home) / "workspaces" / workspace_name / "services" / name


def _host_state(path: Path, row: models.Service) -> HostState:
    """What the host says, or Failed when the host is gone without having said so."""
    state_file = path / scoring_host.STATE_NAME
    try:
        state = HostState.model_validate_json(state_file.read_text())
    except (OSError, ValueError):
        state = HostState(state=ServiceState.TRANSITIONING)
    host_alive = (
        row.pid is not None
        and row.pid_create_time is not None
        and processes.find(row.pid, row.pid_create_time) is not None
    )
    if not host_alive and state.state is not ServiceState.FAILED:
        state.state = ServiceState.FAILED
        state.error = state.error or "the service's host process has stopped; deploy it again"
    return state


def to_info(settings: ServerSettings, ws: models.Workspace, row: models.Service) -> ServiceInfo:
    state = _host_state(folder(settings, ws.name, row.name), row)
    definition = ServiceCreate.model_validate(row.definition)
    base = f"http://localhost:{row.port}"
    return ServiceInfo(
        name=row.name,
        compute_type=row.compute_type,
        state=state.state,
        models=list(row.models),
        port=row.port,
        scoring_uri=f"{base}/score",
        swagger_uri=f"{base}/swagger.json",
        error=state.error,
        restarts=state.restarts,
        auth_enabled=definition.auth_enabled,
        cpu_cores=definition.cpu_cores,
        memory_gb=definition.memory_gb,
        description=definition.description,
        tags=dict(definition.tags),
        properties=dict(definition.properties),
        created_time=row.created,
        updated_time=row.updated,
    )


def find(db: Session, ws: models.Workspace, name: str) -> models.Service | None:
    return db.scalar(
        select(models.Service).where(
            models.Service.workspace_id == ws.id, models.Service.name == name
        )
    )


def row(db: Session, ws: models.Workspace, name: str) -> models.Service:
    found = find(db, ws, name)
    if found is None:
        raise NotFound(f"WebserviceNotFound: service {name!r} not found in workspace {ws.name!r}")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port(db: Session, body: ServiceCreate) -> int:
    taken = {s.port: s.name for s in db.scalars(select(models.Service)) if s.name != body.name}
    if body.port is None:
        port = _free_port()
        while port in taken:
            port = _free_port()
        return port
    if body.port in taken:
        raise Conflict(f"port: {body.port} is the port of service {taken[body.port]!r}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", body.port))
        except OSError:
            raise Conflict(f"port: {body.port} is in use on this machine") from None
    return body.port


def stop(settings: ServerSettings, ws: models.Workspace, service: models.Service) -> None:
    """Stop the service's host and scoring process and remove its folder."""
    if service.pid is not None and service.pid_create_time is not None:
        host = processes.find(service.pid, service.pid_create_time)
        if host is not None:
            processes.stop_tree(host, grace=15.0)
    shutil.rmtree(folder(settings, ws.name, service.name), ignore_errors=True)


def _lay_out(
    settings: ServerSettings, ws: models.Workspace, body: ServiceCreate, app: Path
) -> None:
    """Fill ``app`` with the snapshot's files and ``azureml-models/<name>/<version>/``."""
    archive = snapshots.snapshot_path(settings.workspace_dir(ws.name), body.snapshot_id)
    with zipfile.ZipFile(archive) as snapshot:
        snapshot.extractall(app)
    store = ModelFiles(settings.workspace_dir(ws.name) / "models")
    models_root = app / MODELS_DIR
    models_root.mkdir(parents=True, exist_ok=True)
    for model_id in body.models:
        name, _, version = model_id.rpartition(":")
        target = models_root / name / version
        shutil.copytree(store.version_dir(name, int(version)), target, dirs_exist_ok=True)


def _model_dir(app: Path, body: ServiceCreate) -> str:
    """AZUREML_MODEL_DIR: the one model's version folder, or the folder of them all."""
    if len(body.models) == 1:
        name, _, version = body.models[0].rpartition(":")
        return str(app / MODELS_DIR / name / version)
    return str(app / MODELS_DIR)


def _check_sources(db: Session, ws: models.Workspace, body: ServiceCreate) -> None:
    for model_id in body.models:
        name, _, version = model_id.rpartition(":")
        try:
            registry.row(db, ws, name, int(version))
        except NotFound as exc:
            raise BadRequest(f"models: {exc.message}") from None
    if not snapshots.exists(db, ws, body.snapshot_id):
        raise BadRequest(
            f"snapshot_id: snapshot {body.snapshot_id!r} is not in workspace {ws.name!r}"
        )


def _write_spec(
    path: Path, app: Path, body: ServiceCreate, port: int, keys_file: str | None
) -> None:
    serving = ServingSpec(
        service_name=body.name,
        keys_file=keys_file,
        stats_dir=str(path / STATS_DIR),
        workers=max(1, int(body.cpu_cores or 1)),
        app_dir=str(app),
        entry_script=body.entry_script,
        model_dir=_model_dir(app, body),
        port=port,
        max_request_bytes=body.max_request_bytes,
        environment_variables=body.environment.environment_variables if body.environment else {},
    )
    (path / "serving.json").write_text(serving.model_dump_json(indent=2))
    env_file = path / "environment.json"
    if body.environment is not None:
        env_file.write_text(body.environment.model_dump_json(indent=2))
    else:
        env_file.unlink(missing_ok=True)


def _write_keys(path: Path, keys: ServiceKeys) -> Path:
    """The keys where the scoring process reads them (0600, replaced in one rename), owned
    by the service folder's owner: the run user the scoring process runs as, if any."""
    target = path / KEYS_FILE
    partial = path / f".{KEYS_FILE}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    owner = path.stat()
    if os.geteuid() == 0:
        os.fchown(fd, owner.st_uid, owner.st_gid)
    with os.fdopen(fd, "w") as out:
        out.write(keys.model_dump_json())
    partial.replace(target)
    return target


def create(
    settings: ServerSettings,
    db: Session,
    ws: models.Workspace,
    body: ServiceCreate,
    vault: Vault,
) -> ServiceInfo:
    """Deploy ``body``: refused for a name in use unless ``overwrite``."""
    if body.compute_type == "ACI":
        body = body.model_copy(
            update={
                "cpu_cores": body.cpu_cores or ACI_DEFAULT_CORES,
                "memory_gb": body.memory_gb or ACI_DEFAULT_MEMORY_GB,
            }
        )
    if not body.auth_enabled and (body.primary_key or body.secondary_key):
        raise BadRequest("primary_key: keys are given but auth_enabled is not set")
    existing = find(db, ws, body.name)
    if existing is not None and not body.overwrite:
        raise Conflict(
            f"name: service {body.name!r} already exists in workspace {ws.name!r}; "
            "pass overwrite=True to replace it"
        )
    _check_sources(db, ws, body)
    if existing is not None:
        stop(settings, ws, existing)
        db.delete(existing)
        db.flush()
    port = _port(db, body)
    path = folder(settings, ws.name, body.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    _lay_out(settings, ws, body, path / "app")
    keys_file = None
    sealed = None
    if body.auth_enabled:
        keys = ServiceKeys(
            primary_key=body.primary_key or secrets.token_urlsafe(32),
            secondary_key=body.secondary_key or secrets.token_urlsafe(32),
        )
        sealed = vault.seal(keys.model_dump_json())
        keys_file = str(_write_keys(path, keys))
    _write_spec(path, path / "app", body, port, keys_file)
    service = models.Service(
        workspace_id=ws.id,
        name=body.name,
        compute_type=body.compute_type,
        definition=body.model_dump(mode="json", exclude={"primary_key", "secondary_key"}),
        models=list(body.models),
        port=port,
        keys=sealed,
    )
    db.add(service)
    db.flush()
    service.pid, service.pid_create_time = scoring_host.spawn(path, settings.home, ws.name)
    db.flush()
    return to_info(settings, ws, service)


def update(
    settings: ServerSettings,
    db: Session,
    ws: models.Workspace,
    service: models.Service,
    change: ServiceUpdate,
) -> ServiceInfo:
    """New code, entry script, models or environment for a running service: a new app
    folder is laid out beside the one serving (``app-<id>``), and the host starts a new
    scoring process from it; the old one stops once the new one answers, and its folder
    goes with it (``reload``/``update`` without downtime)."""
    body = ServiceCreate.model_validate(
        {**service.definition, **change.model_dump(exclude_unset=True, mode="json")}
    )
    _check_sources(db, ws, body)
    path = folder(settings, ws.name, service.name)
    app = path / f"app-{secrets.token_hex(4)}"
    _lay_out(settings, ws, body, app)
    keys_file = str(path / KEYS_FILE) if service.keys is not None else None
    _write_spec(path, app, body, service.port, keys_file)
    service.definition = body.model_dump(mode="json", exclude={"primary_key", "secondary_key"})
    service.models = list(body.models)
    service.updated = datetime.now(UTC)
    host = (
        processes.find(service.pid, service.pid_create_time)
        if service.pid is not None and service.pid_create_time is not None
        else None
    )
    if host is None:
        raise Conflict(f"Service {service.name!r} is not running; deploy it again")
    # Transitioning at once, so that a wait that follows never sees the old Healthy.
    state_file = path / scoring_host.STATE_NAME
    state = _host_state(path, service)
    state.state, state.error = ServiceState.TRANSITIONING, None
    partial = path / f".{scoring_host.STATE_NAME}.server"
    partial.write_text(state.model_dump_json())
    partial.replace(state_file)
    host.send_signal(signal.SIGHUP)
    db.flush()
    return to_info(settings, ws, service)


def get_keys(vault: Vault, ws: models.Workspace, service: models.Service) -> ServiceKeys:
    if service.keys is None:
        raise BadRequest(
            f"auth_enabled: service {service.name!r} has no keys (it was deployed without "
            "auth_enabled=True)"
        )
    return ServiceKeys.model_validate(json.loads(vault.open(service.keys)))


def regenerate_key(
    settings: ServerSettings,
    vault: Vault,
    ws: models.Workspace,
    service: models.Service,
    body: RegenerateKey,
) -> ServiceKeys:
    """A new primary or secondary key; the scoring process takes it at its next request."""
    keys = get_keys(vault, ws, service)
    value = body.value or secrets.token_urlsafe(32)
    keys = keys.model_copy(
        update={"primary_key" if body.key == "Primary" else "secondary_key": value}
    )
    service.keys = vault.seal(keys.model_dump_json())
    _write_keys(folder(settings, ws.name, service.name), keys)
    return keys


def list_all(settings: ServerSettings, db: Session, ws: models.Workspace) -> list[ServiceInfo]:
    query = select(models.Service).where(models.Service.workspace_id == ws.id)
    return [to_info(settings, ws, s) for s in db.scalars(query.order_by(models.Service.name))]


def delete(settings: ServerSettings, db: Session, ws: models.Workspace, name: str) -> None:
    service = row(db, ws, name)
    stop(settings, ws, service)
    db.delete(service)
    db.flush()


def logs(
    settings: ServerSettings, ws: models.Workspace, service: models.Service, lines: int
) -> str:
    """The last ``lines`` lines of the service's log (host and scoring process), then a
    line of its request counts."""
    path = folder(settings, ws.name, service.name) / scoring_host.LOG_NAME
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    kept = text.splitlines()[-lines:]
    kept.append(f"[stats] {stats(settings, ws, service).line()}")
    return "\n".join(kept) + "\n"


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def stats(settings: ServerSettings, ws: models.Workspace, service: models.Service) -> ServiceStats:
    """The counts of every scoring process the service has had, added up."""
    found = []
    for file in sorted((folder(settings, ws.name, service.name) / STATS_DIR).glob("*.json")):
        try:
            found.append(ScoringCounts.model_validate_json(file.read_text()))
        except (OSError, ValueError):
            continue  # being replaced: the next read has it
    latencies = sorted(value for counts in found for value in counts.latencies_ms)
    return ServiceStats(
        requests=sum(c.requests for c in found),
        errors=sum(c.errors for c in found),
        p50_ms=_percentile(latencies, 0.50),
        p90_ms=_percentile(latencies, 0.90),
        p99_ms=_percentile(latencies, 0.99),
    )


def users_of(db: Session, ws: models.Workspace, model_id: str) -> list[str]:
    """The services of ``ws`` that serve model ``'<name>:<version>'``."""
    query = select(models.Service).where(models.Service.workspace_id == ws.id)
    return [s.name for s in db.scalars(query) if model_id in s.models]
