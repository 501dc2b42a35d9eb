"""AciWebservice: a container-instance-style service (``azureml.core.webservice.AciWebservice``).

Here it is one scoring process on the control plane's machine, like an Azure Container
Instance is one container: ``cpu_cores`` whole cores become uvicorn workers (each runs
``init()``), and ``auth_enabled=True`` makes ``POST /score`` need one of its keys.
"""

from __future__ import annotations

from typing import Any

from trainforge.core._info import InfoField
from trainforge.core.webservice.webservice import Webservice
from trainforge.exceptions import WebserviceException


class AciServiceDeploymentConfiguration:
    """What ``AciWebservice.deploy_configuration`` makes; the SSL, DNS, network and
    customer-managed-key settings are kept and shown but change nothing here."""

    def __init__(self, **settings: Any) -> None:
        for field in ("cpu_cores", "memory_gb"):
            value = settings.get(field)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise WebserviceException(f"{field}: {value!r} must be a number above 0")
        for field in ("primary_key", "secondary_key"):
            if settings.get(field) is not None and not settings.get("auth_enabled"):
                raise WebserviceException(f"{field}: keys are given but auth_enabled is not True")
        self.__dict__.update(settings)

    def validate_configuration(self) -> None:
        return None


class AciWebservice(Webservice):
    """A service deployed with ``AciWebservice.deploy_configuration(...)``."""

    _webservice_type = "ACI"

    @staticmethod
    def deploy_configuration(
        cpu_cores: float | None = None,
        memory_gb: float | None = None,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        description: str | None = None,
        location: str | None = None,
        auth_enabled: bool | None = None,
        ssl_enabled: bool | None = None,
        enable_app_insights: bool | None = None,
        ssl_cert_pem_file: str | None = None,
        ssl_key_pem_file: str | None = None,
        ssl_cname: str | None = None,
        dns_name_label: str | None = None,
        primary_key: str | None = None,
        secondary_key: str | None = None,
        collect_model_data: bool | None = None,
        cmk_vault_base_url: str | None = None,
        cmk_key_name: str | None = None,
        cmk_key_version: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
    ) -> AciServiceDeploymentConfiguration:
        return AciServiceDeploymentConfiguration(**{k: v for k, v in locals().items()})

    cpu_cores = InfoField()
    memory_gb = InfoField()
    auth_enabled = InfoField()
