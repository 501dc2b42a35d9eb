"""AmlComputeProvisioningConfiguration: the settings of a new AmlCompute cluster.

The SDK's arguments are checked by the control plane's own models (``ComputeSpec`` in
``trainforge.schemas.compute``), so the SDK, the CLI and a REST caller meet the same rules;
a refusal is a ComputeTargetException naming the argument.
"""

from __future__ import annotations

from typing import Any

from trainforge.core.compute.compute import (
    AML_COMPUTE,
    ComputeTargetProvisioningConfiguration,
    checked,
    target_class,
)
from trainforge.schemas.compute import ComputeCreate, ComputeSpec


class AmlComputeProvisioningConfiguration(ComputeTargetProvisioningConfiguration):
    """The settings of a new AmlCompute cluster; make it with
    ``AmlCompute.provisioning_configuration(...)`` and pass it to ``ComputeTarget.create``.

    Only the VM size, priority and scale settings shape a trainforge cluster; the
    administrator account, VNet, identity, remote-login and public-IP settings are
    accepted, checked and recorded (a password is never stored, only whether one was given).
    """

    def __init__(
        self,
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int | str | None = 0,
        max_nodes: int | str | None = None,
        idle_seconds_before_scaledown: int | str | None = None,
        admin_username: str | None = None,
        admin_user_password: str | None = None,
        admin_user_ssh_key: str | None = None,
        vnet_resourcegroup_name: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        remote_login_port_public_access: str = "NotSpecified",
        identity_type: str | None = None,
        identity_id: list[str] | str | None = None,
        location: str | None = None,
        enable_node_public_ip: bool = True,
        backend: str = "local",
        ray_address: str | None = None,
        ray_auth_token_path: str | None = None,
    ) -> None:
        # The cluster class imports this module: it is looked up by its registered type.
        super().__init__(target_class(AML_COMPUTE), location)
        self.backend = backend
        self.ray_address = ray_address
        self.ray_auth_token_path = ray_auth_token_path
        self.vm_size = vm_size
        self.vm_priority = vm_priority
        self.min_nodes = min_nodes
        self.max_nodes = max_nodes
        self.idle_seconds_before_scaledown = idle_seconds_before_scaledown
        self.admin_username = admin_username
        self.admin_user_password = admin_user_password
        self.admin_user_ssh_key = admin_user_ssh_key
        self.vnet_resourcegroup_name = vnet_resourcegroup_name
        self.vnet_name = vnet_name
        self.subnet_name = subnet_name
        self.tags = tags
        self.description = description
        self.remote_login_port_public_access = remote_login_port_public_access
        self.identity_type = identity_type
        self.identity_id = identity_id
        self.enable_node_public_ip = enable_node_public_ip

    def validate_configuration(self) -> None:
        """Check every setting, filling the defaults; raise ComputeTargetException naming
        the argument that is not allowed, and what is (the rules are ComputeSpec's, the same
        the control plane applies to a REST or CLI create)."""
        spec = self._spec()
        self.backend = spec.backend
        self.vm_size = spec.vm_size  # type: ignore[assignment]
        self.vm_priority = spec.vm_priority
        scale = spec.scale_settings
        self.min_nodes = scale.min_nodes
        self.max_nodes = scale.max_nodes
        self.idle_seconds_before_scaledown = scale.idle_seconds_before_scaledown
        self.remote_login_port_public_access = spec.settings.remote_login_port_public_access
        self.identity_type = spec.settings.identity_type
        self.identity_id = spec.settings.identity_id

    def _spec(self) -> ComputeSpec:
        """The configuration as the control plane's ComputeSpec, checked."""
        settings = {
            "admin_username": self.admin_username,
            "admin_user_password": self.admin_user_password,
            "admin_user_ssh_key": self.admin_user_ssh_key,
            "vnet_resourcegroup_name": self.vnet_resourcegroup_name,
            "vnet_name": self.vnet_name,
            "subnet_name": self.subnet_name,
            "remote_login_port_public_access": self.remote_login_port_public_access,
            "identity_type": self.identity_type,
            "identity_id": self.identity_id,
            "location": self.location,
            "enable_node_public_ip": self.enable_node_public_ip,
            "ray_address": self.ray_address,
            "ray_auth_token_path": self.ray_auth_token_path,
        }
        fields = {
            "backend": self.backend,
            "vm_size": self.vm_size,
            "vm_priority": self.vm_priority,
            "scale_settings": {
                "min_nodes": self.min_nodes,
                "max_nodes": self.max_nodes,
                "idle_seconds_before_scaledown": self.idle_seconds_before_scaledown,
            },
            "tags": self.tags,
            "description": self.description,
            "settings": settings,
        }
        return checked(ComputeSpec, fields)

    def _request(self, name: str) -> ComputeCreate:
        """The ComputeCreate request for a cluster ``name``."""
        return checked(ComputeCreate, {**self._spec().model_dump(), "name": name})

    def _to_body(self, name: str) -> dict[str, Any]:
        """The JSON body of the create request for a cluster ``name`` (no password)."""
        return self._request(name).model_dump(mode="json")

    def __repr__(self) -> str:
        return (
            f"AmlComputeProvisioningConfiguration(vm_size={self.vm_size!r}, "
            f"vm_priority={self.vm_priority!r}, min_nodes={self.min_nodes!r}, "
            f"max_nodes={self.max_nodes!r}, "
            f"idle_seconds_before_scaledown={self.idle_seconds_before_scaledown!r})"
        )
