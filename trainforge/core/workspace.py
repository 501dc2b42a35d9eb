"""Workspace: the home of experiments, runs, datastores, secrets and compute targets."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainforge.client.api import api
from trainforge.client.api.datastores import DatastoresApi
from trainforge.client.api.experiments import ExperimentsApi
from trainforge.client.api.workspaces import WorkspacesApi
from trainforge.client.errors import sdk_errors
from trainforge.client.session import Session, default_session
from trainforge.core.experiment import Experiment
from trainforge.core.run import Run, get_run
from trainforge.exceptions import ProjectSystemException, UserErrorException
from trainforge.schemas.workspaces import WorkspaceCreate, WorkspaceInfo, WorkspaceUpdate

if TYPE_CHECKING:
    # Imported where used: a training script's Run.get_context() loads this module, and
    # needs none of them.
    from trainforge.core.compute import ComputeTarget
    from trainforge.core.datastore import Datastore
    from trainforge.core.keyvault import Keyvault

log = logging.getLogger("trainforge")
CONFIG_FOLDERS = (".azureml", "aml_config", None)
CONFIG_FILES = ("config.json", "project.json")
REQUIRED_KEYS = ("subscription_id", "resource_group", "workspace_name")


class Workspace:
    """A named home for machine-learning work, as ``azureml.core.Workspace``.

    ``Workspace(subscription_id, resource_group, workspace_name)`` loads an existing
    workspace and raises when there is none; ``Workspace.create`` makes one.
    """

    DEFAULT_CPU_CLUSTER_NAME = "cpu-cluster"
    DEFAULT_GPU_CLUSTER_NAME = "gpu-cluster"

    def __init__(
        self,
        subscription_id: str | None,
        resource_group: str | None,
        workspace_name: str,
        auth: Any = None,
        _location: str | None = None,
        _disable_service_check: bool = False,
        _workspace_id: str | None = None,
        sku: str = "basic",
        tags: dict[str, str] | None = None,
        _cloud: str = "AzureCloud",
        _session: Session | None = None,
        _info: WorkspaceInfo | None = None,
    ) -> None:
        self._session = _session or default_session()
        self._auth = auth
        if _info is None:
            _info = _find(self._session, workspace_name, subscription_id, resource_group)
        self._info = _info

    # -- construction -------------------------------------------------------------------
    @staticmethod
    def create(
        name: str,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        create_resource_group: bool = True,
        sku: str = "basic",
        tags: dict[str, str] | None = None,
        friendly_name: str | None = None,
        storage_account: str | None = None,
        key_vault: str | None = None,
        app_insights: str | None = None,
        container_registry: str | None = None,
        adb_workspace: str | None = None,
        primary_user_assigned_identity: str | None = None,
        cmk_keyvault: str | None = None,
        resource_cmk_uri: str | None = None,
        hbi_workspace: bool = False,
        default_cpu_compute_target: Any = None,
        default_gpu_compute_target: Any = None,
        private_endpoint_config: Any = None,
        private_endpoint_auto_approval: bool = True,
        exist_ok: bool = False,
        show_output: bool = True,
        user_assigned_identity_for_cmk_encryption: str | None = None,
        system_datastores_auth_mode: str = "accessKey",
        v1_legacy_mode: bool | None = None,
    ) -> Workspace:
        """Create a workspace, or with ``exist_ok=True`` return the existing one."""
        session = default_session()
        with sdk_errors():
            info, created = WorkspacesApi(session.client).create(
                WorkspaceCreate.model_construct(
                    name=name,
                    subscription_id=subscription_id,
                    resource_group=resource_group,
                    location=location,
                    create_resource_group=create_resource_group,
                    exist_ok=exist_ok,
                    friendly_name=friendly_name,
                    tags=tags or {},
                    sku=sku,
                    storage_account=storage_account,
                )
            )
        if show_output and created:
            print(
                f"Deployed workspace {info.name} (resource group {info.resource_group}, location {info.location})"
            )
        return Workspace(
            info.subscription_id, info.resource_group, info.name, auth, _session=session, _info=info
        )

    @staticmethod
    def get(
        name: str,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        cloud: str = "AzureCloud",
        id: str | None = None,
    ) -> Workspace:
        """Load the existing workspace ``name``; raises ProjectSystemException when absent."""
        return Workspace(subscription_id, resource_group, name, auth)

    @staticmethod
    def list(
        subscription_id: str | None = None, auth: Any = None, resource_group: str | None = None
    ) -> dict[str, list[Workspace]]:
        """{name: [Workspace]} for the workspaces of a subscription (and resource group)."""
        session = default_session()
        with sdk_errors():
            found = WorkspacesApi(session.client).list(subscription_id, resource_group)
        result: dict[str, list[Workspace]] = {}
        for info in found:
            ws = Workspace(
                info.subscription_id,
                info.resource_group,
                info.name,
                auth,
                _session=session,
                _info=info,
            )
            result.setdefault(info.name, []).append(ws)
        return result

    @staticmethod
    def from_config(
        path: str | None = None,
        auth: Any = None,
        _logger: Any = None,
        _file_name: str | None = None,
    ) -> Workspace:
        """Load the workspace named by the nearest config.json (see ``find_config``)."""
        config_path = find_config(path, _file_name)
        try:
            config = json.loads(Path(config_path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserErrorException(
                f"The workspace configuration file {config_path} could not be read: {exc}"
            ) from None
        subscription_id, resource_group, name = parse_config(config, config_path)
        print(f"Found the config file in: {config_path}")
        return Workspace(subscription_id, resource_group, name, auth)

    def write_config(self, path: str | None = None, file_name: str | None = None) -> None:
        """Write ``config.json`` (Scope form) to ``<path>/.azureml`` (or an existing ``aml_config``)."""
        base = Path(path or ".")
        folder = base / "aml_config" if (base / "aml_config").is_dir() else base / ".azureml"
        if file_name is None:
            file_name = "project.json" if (folder / "project.json").is_file() else "config.json"
        elif not file_name.endswith(".json"):
            file_name += ".json"
        config = {"Id": None, "Scope": self._info.id}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file_name).write_text(json.dumps(config, indent=4))
        except OSError as exc:
            raise UserErrorException(
                f"Could not write the workspace configuration to {folder / file_name}: {exc}"
            ) from None

    def update(
        self,
        friendly_name: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Change the workspace's friendly name, description or tags (given tags replace
        its tags); return its details, as ``get_details()``. The SDK's other arguments
        (image build compute, identities, network access) have nothing to set here."""
        body = WorkspaceUpdate(friendly_name=friendly_name, description=description, tags=tags)
        with sdk_errors(not_found=ProjectSystemException):
            self._info = WorkspacesApi(self._session.client).update(self.name, body)
        return self.get_details()

    def delete(self, delete_dependent_resources: bool = False, no_wait: bool = False) -> None:
        """Delete the workspace with its runs, files and secrets."""
        with sdk_errors(not_found=ProjectSystemException):
            WorkspacesApi(self._session.client).delete(self.name)

    # -- properties ---------------------------------------------------------------------
    @property
    def service_context(self) -> Session:
        """The connection this workspace's objects share: its client, address and metrics."""
        return self._session

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def subscription_id(self) -> str:
        return self._info.subscription_id

    @property
    def resource_group(self) -> str:
        return self._info.resource_group

    @property
    def location(self) -> str:
        return self._info.location

    @property
    def sku(self) -> str:
        return self._info.sku

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._info.tags)

    @property
    def experiments(self) -> dict[str, Experiment]:
        """{name: Experiment} for every experiment of the workspace."""
        with sdk_errors():
            found = api(self, ExperimentsApi).list()
        return {item.name: Experiment(self, item.name, _id=item.id) for item in found}

    @property
    def environments(self) -> dict[str, Any]:
        """{name: Environment} of the registered environments, each at its latest version."""
        from trainforge.core.environment import Environment

        return Environment.list(self)

    @property
    def models(self) -> dict[str, Any]:
        """{name: Model} of the registered models, each at its latest version."""
        from trainforge.core.model import Model

        return {model.name: model for model in Model.list(self, latest=True)}

    @property
    def webservices(self) -> dict[str, Any]:
        """{name: Webservice} of the workspace's scoring services."""
        from trainforge.core.webservice import Webservice

        return {service.name: service for service in Webservice.list(self)}

    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        """{name: ComputeTarget} (AmlCompute for clusters). The 'local' target is implicit,
        as in Azure ML, and not listed."""
        from trainforge.core.compute import ComputeTarget

        return {target.name: target for target in ComputeTarget.list(self)}

    @property
    def datastores(self) -> dict[str, Datastore]:
        """{name: Datastore}; credentials are never returned."""
        from trainforge.core.datastore import Datastore

        with sdk_errors():
            found = api(self, DatastoresApi).list()
        return {info.name: Datastore(self, _info=info) for info in found}

    def get_default_datastore(self) -> Datastore:
        """The default datastore (``workspaceblobstore`` unless set otherwise)."""
        from trainforge.core.datastore import Datastore

        return Datastore(self)

    def set_default_datastore(self, name: str) -> None:
        """Make the datastore ``name`` the workspace's default."""
        from trainforge.core.datastore import Datastore

        Datastore(self, name).set_as_default()

    @property
    def datasets(self) -> dict[str, Any]:
        """{name: latest version} of the registered datasets."""
        from trainforge.core.dataset import Dataset

        return Dataset.get_all(self)

    def get_default_keyvault(self) -> Keyvault:
        from trainforge.core.keyvault import Keyvault

        return Keyvault(self)

    def get_run(self, run_id: str) -> Run:
        return get_run(self, run_id)

    def get_details(self) -> dict[str, Any]:
        """The workspace as the service describes it (camelCase keys, ARM ids)."""
        info = self._info
        arm_group = (
            f"/subscriptions/{info.subscription_id}/resourceGroups/{info.resource_group}/providers"
        )
        return {
            "id": info.id,
            "name": info.name,
            "identityPrincipalId": None,
            "identityTenantId": None,
            "identityType": None,
            "location": info.location,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "tags": info.tags,
            "sku": info.sku,
            "workspaceid": info.workspace_id,
            "sdkTelemetryAppInsightsKey": None,
            "description": info.description,
            "friendlyName": info.friendly_name,
            "creationTime": info.created.isoformat(),
            "keyVault": f"{arm_group}/Microsoft.Keyvault/vaults/{info.name}-keyvault",
            "applicationInsights": None,
            "storageAccount": f"{arm_group}/Microsoft.Storage/storageAccounts/{info.name}-storage",
            "containerRegistry": None,
            "hbiWorkspace": False,
            "imageBuildCompute": None,
            "systemDatastoresAuthMode": "accessKey",
            "discoveryUrl": self._session.address,
            "trainforgeEndpoint": self._session.address,
        }

    def get_portal_url(self) -> str:
        """The workspace's page in the studio (it opens signed in, as ml.azure.com does)."""
        return self._session.studio_url(f"workspaces/{self.name}")

    def __repr__(self) -> str:
        return (
            f"Workspace.create(name='{self.name}', subscription_id='{self.subscription_id}', "
            f"resource_group='{self.resource_group}')"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other._info.workspace_id == self._info.workspace_id

    def __hash__(self) -> int:
        return hash(self._info.workspace_id)


def _find(
    session: Session, name: str, subscription_id: str | None, resource_group: str | None
) -> WorkspaceInfo:
    try:
        with sdk_errors(not_found=ProjectSystemException):
            info: WorkspaceInfo | None = WorkspacesApi(session.client).get(name)
    except ProjectSystemException:
        info = None
    if (
        info is None
        or subscription_id not in (None, info.subscription_id)
        or resource_group not in (None, info.resource_group)
    ):
        scope = "".join(
            f" and {key}={value}"
            for key, value in (
                ("subscription_id", subscription_id),
                ("resource_group", resource_group),
            )
            if value
        )
        raise ProjectSystemException(f"No workspaces found with name={name}{scope}")
    return info


def find_config(path: str | None = None, file_name: str | None = None) -> str:
    """The SDK's config search: ``.azureml/``, then ``aml_config/``, then the folder itself,
    each from ``path`` up to the filesystem root, for config.json then project.json."""
    start = Path(path or ".").resolve()
    if start.is_file():
        return str(start)
    names = (file_name,) if file_name else CONFIG_FILES
    for sub in CONFIG_FOLDERS:
        for name in names:
            for folder in (start, *start.parents):
                candidate = folder / sub / name if sub else folder / name
                if candidate.is_file():
                    return str(candidate)
    raise UserErrorException(
        f"We could not find config.json in: {start} or in its parent directories. "
        "Please provide the full path to the config file or ensure that config.json exists "
        "in the parent directories."
    )


def parse_config(
    config: dict[str, Any], config_path: str | os.PathLike[str]
) -> tuple[str, str, str]:
    """(subscription_id, resource_group, workspace_name) from either config.json form."""
    scope = config.get("Scope")
    if isinstance(scope, str):
        parts = scope.split("/")
        if len(parts) >= 9:
            return parts[2], parts[4], parts[8]
        raise UserErrorException(
            f"The Scope in {config_path} is not a workspace ARM scope: {scope!r}"
        )
    missing = [key for key in REQUIRED_KEYS if not config.get(key)]
    if missing:
        raise UserErrorException(
            f"The config file {config_path} does not seem to contain the required parameters "
            f"{', '.join(REQUIRED_KEYS)}; missing: {', '.join(missing)}"
        )
    return config["subscription_id"], config["resource_group"], config["workspace_name"]
