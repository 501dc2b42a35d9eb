"""AksWebservice: a Kubernetes-style service (``azureml.core.webservice.AksWebservice``).

Here its replicas are scoring processes placed by the control plane on the nodes of a
compute cluster (``deployment_target``), one per node, between ``autoscale_min_replicas``
and ``autoscale_max_replicas`` as the load asks (or ``num_replicas`` without
autoscaling), behind one scoring address that the control plane serves and balances
(fewest requests in flight). ``auth_enabled`` (the default) takes the service's keys,
``token_auth_enabled`` expiring tokens from ``get_token()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trainforge.client.api.services import ServicesApi
from trainforge.core._info import InfoField
from trainforge.core.webservice.webservice import Webservice, _errors
from trainforge.exceptions import WebserviceException

# The SDK's defaults where the configuration names none.
DEFAULTS: dict[str, Any] = {
    "autoscale_min_replicas": 1,
    "autoscale_max_replicas": 10,
    "autoscale_refresh_seconds": 1,
    "autoscale_target_utilization": 70,
    "replica_max_concurrent_requests": 1,
    "scoring_timeout_ms": 60_000,
}
# Accepted and kept, but nothing here acts on them (probes, namespaces, GPUs, limits).
KEPT_ONLY = (
    "collect_model_data",
    "enable_app_insights",
    "max_request_wait_time",
    "gpu_cores",
    "period_seconds",
    "initial_delay_seconds",
    "timeout_seconds",
    "success_threshold",
    "failure_threshold",
    "namespace",
    "cpu_cores_limit",
    "memory_gb_limit",
    "blobfuse_enabled",
)


class AksServiceDeploymentConfiguration:
    """What ``AksWebservice.deploy_configuration`` makes; refuses what the SDK refuses
    (numbers out of range, both auth kinds, ``num_replicas`` with autoscaling), naming
    the field."""

    def __init__(self, **settings: Any) -> None:
        for field in ("cpu_cores", "memory_gb", "cpu_cores_limit", "memory_gb_limit"):
            value = settings.get(field)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise WebserviceException(f"{field}: {value!r} must be a number above 0")
        for field in (
            "autoscale_min_replicas",
            "autoscale_max_replicas",
            "autoscale_refresh_seconds",
            "num_replicas",
            "replica_max_concurrent_requests",
            "scoring_timeout_ms",
        ):
            value = settings.get(field)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise WebserviceException(f"{field}: {value!r} must be a whole number of 1 or more")
        target = settings.get("autoscale_target_utilization")
        if target is not None and (not isinstance(target, int) or not 1 <= target <= 100):
            raise WebserviceException(
                f"autoscale_target_utilization: {target!r} must be a percentage from 1 to 100"
            )
        if settings.get("num_replicas") is not None and settings.get("autoscale_enabled"):
            raise WebserviceException(
                "num_replicas: give it only with autoscale_enabled=False (autoscaling sets "
                "the number of replicas)"
            )
        low = settings.get("autoscale_min_replicas") or DEFAULTS["autoscale_min_replicas"]
        high = settings.get("autoscale_max_replicas") or DEFAULTS["autoscale_max_replicas"]
        if low > high:
            raise WebserviceException(
                f"autoscale_min_replicas: {low} is above autoscale_max_replicas ({high})"
            )
        if settings.get("token_auth_enabled") and settings.get("auth_enabled"):
            raise WebserviceException(
                "token_auth_enabled: key auth (auth_enabled) and token auth cannot both be on"
            )
        # The SDK's defaults: key auth unless token auth is asked for; autoscaling unless
        # a number of replicas is given.
        if settings.get("auth_enabled") is None:
            settings["auth_enabled"] = not settings.get("token_auth_enabled")
        if settings.get("autoscale_enabled") is None:
            settings["autoscale_enabled"] = settings.get("num_replicas") is None
        for field in ("primary_key", "secondary_key"):
            if settings.get(field) is not None and not settings["auth_enabled"]:
                raise WebserviceException(f"{field}: keys are given but auth_enabled is not True")
        self.__dict__.update(settings)

    def validate_configuration(self) -> None:
        return None

    def service_fields(self) -> dict[str, Any]:
        """The ServiceCreate fields of this configuration."""
        given = self.__dict__
        fields: dict[str, Any] = {
            "compute_type": "AKS",
            "cpu_cores": given.get("cpu_cores"),
            "memory_gb": given.get("memory_gb"),
            "auth_enabled": bool(given.get("auth_enabled")),
            "token_auth_enabled": bool(given.get("token_auth_enabled")),
            "primary_key": given.get("primary_key"),
            "secondary_key": given.get("secondary_key"),
            "autoscale_enabled": bool(given.get("autoscale_enabled")),
            "num_replicas": given.get("num_replicas"),
            "tags": {str(k): str(v) for k, v in (given.get("tags") or {}).items()},
            "properties": {str(k): str(v) for k, v in (given.get("properties") or {}).items()},
            "description": given.get("description"),
        }
        for field, default in DEFAULTS.items():
            value = given.get(field)
            fields[field] = default if value is None else value
        return fields


class AksWebservice(Webservice):
    """A service deployed with ``AksWebservice.deploy_configuration(...)`` and a compute
    cluster as ``deployment_target``; ``replicas`` says where each replica runs."""

    _webservice_type = "AKS"

    @staticmethod
    def deploy_configuration(
        autoscale_enabled: bool | None = None,
        autoscale_min_replicas: int | None = None,
        autoscale_max_replicas: int | None = None,
        autoscale_refresh_seconds: int | None = None,
        autoscale_target_utilization: int | None = None,
        collect_model_data: bool | None = None,
        auth_enabled: bool | None = None,
        cpu_cores: float | None = None,
        memory_gb: float | None = None,
        enable_app_insights: bool | None = None,
        scoring_timeout_ms: int | None = None,
        replica_max_concurrent_requests: int | None = None,
        max_request_wait_time: int | None = None,
        num_replicas: int | None = None,
        primary_key: str | None = None,
        secondary_key: str | None = None,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        description: str | None = None,
        gpu_cores: int | None = None,
        period_seconds: int | None = None,
        initial_delay_seconds: int | None = None,
        timeout_seconds: int | None = None,
        success_threshold: int | None = None,
        failure_threshold: int | None = None,
        namespace: str | None = None,
        token_auth_enabled: bool | None = None,
        compute_target_name: str | None = None,
        cpu_cores_limit: float | None = None,
        memory_gb_limit: float | None = None,
        blobfuse_enabled: bool | None = None,
    ) -> AksServiceDeploymentConfiguration:
        """The configuration of an AKS-style service; the SDK's defaults (0.1 cores,
        0.5 GB, key auth, autoscaling from 1 to 10 replicas at 70% utilization of one
        request in flight per replica)."""
        return AksServiceDeploymentConfiguration(**{k: v for k, v in locals().items()})

    compute_name = InfoField("compute_target")
    cpu_cores = InfoField()
    memory_gb = InfoField()
    auth_enabled = InfoField()
    token_auth_enabled = InfoField()
    autoscale_enabled = InfoField()
    autoscale_min_replicas = InfoField()
    autoscale_max_replicas = InfoField()
    autoscale_target_utilization = InfoField()
    num_replicas = InfoField()

    @property
    def replicas(self) -> list[dict[str, Any]]:
        """Each replica as last fetched: its node, state, restarts and requests sent to it."""
        return [replica.model_dump(mode="json") for replica in self._info.replicas]

    @property
    def desired_replicas(self) -> int | None:
        """How many replicas the autoscaler wants now."""
        return self._info.desired_replicas

    def update(  # type: ignore[override]
        self,
        image: Any = None,
        autoscale_enabled: bool | None = None,
        autoscale_min_replicas: int | None = None,
        autoscale_max_replicas: int | None = None,
        autoscale_refresh_seconds: int | None = None,
        autoscale_target_utilization: int | None = None,
        collect_model_data: bool | None = None,
        auth_enabled: bool | None = None,
        cpu_cores: float | None = None,
        memory_gb: float | None = None,
        enable_app_insights: bool | None = None,
        scoring_timeout_ms: int | None = None,
        replica_max_concurrent_requests: int | None = None,
        max_request_wait_time: int | None = None,
        num_replicas: int | None = None,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        description: str | None = None,
        models: list[Any] | None = None,
        inference_config: Any = None,
        token_auth_enabled: bool | None = None,
        wait: bool = False,
        **kept: Any,
    ) -> None:
        """Scale (autoscaling settings, ``num_replicas``: taken at once, no replica starts
        again) or serve new models or code (``models``, ``inference_config``: every
        replica starts the new version beside the one serving, without downtime)."""
        for field, value in (
            ("image", image),
            ("auth_enabled", auth_enabled),
            ("token_auth_enabled", token_auth_enabled),
            ("cpu_cores", cpu_cores),
            ("memory_gb", memory_gb),
        ):
            if value is not None:
                raise WebserviceException(
                    f"{field}: a service keeps its image, auth and resources; deploy again "
                    "with overwrite=True to change them"
                )
        scaling = {
            "autoscale_enabled": autoscale_enabled,
            "autoscale_min_replicas": autoscale_min_replicas,
            "autoscale_max_replicas": autoscale_max_replicas,
            "autoscale_refresh_seconds": autoscale_refresh_seconds,
            "autoscale_target_utilization": autoscale_target_utilization,
            "num_replicas": num_replicas,
            "replica_max_concurrent_requests": replica_max_concurrent_requests,
            "scoring_timeout_ms": scoring_timeout_ms,
            "description": description,
        }
        change: dict[str, Any] = {k: v for k, v in scaling.items() if v is not None}
        if models is not None:
            change["models"] = [model.id for model in models]
        if inference_config is not None:
            change.update(inference_config.service_fields(self.workspace))
            self.inference_config = inference_config
        if not change:
            raise WebserviceException(
                "update: give models, inference_config or a replica or autoscale setting"
            )
        self._update(change, wait)

    def serialize(self) -> dict[str, Any]:
        """The common fields, the cluster, auth, autoscaler settings and the replicas."""
        info = self._info
        return {
            **super().serialize(),
            "computeName": info.compute_target,
            "authEnabled": info.auth_enabled,
            "tokenAuthEnabled": info.token_auth_enabled,
            "autoScaler": {
                "autoscaleEnabled": info.autoscale_enabled,
                "minReplicas": info.autoscale_min_replicas,
                "maxReplicas": info.autoscale_max_replicas,
                "targetUtilization": info.autoscale_target_utilization,
            },
            "numReplicas": info.num_replicas,
            "desiredReplicas": info.desired_replicas,
            "replicas": self.replicas,
        }

    def get_token(self) -> tuple[str, datetime]:
        """A token for this service (``token_auth_enabled``) and when to get the next one
        (it expires later; ``run`` gets one for itself)."""
        with _errors():
            found = api_of(self).token(self.name)
        return found.access_token, found.refresh_by


def api_of(service: Webservice) -> ServicesApi:
    return service._services
