"""Azure authentication classes, accepted so that existing code runs unchanged.

trainforge authenticates with the token of its own server (see ``trainforge status``);
these objects carry no credentials of their own.
"""

from __future__ import annotations

from typing import Any


class AbstractAuthentication:
    """Base of the SDK's authentication objects; accepted and not used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs


class InteractiveLoginAuthentication(AbstractAuthentication):
    """Accepted for compatibility: trainforge needs no interactive login."""


class AzureCliAuthentication(AbstractAuthentication):
    """Accepted for compatibility: trainforge does not use the Azure CLI."""


class ServicePrincipalAuthentication(AbstractAuthentication):
    """Accepted for compatibility: trainforge does not use service principals."""


class MsiAuthentication(AbstractAuthentication):
    """Accepted for compatibility: trainforge does not use managed identities."""
