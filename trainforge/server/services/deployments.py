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
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge import processes
from trainforge.node import scoring_host
from trainforge.node.work_root import work_root
from trainforge.schemas.services import (
    SCALING_FIELDS,
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
from trainforge.server import service_tokens
from trainforge.server.errors import BadRequest, Conflict, NotFound
from trainforge.server.services import aks, snapshots
from trainforge.server.services import models as registry
from trainforge.server.services.secrets import Vault
from trainforge.server.settings import API_PREFIX, ServerSettings
from trainforge.server.store import models
from trainforge.storage.model_files import ModelFiles

if TYPE_CHECKING:
    from trainforge.server.replica_loop import ServiceView

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


def to_info(
    settings: ServerSettings,
    ws: models.Workspace,
    row: models.Service,
    view: ServiceView | None = None,
    base_url: str = "",
) -> ServiceInfo:
    """How the service looks: Local and ACI from their host's report; AKS from what the
    replica loop last saw (``view``), at the control plane's address (``base_url``, the
    one the caller reached it at)."""
    definition = ServiceCreate.model_validate(row.definition)
    common = dict(
        name=row.name,
        compute_type=row.compute_type,
        models=list(row.models),
        auth_enabled=definition.auth_enabled,
        cpu_cores=definition.cpu_cores,
        memory_gb=definition.memory_gb,
        description=definition.description,
        tags=dict(definition.tags),
        properties=dict(definition.properties),
        created_time=row.created,
        updated_time=row.updated,
    )
    if row.compute_type == "AKS":
        base = f"{base_url.rstrip('/')}{API_PREFIX}/workspaces/{ws.name}/scoring/{row.name}"
        seen = view
        return ServiceInfo(
            **common,
            state=seen.state if seen else ServiceState.TRANSITIONING,
            error=seen.error if seen else None,
            restarts=sum(r.restarts + r.host_restarts for r in seen.replicas) if seen else 0,
            port=row.port,
            scoring_uri=f"{base}/score",
            swagger_uri=f"{base}/swagger.json",
            compute_target=definition.compute_target,
            token_auth_enabled=definition.token_auth_enabled,
            autoscale_enabled=definition.autoscale_enabled,
            autoscale_min_replicas=definition.autoscale_min_replicas,
            autoscale_max_replicas=definition.autoscale_max_replicas,
            autoscale_target_utilization=definition.autoscale_target_utilization,
            num_replicas=definition.num_replicas,
            desired_replicas=seen.desired if seen else None,
            replicas=list(seen.replicas) if seen else [],
        )
    state = _host_state(folder(settings, ws.name, row.name), row)
    base = f"http://localhost:{row.port}"
    return ServiceInfo(
        **common,
        state=state.state,
        port=row.port,
        scoring_uri=f"{base}/score",
        swagger_uri=f"{base}/swagger.json",
        error=state.error,
        restarts=state.restarts,
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


def stop(
    settings: ServerSettings, db: Session, ws: models.Workspace, service: models.Service
) -> None:
    """Stop the service's host and scoring process (an AKS service's replicas) and remove
    its folder."""
    if service.compute_type == "AKS":
        aks.stop_now(folder(settings, ws.name, service.name), aks.replicas_of(db, ws, service))
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


def lay_out_replica(
    settings: ServerSettings,
    ws: models.Workspace,
    body: ServiceCreate,
    service: models.Service,
    path: Path,
    port: int,
    app_name: str,
) -> None:
    """One AKS replica's folder: its app folder ``app_name`` (the snapshot and models), the
    replica key its scoring process wants from the router, and its serving spec."""
    path.mkdir(parents=True, exist_ok=True)
    _lay_out(settings, ws, body, path / app_name)
    key = service_tokens.replica_key(settings.signing_key, ws.id, service.id)
    keys_file = _write_keys(path, ServiceKeys(primary_key=key, secondary_key=key))
    _write_spec(path, path / app_name, body, port, str(keys_file))


def create(
    settings: ServerSettings,
    db: Session,
    ws: models.Workspace,
    body: ServiceCreate,
    vault: Vault,
) -> ServiceInfo:
    """Deploy ``body``: refused for a name in use unless ``overwrite``."""
    if body.compute_type in ("ACI", "AKS"):
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
    if body.compute_type == "AKS":
        aks.check_cluster(db, ws, body)
    if existing is not None:
        stop(settings, db, ws, existing)
        db.delete(existing)
        db.flush()
    if body.compute_type == "AKS":
        return _create_aks(settings, db, ws, body, vault)
    port = _port(db, body)
    path = folder(settings, ws.name, body.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    _lay_out(settings, ws, body, path / "app")
    keys_file = None
    keys = _new_keys(body)
    sealed = vault.seal(keys.model_dump_json()) if keys is not None else None
    if keys is not None:
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


def _new_keys(body: ServiceCreate) -> ServiceKeys | None:
    """A new service's keys when it takes them: those given, else fresh random ones."""
    if not body.auth_enabled:
        return None
    return ServiceKeys(
        primary_key=body.primary_key or secrets.token_urlsafe(32),
        secondary_key=body.secondary_key or secrets.token_urlsafe(32),
    )


def _create_aks(
    settings: ServerSettings,
    db: Session,
    ws: models.Workspace,
    body: ServiceCreate,
    vault: Vault,
) -> ServiceInfo:
    """An AKS service: its row and folder; the replica loop places its replicas on the
    cluster's nodes (Transitioning until they serve)."""
    path = folder(settings, ws.name, body.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    keys = _new_keys(body)
    sealed = vault.seal(keys.model_dump_json()) if keys is not None else None
    service = models.Service(
        workspace_id=ws.id,
        name=body.name,
        compute_type=body.compute_type,
        definition=body.model_dump(mode="json", exclude={"primary_key", "secondary_key"}),
        models=list(body.models),
        port=0,  # served at the control plane's address; each replica has a port of its own
        keys=sealed,
    )
    db.add(service)
    db.flush()
    low, high = body.replica_bounds()
    aks.say(
        path,
        f"deployed on cluster {body.compute_target!r}: {low} to {high} replica(s), one per node",
    )
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
    given = change.model_dump(exclude_unset=True, mode="json")
    scaling = SCALING_FIELDS & given.keys()
    if scaling and service.compute_type != "AKS":
        raise BadRequest(f"{sorted(scaling)[0]}: only an AKS service has replicas to scale")
    if scaling and "num_replicas" in given and "autoscale_enabled" not in given:
        given["autoscale_enabled"] = False  # a number of replicas given: it stops autoscaling
    if given.get("autoscale_enabled"):
        given.setdefault("num_replicas", None)
    try:
        body = ServiceCreate.model_validate({**service.definition, **given})
    except ValidationError as exc:
        raise BadRequest(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    _check_sources(db, ws, body)
    path = folder(settings, ws.name, service.name)
    if service.compute_type == "AKS":
        service.definition = body.model_dump(mode="json", exclude={"primary_key", "secondary_key"})
        service.models = list(body.models)
        service.updated = datetime.now(UTC)
        if not given.keys() - SCALING_FIELDS - {"description"}:
            aks.say(path, f"update: {', '.join(f'{k}={given[k]}' for k in sorted(scaling))}")
            db.flush()
            return to_info(settings, ws, service)  # the replica loop scales at its next pass

        def lay_out(replica: Path, port: int, app_name: str) -> None:
            lay_out_replica(settings, ws, body, service, replica, port, app_name)

        aks.update_replicas(settings, db, ws, service, path, body, lay_out)
        db.flush()
        return to_info(settings, ws, service)
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
    if service.compute_type != "AKS":  # an AKS service's router checks its keys itself
        _write_keys(folder(settings, ws.name, service.name), keys)
    return keys


def rows(db: Session, ws: models.Workspace) -> list[models.Service]:
    query = select(models.Service).where(models.Service.workspace_id == ws.id)
    return list(db.scalars(query.order_by(models.Service.name)))


def delete(settings: ServerSettings, db: Session, ws: models.Workspace, name: str) -> None:
    service = row(db, ws, name)
    stop(settings, db, ws, service)
    db.delete(service)
    db.flush()


def logs(
    settings: ServerSettings, ws: models.Workspace, service: models.Service, lines: int
) -> str:
    """The last ``lines`` lines of the service's log (host and scoring process), then a
    line of its request counts."""
    root = folder(settings, ws.name, service.name)
    if service.compute_type == "AKS":
        # The control plane's lines (placements, host restarts, scaling), then each
        # replica's host and scoring process, every line naming its replica.
        found = [f"[service] {line}" for line in _lines(root / aks.EVENTS_LOG)]
        for replica in sorted((root / aks.REPLICAS_DIR).glob("*")):
            found += [
                f"[{replica.name}] {line}" for line in _lines(replica / scoring_host.LOG_NAME)
            ]
        kept = found[-lines:]
    else:
        kept = _lines(root / scoring_host.LOG_NAME)[-lines:]
    kept.append(f"[stats] {stats(settings, ws, service).line()}")
    return "\n".join(kept) + "\n"


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def stats(settings: ServerSettings, ws: models.Workspace, service: models.Service) -> ServiceStats:
    """The counts of every scoring process the service has had, added up."""
    found = []
    root = folder(settings, ws.name, service.name)
    files = [
        *root.glob(f"{STATS_DIR}/*.json"),
        *root.glob(f"{aks.REPLICAS_DIR}/*/{STATS_DIR}/*.json"),
    ]
    for file in sorted(files):
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
