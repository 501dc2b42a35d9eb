"""Scoring services (``Model.deploy``) as the REST API and the node layer see them: what to
deploy, how one looks, and what a scoring process is told to serve."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from trainforge.schemas.limits import MAX_PATH
from trainforge.schemas.models import Tags
from trainforge.schemas.names import validate
from trainforge.schemas.runs import EnvironmentSpec

# The SDK's rule: 3 to 32 characters, lowercase letters, digits and dashes, starting with a
# letter and ending with a letter or digit.
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
SERVICE_RULE = (
    "3 to 32 characters: lowercase letters, digits and '-', starting with a letter and "
    "ending with a letter or digit"
)
MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,254}:[1-9][0-9]{0,9}$")
# The most a request body may hold unless the deployment says otherwise.
DEFAULT_MAX_REQUEST_BYTES = 100 * 2**20


def check_service_name(value: str) -> str:
    return validate(SERVICE_NAME, value, "Service name", SERVICE_RULE)


def _check_model_id(value: str) -> str:
    return validate(MODEL_ID, value, "Model id", "'<name>:<version>' of a registered model")


ServiceName = Annotated[str, AfterValidator(check_service_name)]
ModelId = Annotated[str, AfterValidator(_check_model_id)]


class ServiceState(StrEnum):
    """The cloud services' states; a LocalWebservice shows them as the SDK's local ones."""

    TRANSITIONING = "Transitioning"
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    FAILED = "Failed"
    # AKS: no node of the cluster is free for a replica.
    UNSCHEDULABLE = "Unschedulable"

    @property
    def local(self) -> str:
        return {
            "Transitioning": "deploying",
            "Healthy": "running",
            "Unhealthy": "unhealthy",
            "Failed": "failed",
            "Unschedulable": "failed",
        }[self.value]


KeyText = Annotated[str, Field(min_length=16, max_length=256, pattern=r"^[A-Za-z0-9_.~+/=-]+$")]


class ServiceCreate(BaseModel):
    """``Model.deploy``: the models, the entry script (in a code snapshot) and its
    environment, where the service listens, (ACI, AKS) its resources and key auth, and
    (AKS) its cluster, replicas, autoscaling and token auth."""

    name: ServiceName
    compute_type: Literal["Local", "ACI", "AKS"] = "Local"
    models: list[ModelId] = Field(default_factory=list, max_length=64)
    entry_script: str = Field(min_length=1, max_length=MAX_PATH)
    snapshot_id: str = Field(min_length=1, max_length=64)
    environment: EnvironmentSpec | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    overwrite: bool = False
    description: str | None = Field(default=None, max_length=65_536)
    tags: Tags = Field(default_factory=dict)
    properties: Tags = Field(default_factory=dict)
    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1, le=2**31)
    # ACI: 0.1 cores and 0.5 GB by default; whole cores become uvicorn workers.
    cpu_cores: float | None = Field(default=None, gt=0, le=64, allow_inf_nan=False)
    memory_gb: float | None = Field(default=None, gt=0, le=1024, allow_inf_nan=False)
    auth_enabled: bool = False
    primary_key: KeyText | None = None
    secondary_key: KeyText | None = None
    # AKS (``AksWebservice.deploy_configuration``), with the SDK's defaults.
    compute_target: str | None = Field(default=None, min_length=1, max_length=64)
    autoscale_enabled: bool = True
    autoscale_min_replicas: int = Field(default=1, ge=1, le=1000)
    autoscale_max_replicas: int = Field(default=10, ge=1, le=1000)
    autoscale_refresh_seconds: float = Field(default=1.0, gt=0, le=3600, allow_inf_nan=False)
    autoscale_target_utilization: int = Field(default=70, ge=1, le=100)
    num_replicas: int | None = Field(default=None, ge=1, le=1000)
    replica_max_concurrent_requests: int = Field(default=1, ge=1, le=1000)
    scoring_timeout_ms: int = Field(default=60_000, ge=1, le=3_600_000)
    token_auth_enabled: bool = False

    @model_validator(mode="after")
    def _aks_rules(self) -> ServiceCreate:
        if self.compute_type != "AKS":
            if self.compute_target is not None or self.token_auth_enabled:
                field = (
                    "compute_target" if self.compute_target is not None else "token_auth_enabled"
                )
                raise ValueError(
                    f"{field}: only an AKS service is placed on a cluster or takes tokens"
                )
            return self
        if self.compute_target is None:
            raise ValueError("compute_target: an AKS service needs the cluster to run on")
        if self.port is not None:
            raise ValueError("port: an AKS service is served at the control plane's address")
        if self.autoscale_min_replicas > self.autoscale_max_replicas:
            raise ValueError(
                f"autoscale_min_replicas: {self.autoscale_min_replicas} is above "
                f"autoscale_max_replicas ({self.autoscale_max_replicas})"
            )
        if self.num_replicas is not None and self.autoscale_enabled:
            raise ValueError("num_replicas: give it only with autoscale_enabled=False")
        if self.auth_enabled and self.token_auth_enabled:
            raise ValueError(
                "token_auth_enabled: key auth (auth_enabled) and token auth cannot both be on"
            )
        return self

    def replica_bounds(self) -> tuple[int, int]:
        """The fewest and most replicas an AKS service may have: min and max with
        autoscaling, else ``num_replicas`` (1 when not given) both ways."""
        if self.autoscale_enabled:
            return self.autoscale_min_replicas, self.autoscale_max_replicas
        fixed = self.num_replicas or 1
        return fixed, fixed


class ServiceUpdate(BaseModel):
    """``reload()`` / ``update(...)``: what changes in a running service (its name, port,
    kind and keys stay)."""

    models: list[ModelId] | None = Field(default=None, max_length=64)
    entry_script: str | None = Field(default=None, min_length=1, max_length=MAX_PATH)
    snapshot_id: str | None = Field(default=None, min_length=1, max_length=64)
    environment: EnvironmentSpec | None = None
    description: str | None = Field(default=None, max_length=65_536)
    # AKS: its replicas and autoscaling (``AksWebservice.update``), taken at the replica
    # loop's next pass without starting any replica again.
    autoscale_enabled: bool | None = None
    autoscale_min_replicas: int | None = Field(default=None, ge=1, le=1000)
    autoscale_max_replicas: int | None = Field(default=None, ge=1, le=1000)
    autoscale_refresh_seconds: float | None = Field(
        default=None, gt=0, le=3600, allow_inf_nan=False
    )
    autoscale_target_utilization: int | None = Field(default=None, ge=1, le=100)
    num_replicas: int | None = Field(default=None, ge=1, le=1000)
    replica_max_concurrent_requests: int | None = Field(default=None, ge=1, le=1000)
    scoring_timeout_ms: int | None = Field(default=None, ge=1, le=3_600_000)


# What changes how an AKS service scales, not what its replicas run.
SCALING_FIELDS = frozenset(
    {
        "autoscale_enabled",
        "autoscale_min_replicas",
        "autoscale_max_replicas",
        "autoscale_refresh_seconds",
        "autoscale_target_utilization",
        "num_replicas",
        "replica_max_concurrent_requests",
        "scoring_timeout_ms",
    }
)


class ServiceKeys(BaseModel):
    primary_key: str
    secondary_key: str


class ServiceToken(BaseModel):
    """``get_token()``: a bearer token for one AKS service of one workspace, and when to
    fetch the next (it stops working at ``expires``)."""

    access_token: str
    refresh_by: datetime
    expires: datetime


class ReplicaInfo(BaseModel):
    """One replica of an AKS service: the node it is placed on, its scoring process, its
    state as its host reports it, and the requests the service's router sent it."""

    name: str
    node_id: str
    port: int
    state: ServiceState
    error: str | None = None
    restarts: int = 0
    host_restarts: int = 0
    scoring_pid: int | None = None
    requests: int = 0
    in_flight: int = 0


class RegenerateKey(BaseModel):
    key: Literal["Primary", "Secondary"]
    value: KeyText | None = None


class ServiceInfo(BaseModel):
    name: str
    compute_type: str
    state: ServiceState
    models: list[str]
    port: int
    scoring_uri: str
    swagger_uri: str
    error: str | None = None
    restarts: int = 0
    auth_enabled: bool = False
    cpu_cores: float | None = None
    memory_gb: float | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    created_time: datetime
    updated_time: datetime
    # AKS: the cluster, the replicas now placed and how many the autoscaler wants.
    compute_target: str | None = None
    token_auth_enabled: bool = False
    autoscale_enabled: bool | None = None
    autoscale_min_replicas: int | None = None
    autoscale_max_replicas: int | None = None
    autoscale_target_utilization: int | None = None
    num_replicas: int | None = None
    desired_replicas: int | None = None
    replicas: list[ReplicaInfo] = Field(default_factory=list)


class ServiceList(BaseModel):
    services: list[ServiceInfo]


class ServiceLogs(BaseModel):
    content: str


class ScoringCounts(BaseModel):
    """What one scoring process counted (``stats/<pid>.json`` in the service's folder): its
    requests to POST /score, the errors among them (answers of 400 and up), and the
    latencies (ms) of its most recent requests."""

    pid: int
    started: float
    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = Field(default_factory=list)


class ServiceStats(BaseModel):
    """A service's requests, errors and latency percentiles (ms), over every scoring
    process it has had (restarts and workers included); percentiles over the most recent
    requests of each."""

    requests: int
    errors: int
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None

    def line(self) -> str:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f} ms"

        return (
            f"requests {self.requests}, errors {self.errors}, latency p50 {ms(self.p50_ms)}, "
            f"p90 {ms(self.p90_ms)}, p99 {ms(self.p99_ms)}"
        )


class ServingSpec(BaseModel):
    """What a scoring process serves: written by the control plane beside the service's
    app folder and read by ``trainforge.node.scoring``."""

    service_name: str
    app_dir: str
    entry_script: str
    # AZUREML_MODEL_DIR: azureml-models/<name>/<version> for one model, azureml-models for more.
    model_dir: str
    host: str = "127.0.0.1"
    port: int
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    environment_variables: dict[str, str] = Field(default_factory=dict)
    # With key auth, POST /score needs "Authorization: Bearer <key>" of a key in this file
    # (read again when it changes: regen_key takes effect without a restart).
    keys_file: str | None = None
    # Where each scoring process keeps its counts (``<pid>.json``).
    stats_dir: str | None = None
    workers: int = Field(default=1, ge=1, le=64)


class HostState(BaseModel):
    """What a service's host process reports in its folder (``state.json``)."""

    state: ServiceState
    error: str | None = None
    restarts: int = 0
    scoring_pid: int | None = None
    python: str | None = None
    updated: float = 0.0


__all__ = [
    "HostState",
    "ServiceCreate",
    "RegenerateKey",
    "ReplicaInfo",
    "ServiceInfo",
    "ServiceKeys",
    "ServiceList",
    "ServiceLogs",
    "ServiceName",
    "ScoringCounts",
    "ServiceState",
    "ServiceStats",
    "ServiceToken",
    "ServiceUpdate",
    "ServingSpec",
    "check_service_name",
]
