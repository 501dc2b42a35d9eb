"""Azure authentication classes, as ``azureml.core.authentication``.

trainforge authenticates with the bearer token of its own control plane (the admin token
of ``server.json`` for the local server, ``TRAINFORGE_TOKEN`` for a team server). These
objects take the SDK's arguments and hand out that token: ``get_authentication_header()``
gives a header the control plane accepts, as code that calls a REST endpoint expects.
"""

from __future__ import annotations

from typing import Any


class AbstractAuthentication:
    """Base of the SDK's authentication objects; credentials given here are not used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs

    def get_authentication_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` with the token this process's SDK session
        uses; a new dict each time, as the SDK returns (callers add their own headers)."""
        return {"Authorization": f"Bearer {self._token()}"}

    def get_token(self, *scopes: str, **kwargs: Any) -> str:
        """The bearer token itself (the SDK returns an access token object here)."""
        return self._token()

    @staticmethod
    def _token() -> str:
        from trainforge.client.session import default_session

        return default_session().client.endpoint.token


class InteractiveLoginAuthentication(AbstractAuthentication):
    """``InteractiveLoginAuthentication(force=False, tenant_id=None, cloud=None)``: no login
    is needed here; the session's token is used."""


class AzureCliAuthentication(AbstractAuthentication):
    """``AzureCliAuthentication(cloud=None)``: the Azure CLI is not used; the session's token is."""


class ServicePrincipalAuthentication(AbstractAuthentication):
    """``ServicePrincipalAuthentication(tenant_id, service_principal_id,
    service_principal_password, cloud='AzureCloud')``: the session's token is used."""


class MsiAuthentication(AbstractAuthentication):
    """``MsiAuthentication(cloud=None, identity_config=None)``: the session's token is used."""
