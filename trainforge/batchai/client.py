"""``azure.mgmt.batchai.BatchAIManagementClient`` over trainforge's control plane.

A Batch AI workspace is a trainforge workspace (in the resource group it was created in),
a cluster an AmlCompute cluster of that workspace, an experiment an experiment, and a job
a run named after the job (``Run(experiment, job_name)`` reads it the Azure ML way). The
operation groups keep the SDK's names, arguments and results: ``create`` and ``delete``
return pollers whose ``result()`` waits, lists are iterators, errors are
:class:`CloudError` with the service's codes.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from trainforge.batchai import _launch
from trainforge.batchai.storage import AzureHttpError, StorageAccount
from trainforge.client.api.computes import ComputesApi
from trainforge.client.api.datastores import DatastoresApi
from trainforge.client.api.experiments import ExperimentsApi
from trainforge.client.api.files import FilesApi
from trainforge.client.api.runs import RunsApi
from trainforge.client.api.secrets import SecretsApi
from trainforge.client.api.workspaces import WorkspacesApi
from trainforge.client.http import ApiError, Endpoint, TrainforgeClient
from trainforge.client.session import default_session
from trainforge.client.settings import ClientSettings
from trainforge.schemas import batchai as m
from trainforge.schemas.batchai import PROVIDER, STDOUTERR, check_name, check_resource_group
from trainforge.schemas.compute import ComputeCreate, ComputeInfo, ComputeUpdate, NodeInfo
from trainforge.schemas.compute_settings import ComputeSettings, ScaleSettings
from trainforge.schemas.runs import RunCreate, RunInfo, RunStatus
from trainforge.schemas.workspaces import (
    SecretValue,
    WorkspaceCreate,
    WorkspaceInfo,
    WorkspaceUpdate,
)

T = TypeVar("T")
POLL_S = 0.5
DELETED = "batchai.deleted"
PARAMETERS_TAG = "batchai.parameters"
# The datastores a cluster's nodeSetup.mountVolumes became (their keys are sealed there).
MOUNTS_TAG = "batchai.mounts"
EXECUTION_STATES = {
    RunStatus.NOT_STARTED: m.ExecutionState.queued,
    RunStatus.QUEUED: m.ExecutionState.queued,
    RunStatus.PREPARING: m.ExecutionState.running,
    RunStatus.STARTING: m.ExecutionState.running,
    RunStatus.RUNNING: m.ExecutionState.running,
    RunStatus.FINALIZING: m.ExecutionState.running,
    RunStatus.CANCEL_REQUESTED: m.ExecutionState.terminating,
    RunStatus.COMPLETED: m.ExecutionState.succeeded,
    RunStatus.FAILED: m.ExecutionState.failed,
    RunStatus.CANCELED: m.ExecutionState.failed,
}


class CloudError(Exception):
    """A request the service refused: ``status_code``, ``error`` (the code) and ``message``,
    as ``msrestazure.azure_exceptions.CloudError`` carries them."""

    def __init__(self, status_code: int, error: str, message: str) -> None:
        super().__init__(f"({error}) {message}")
        self.status_code = status_code
        self.error = error
        self.message = message


def _from_api(exc: ApiError, where: str = "") -> CloudError:
    code = {404: "ResourceNotFound", 409: "Conflict", 403: "AuthorizationFailed"}.get(
        exc.status_code, exc.code or "BadRequest"
    )
    prefix = f"{where}: " if where else ""
    return CloudError(exc.status_code, code, f"{prefix}{exc.message}")


def _validated(model: type[T], value: Any, what: str) -> T:
    """``value`` as ``model``; a bad value is CloudError 400 naming the field."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)  # type: ignore[attr-defined,no-any-return]
    except ValidationError as exc:
        raise CloudError(400, "InvalidRequestContent", _describe(exc, what)) from None


def _describe(exc: ValidationError, what: str) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {message}" if loc else message)
    return f"{what}: " + "; ".join(parts)


def _name(value: str, field: str) -> str:
    try:
        return check_name(value, field)
    except ValueError as exc:
        raise CloudError(400, "InvalidParameter", str(exc)) from None


class LROPoller(Generic[T]):
    """A long-running operation: ``result(timeout)`` waits for its outcome (msrest's
    ``AzureOperationPoller`` / ``LROPoller``)."""

    def __init__(self, check: Callable[[], tuple[bool, T]], timeout_s: float = 3600.0) -> None:
        self._check = check
        self._timeout = timeout_s
        self._done = False
        self._value: T | None = None
        self._callbacks: list[Callable[[T | None], None]] = []

    def _poll(self) -> bool:
        if not self._done:
            self._done, self._value = self._check()
            if self._done:
                for callback in self._callbacks:
                    callback(self._value)
        return self._done

    def result(self, timeout: float | None = None) -> T:
        deadline = time.monotonic() + (self._timeout if timeout is None else timeout)
        while not self._poll():
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        return self._value  # type: ignore[return-value]

    def wait(self, timeout: float | None = None) -> None:
        self.result(timeout)

    def done(self) -> bool:
        return self._poll()

    def status(self) -> str:
        return "Succeeded" if self._poll() else "InProgress"

    def add_done_callback(self, func: Callable[[T | None], None]) -> None:
        self._callbacks.append(func)
        if self._done:
            func(self._value)


def _done(value: T) -> LROPoller[T]:
    return LROPoller(lambda: (True, value))


class _Context:
    """What every operation group shares: the connection and the ARM ids it builds."""

    def __init__(self, client: TrainforgeClient, subscription_id: str) -> None:
        self.client = client
        self.subscription_id = subscription_id
        self._lock = threading.Lock()

    def workspace(self, resource_group: str, workspace: str) -> WorkspaceInfo:
        """The trainforge workspace behind a Batch AI workspace of ``resource_group``."""
        try:
            check_resource_group(resource_group)
        except ValueError as exc:
            raise CloudError(400, "InvalidParameter", str(exc)) from None
        _name(workspace, "workspace_name")
        try:
            info = WorkspacesApi(self.client).get(workspace)
        except ApiError as exc:
            if exc.status_code in (400, 404):
                raise self.not_found("workspace", workspace, resource_group) from None
            raise _from_api(exc) from None
        if info.resource_group.lower() != resource_group.lower():
            raise self.not_found("workspace", workspace, resource_group)
        return info

    def not_found(self, kind: str, name: str, resource_group: str) -> CloudError:
        return CloudError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.BatchAI/{kind}s/{name}' under resource group "
            f"'{resource_group}' was not found.",
        )

    def arm(self, ws: WorkspaceInfo, *parts: str) -> str:
        path = f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/providers/{PROVIDER}/workspaces/{ws.name}"
        return path + "".join(f"/{p}" for p in parts)


class WorkspacesOperations:
    """``client.workspaces``: create, update, get, list, delete."""

    def __init__(self, context: _Context) -> None:
        self._c = context

    def _model(self, info: WorkspaceInfo) -> m.Workspace:
        return m.Workspace(
            id=self._c.arm(info),
            name=info.name,
            location=info.location,
            tags=info.tags or None,
            creation_time=info.created,
            provisioning_state=m.ProvisioningState.succeeded,
            provisioning_state_transition_time=info.created,
        )

    def create(
        self, resource_group_name: str, workspace_name: str, location: str,
        tags: dict[str, str] | None = None, **_: Any,
    ) -> LROPoller[m.Workspace]:  # fmt: skip
        """Create the workspace (or find it, as a repeated PUT does)."""
        check_resource_group(resource_group_name)
        _name(workspace_name, "workspace_name")
        if not location:
            raise CloudError(400, "InvalidParameter", "location: required")
        body = WorkspaceCreate(
            name=workspace_name,
            subscription_id=self._c.subscription_id,
            resource_group=resource_group_name,
            location=location,
            exist_ok=True,
            tags=tags or {},
        )
        try:
            info, _created = WorkspacesApi(self._c.client).create(body)
        except ApiError as exc:
            raise _from_api(exc, "workspace_name") from None
        if info.resource_group.lower() != resource_group_name.lower():
            raise CloudError(
                409,
                "Conflict",
                f"workspace_name: a workspace {workspace_name!r} exists in resource group "
                f"{info.resource_group!r}",
            )
        return _done(self._model(info))

    def get(self, resource_group_name: str, workspace_name: str, **_: Any) -> m.Workspace:
        return self._model(self._c.workspace(resource_group_name, workspace_name))

    def update(
        self, resource_group_name: str, workspace_name: str, tags: dict[str, str] | None = None,
        **_: Any,
    ) -> m.Workspace:  # fmt: skip
        """Replace the workspace's tags (the one thing Batch AI let a workspace update change)."""
        ws = self._c.workspace(resource_group_name, workspace_name)
        if tags is None:
            return self._model(ws)
        try:
            body = WorkspaceUpdate(tags=tags)
        except ValidationError as exc:
            raise CloudError(400, "InvalidRequestContent", _describe(exc, "tags")) from None
        return self._model(WorkspacesApi(self._c.client).update(ws.name, body))

    def list(self, workspaces_list_options: Any = None, **_: Any) -> Iterator[m.Workspace]:
        limit = getattr(workspaces_list_options, "max_results", 1000)
        found = WorkspacesApi(self._c.client).list(subscription_id=self._c.subscription_id)
        return iter([self._model(info) for info in found][:limit])

    def list_by_resource_group(
        self, resource_group_name: str, workspaces_list_by_resource_group_options: Any = None,
        **_: Any,
    ) -> Iterator[m.Workspace]:  # fmt: skip
        limit = getattr(workspaces_list_by_resource_group_options, "max_results", 1000)
        found = WorkspacesApi(self._c.client).list(
            subscription_id=self._c.subscription_id, resource_group=resource_group_name
        )
        return iter([self._model(info) for info in found][:limit])

    def delete(self, resource_group_name: str, workspace_name: str, **_: Any) -> LROPoller[None]:
        """Delete the workspace and everything in it."""
        self._c.workspace(resource_group_name, workspace_name)
        try:
            WorkspacesApi(self._c.client).delete(workspace_name)
        except ApiError as exc:
            raise _from_api(exc, "workspace_name") from None
        return _done(None)


def _cancel(runs: RunsApi, run_id: str) -> None:
    """Cancel the run; one that has ended meanwhile stays as it ended."""
    try:
        runs.cancel(run_id)
    except ApiError as exc:
        if exc.status_code != 409:
            raise _from_api(exc) from None


def _gone(delete: Callable[[], None]) -> bool:
    """Delete what the server deletes once it has stopped; whether it is gone."""
    try:
        delete()
    except ApiError as exc:
        if exc.status_code == 409:  # still stopping
            return False
        if exc.status_code != 404:
            raise _from_api(exc) from None
    return True


def _finish_delete(runs: RunsApi, run_id: str) -> bool:
    return _gone(lambda: runs.delete(run_id))


class ExperimentsOperations:
    """``client.experiments``: create, get, list_by_workspace, delete."""

    def __init__(self, context: _Context) -> None:
        self._c = context

    def _model(self, ws: WorkspaceInfo, name: str) -> m.Experiment:
        return m.Experiment(
            id=self._c.arm(ws, "experiments", name),
            name=name,
            creation_time=ws.created,
            provisioning_state=m.ProvisioningState.succeeded,
        )

    def create(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, **_: Any
    ) -> LROPoller[m.Experiment]:
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(experiment_name, "experiment_name")
        try:
            ExperimentsApi(self._c.client, ws.name).ensure(experiment_name)
        except ApiError as exc:
            raise _from_api(exc, "experiment_name") from None
        return _done(self._model(ws, experiment_name))

    def _exists(self, ws: WorkspaceInfo, name: str) -> bool:
        return any(e.name == name for e in ExperimentsApi(self._c.client, ws.name).list())

    def get(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, **_: Any
    ) -> m.Experiment:
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(experiment_name, "experiment_name")
        if not self._exists(ws, experiment_name):
            raise self._c.not_found("experiment", experiment_name, resource_group_name)
        return self._model(ws, experiment_name)

    def delete(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, **_: Any
    ) -> LROPoller[None]:
        """Delete the experiment and all its jobs (those still going are stopped first)."""
        ws = self._c.workspace(resource_group_name, workspace_name)
        self.get(resource_group_name, workspace_name, experiment_name)
        runs = RunsApi(self._c.client, ws.name)
        for info in runs.list(experiment=experiment_name):
            if not info.status.is_terminal:
                _cancel(runs, info.run_id)
        experiments = ExperimentsApi(self._c.client, ws.name)
        return LROPoller(lambda: (_gone(lambda: experiments.delete(experiment_name)), None))

    def list_by_workspace(
        self, resource_group_name: str, workspace_name: str, experiments_list_by_workspace_options: Any = None,
        **_: Any,
    ) -> Iterator[m.Experiment]:  # fmt: skip
        ws = self._c.workspace(resource_group_name, workspace_name)
        limit = getattr(experiments_list_by_workspace_options, "max_results", 1000)
        found = ExperimentsApi(self._c.client, ws.name).list()
        return iter([self._model(ws, e.name) for e in found][:limit])


class ClustersOperations:
    """``client.clusters``: AmlCompute clusters in Batch AI's shapes."""

    def __init__(self, context: _Context) -> None:
        self._c = context

    def _api(self, ws: WorkspaceInfo) -> ComputesApi:
        return ComputesApi(self._c.client, ws.name)

    def _model(self, ws: WorkspaceInfo, info: ComputeInfo) -> m.Cluster:
        stored: dict[str, Any] = {}
        raw = info.tags.get(PARAMETERS_TAG)
        if raw:
            kept = m.ClusterCreateParameters.model_validate_json(raw)
            _without_keys(kept.node_setup.mount_volumes if kept.node_setup else None)
            stored = kept.model_dump(exclude_none=True)
        scale = info.scale_settings
        counts = info.status.node_state_counts
        # Manual scale keeps min = max = the target; bounds apart are auto-scale (also after
        # an update that switched a manual cluster to it).
        if scale.min_nodes != scale.max_nodes or (
            stored.get("scale_settings", {}).get("auto_scale") is not None
        ):
            auto = stored.get("scale_settings", {}).get("auto_scale", {})
            scale_settings = m.ScaleSettings(
                auto_scale=m.AutoScaleSettings(
                    minimum_node_count=scale.min_nodes,
                    maximum_node_count=scale.max_nodes,
                    initial_node_count=auto.get("initial_node_count", 0),
                )
            )
        else:
            scale_settings = m.ScaleSettings(
                manual=m.ManualScaleSettings(
                    target_node_count=scale.max_nodes,
                    node_deallocation_option=scale.node_deallocation_option,
                )
            )
        user = stored.get("user_account_settings") or {
            "admin_user_name": info.settings.admin_username or "",
        }
        user.pop("admin_user_password", None)  # never returned
        errors = [
            m.BatchAIError(code=e.get("code"), message=e.get("message"))
            for e in (info.status.errors or []) + (info.provisioning_errors or [])
        ]
        return m.Cluster(
            id=self._c.arm(ws, "clusters", info.name),
            name=info.name,
            vm_size=info.vm_size,
            vm_priority=info.vm_priority.lower(),
            scale_settings=scale_settings,
            virtual_machine_configuration=stored.get("virtual_machine_configuration"),
            node_setup=stored.get("node_setup"),
            user_account_settings=user,
            subnet=stored.get("subnet"),
            creation_time=info.created,
            provisioning_state=info.provisioning_state.lower(),
            provisioning_state_transition_time=info.modified,
            allocation_state=info.status.allocation_state.lower(),
            allocation_state_transition_time=info.status.allocation_state_transition_time,
            errors=errors or None,
            current_node_count=info.status.current_node_count,
            node_state_counts=m.NodeStateCounts(
                idle_node_count=counts.idle,
                running_node_count=counts.running,
                preparing_node_count=counts.preparing,
                unusable_node_count=counts.unusable + counts.preempted,
                leaving_node_count=counts.leaving,
            ),
        )

    @staticmethod
    def _scale(settings: m.ScaleSettings) -> ScaleSettings:
        if settings.manual is not None:
            target = settings.manual.target_node_count
            return ScaleSettings(
                min_nodes=target,
                max_nodes=target,
                node_deallocation_option=settings.manual.node_deallocation_option,
            )
        auto = settings.auto_scale
        assert auto is not None
        # The service's auto-scaler took only idle nodes away.
        return ScaleSettings(
            min_nodes=auto.minimum_node_count,
            max_nodes=auto.maximum_node_count,
            node_deallocation_option="waitforjobcompletion",
        )

    def create(
        self, resource_group_name: str, workspace_name: str, cluster_name: str,
        parameters: m.ClusterCreateParameters | dict[str, Any], **_: Any,
    ) -> LROPoller[m.Cluster]:  # fmt: skip
        """Create the cluster; ``result()`` returns it once provisioned (nodes may still
        be allocating: ``allocation_state`` 'resizing')."""
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(cluster_name, "cluster_name")
        params = _validated(m.ClusterCreateParameters, parameters, "parameters")
        if params.scale_settings is None:
            raise CloudError(400, "InvalidRequestContent", "parameters.scaleSettings: required")
        user = params.user_account_settings
        mounts = params.node_setup.mount_volumes if params.node_setup else None
        registered = (
            _Mounts(self._c, ws).register(
                mounts, "parameters.nodeSetup.mountVolumes", level="cluster"
            )
            if mounts is not None
            else []
        )
        stored = params.model_copy(deep=True)
        stored.user_account_settings.admin_user_password = None
        _without_keys(stored.node_setup.mount_volumes if stored.node_setup else None)
        task = stored.node_setup.setup_task if stored.node_setup else None
        if task is not None:
            task.std_out_err_path_suffix = (
                f"{ws.subscription_id}/{ws.resource_group}/workspaces/{ws.name}/clusters/"
                f"{cluster_name}/{uuid.uuid4()}"
            )
            vault = SecretsApi(self._c.client, ws.name)
            for index, secret in enumerate(task.secrets or []):
                if secret.value is None:
                    raise CloudError(
                        400,
                        "InvalidRequestContent",
                        f"parameters.nodeSetup.setupTask.secrets[{index}].value: required "
                        "(key-vault references are not supported)",
                    )
                vault.set(_secret_key(cluster_name, secret.name), SecretValue(value=secret.value))
                secret.value = None  # kept in the key vault, never in the cluster's record
        try:
            settings = ComputeSettings(
                admin_username=user.admin_user_name,
                admin_user_password=user.admin_user_password,
                admin_user_ssh_key=user.admin_user_ssh_public_key,
            )
        except ValidationError as exc:
            raise CloudError(
                400, "InvalidRequestContent", _describe(exc, "parameters.userAccountSettings")
            ) from None
        try:
            body = ComputeCreate(
                name=cluster_name,
                vm_size=params.vm_size,
                vm_priority=params.vm_priority,
                scale_settings=self._scale(params.scale_settings).model_copy(
                    update={"idle_seconds_before_scaledown": 120}
                ),
                tags={
                    PARAMETERS_TAG: stored.model_dump_json(exclude_none=True),
                    MOUNTS_TAG: json.dumps([mount.model_dump(mode="json") for mount in registered]),
                },
                settings=settings,
            )
        except ValidationError as exc:
            raise CloudError(400, "InvalidRequestContent", _describe(exc, "parameters")) from None
        except ValueError as exc:
            raise CloudError(400, "InvalidRequestContent", f"parameters: {exc}") from None
        api = self._api(ws)
        try:
            api.create(body)
        except ApiError as exc:
            raise _from_api(exc, "cluster_name") from None

        def check() -> tuple[bool, m.Cluster]:
            info = api.get(cluster_name)
            return info.provisioning_state != "Creating", self._model(ws, info)

        return LROPoller(check)

    def get(
        self, resource_group_name: str, workspace_name: str, cluster_name: str, **_: Any
    ) -> m.Cluster:
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(cluster_name, "cluster_name")
        info = self._api(ws).find(cluster_name)
        if info is None:
            raise self._c.not_found("cluster", cluster_name, resource_group_name)
        return self._model(ws, info)

    def update(
        self, resource_group_name: str, workspace_name: str, cluster_name: str,
        scale_settings: m.ScaleSettings | dict[str, Any] | None = None, **_: Any,
    ) -> m.Cluster:  # fmt: skip
        """New scale settings: a manual target (``resize``) or auto-scale bounds."""
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(cluster_name, "cluster_name")
        api = self._api(ws)
        info = api.find(cluster_name)
        if info is None:
            raise self._c.not_found("cluster", cluster_name, resource_group_name)
        if scale_settings is None:
            return self._model(ws, info)
        settings = _validated(m.ScaleSettings, scale_settings, "scale_settings")
        scale = self._scale(settings)
        try:
            info = api.update(
                cluster_name,
                ComputeUpdate(
                    min_nodes=scale.min_nodes,
                    max_nodes=scale.max_nodes,
                    node_deallocation_option=scale.node_deallocation_option,
                ),
            )
        except ApiError as exc:
            raise _from_api(exc, "scale_settings") from None
        return self._model(ws, info)

    def delete(
        self, resource_group_name: str, workspace_name: str, cluster_name: str, **_: Any
    ) -> LROPoller[None]:
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(cluster_name, "cluster_name")
        api = self._api(ws)
        if api.find(cluster_name) is None:
            raise self._c.not_found("cluster", cluster_name, resource_group_name)
        api.delete(cluster_name)
        return LROPoller(lambda: (api.find(cluster_name) is None, None))

    def list_by_workspace(
        self, resource_group_name: str, workspace_name: str, clusters_list_by_workspace_options: Any = None,
        **_: Any,
    ) -> Iterator[m.Cluster]:  # fmt: skip
        ws = self._c.workspace(resource_group_name, workspace_name)
        limit = getattr(clusters_list_by_workspace_options, "max_results", 1000)
        return iter([self._model(ws, info) for info in self._api(ws).list()][:limit])

    def list_remote_login_information(
        self, resource_group_name: str, workspace_name: str, cluster_name: str, **_: Any
    ) -> Iterator[m.RemoteLoginInformation]:
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(cluster_name, "cluster_name")
        try:
            nodes = self._api(ws).nodes(cluster_name)
        except ApiError as exc:
            raise _from_api(exc, "cluster_name") from None
        return _logins(nodes)


def _secret_key(owner: str, name: str) -> str:
    """The key-vault name of a job's (or a cluster setup task's) secret variable."""
    return "batchai-" + hashlib.sha256(f"{owner}\n{name}".encode()).hexdigest()[:32]


def _logins(nodes: list[NodeInfo]) -> Iterator[m.RemoteLoginInformation]:
    """Each node's address and SSH port, as ``listRemoteLoginInformation`` gives them."""
    return iter(
        [
            m.RemoteLoginInformation(
                node_id=node.node_id,
                ip_address=node.public_ip_address or node.private_ip_address,
                port=node.port or 50000 + index,
            )
            for index, node in enumerate(nodes)
        ]
    )


def _without_keys(volumes: m.MountVolumes | None) -> None:
    """Drop the storage keys of ``volumes`` (in place): the datastores keep them sealed, and
    what the service returns or stores in a readable record never holds them."""
    for volume in (
        [*(volumes.azure_file_shares or []), *(volumes.azure_blob_file_systems or [])]
        if volumes
        else []
    ):
        volume.credentials.account_key = None


class _Mounts:
    """Mount volumes as datastores of the workspace (registered, credentials checked)."""

    def __init__(self, context: _Context, ws: WorkspaceInfo) -> None:
        self._c = context
        self.ws = ws

    def register(
        self, volumes: m.MountVolumes, where: str, level: str = "job"
    ) -> list[m.BatchAIMount]:
        found: list[m.BatchAIMount] = []
        entries: list[tuple[str, str, str, str | None, str, str]] = []
        for i, share in enumerate(volumes.azure_file_shares or []):
            entries.append(
                (f"{where}.azureFileShares[{i}]", "file", share.account_name or "",
                 share.credentials.account_key, share.share_name, share.relative_mount_path)
            )  # fmt: skip
        for i, blob in enumerate(volumes.azure_blob_file_systems or []):
            entries.append(
                (f"{where}.azureBlobFileSystems[{i}]", "blob", blob.account_name,
                 blob.credentials.account_key, blob.container_name, blob.relative_mount_path)
            )  # fmt: skip
        if volumes.file_servers or volumes.unmanaged_file_systems:
            raise CloudError(
                400,
                "InvalidRequestContent",
                f"{where}: fileServers and unmanagedFileSystems are not supported by trainforge "
                "(no NFS servers); use azureFileShares or azureBlobFileSystems",
            )
        api = DatastoresApi(self._c.client, self.ws.name)
        for field, kind, account_name, key, container, relative in entries:
            if key is None:
                raise CloudError(
                    400,
                    "InvalidRequestContent",
                    f"{field}.credentials.accountKey: required (key-vault references are not "
                    "supported)",
                )
            try:
                account = StorageAccount(account_name, key)
                if not account.exists():
                    raise CloudError(
                        400,
                        "StorageAccountNotFound",
                        f"{field}.accountName: the storage account {account_name!r} does not exist",
                    )
                account.check_key(create=False)
                body = account.datastore(kind, container)  # type: ignore[arg-type]
            except AzureHttpError as exc:
                raise CloudError(
                    exc.status_code, exc.error_code, f"{field}.credentials: {exc}"
                ) from None
            except ValueError as exc:
                raise CloudError(400, "InvalidRequestContent", f"{field}: {exc}") from None
            try:
                api.register(body)
            except ApiError as exc:
                raise CloudError(
                    400, "MountFailed", f"{field} ({account_name}/{container}): {exc.message}"
                ) from None
            found.append(
                m.BatchAIMount(
                    relative_mount_path=relative,
                    datastore_name=body.name,
                    level="cluster" if level == "cluster" else "job",
                )
            )
        return found


def _parse_cluster_id(cluster_id: str) -> tuple[str, str, str]:
    """(resource group, workspace, cluster) of a cluster's ARM id."""
    parts = cluster_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    try:
        rg = parts[lowered.index("resourcegroups") + 1]
        ws = parts[lowered.index("workspaces") + 1]
        cluster = parts[lowered.index("clusters") + 1]
    except (ValueError, IndexError):
        raise CloudError(
            400,
            "InvalidRequestContent",
            f"parameters.cluster.id: {cluster_id!r} is not a cluster's ARM id "
            "(/subscriptions/.../resourceGroups/<rg>/providers/Microsoft.BatchAI/workspaces/<ws>/clusters/<name>)",
        ) from None
    return rg, ws, cluster


class JobsOperations:
    """``client.jobs``: Batch AI jobs as trainforge runs."""

    def __init__(self, context: _Context) -> None:
        self._c = context

    # -- helpers ---------------------------------------------------------------------------
    def _run(self, ws: WorkspaceInfo, experiment: str, job: str, rg: str) -> RunInfo:
        _name(experiment, "experiment_name")
        _name(job, "job_name")
        try:
            info = RunsApi(self._c.client, ws.name).get(job)
        except ApiError as exc:
            if exc.status_code in (400, 404):
                raise self._c.not_found("job", job, rg) from None
            raise _from_api(exc) from None
        definition = info.definition
        if (
            definition is None
            or definition.batchai is None
            or info.experiment_name != experiment
            or DELETED in info.properties
        ):
            raise self._c.not_found("job", job, rg)
        return info

    def _model(self, ws: WorkspaceInfo, info: RunInfo) -> m.Job:
        assert info.definition is not None and info.definition.batchai is not None
        launch = info.definition.batchai
        job = m.Job.model_validate(launch.parameters)
        state = EXECUTION_STATES[info.status]
        exit_code: int | None = None
        errors: list[m.BatchAIError] | None = None
        if info.status == RunStatus.COMPLETED:
            exit_code = 0
        elif info.status.is_terminal:
            error = info.error
            if error is not None:
                details = [
                    m.NameValuePair(name=d.get("code"), value=d.get("message"))
                    for d in error.details
                ]
                exit_code = next(
                    (
                        int(d.value)
                        for d in details
                        if d.name == "UserProcessExitCode"
                        and d.value
                        and d.value.lstrip("-").isdigit()
                    ),
                    None,
                )
                code = (
                    error.code
                    if error.code in ("JobFailed", "JobPreparationFailed", "SetupTaskFailed")
                    else "JobFailed"
                )
                if info.status == RunStatus.CANCELED:
                    code = "JobTerminated"
                errors = [m.BatchAIError(code=code, message=error.message, details=details or None)]
            elif info.status == RunStatus.CANCELED:
                errors = [
                    m.BatchAIError(
                        code="JobTerminated", message="The job was terminated by the user"
                    )
                ]
        job.id = self._c.arm(ws, "experiments", info.experiment_name, "jobs", info.run_id)
        job.name = info.run_id
        job.tool_type = launch.tool_type
        job.job_output_directory_path_segment = launch.segment
        job.creation_time = launch.created or info.created_utc
        job.provisioning_state = m.ProvisioningState.succeeded
        job.provisioning_state_transition_time = job.creation_time
        job.execution_state = state
        job.execution_state_transition_time = (
            info.end_time_utc or info.start_time_utc or info.created_utc
        )
        job.execution_info = m.JobPropertiesExecutionInfo(
            start_time=info.start_time_utc,
            end_time=info.end_time_utc if info.status.is_terminal else None,
            exit_code=exit_code,
            errors=errors,
        )
        return job

    # -- operations ------------------------------------------------------------------------
    def create(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, job_name: str,
        parameters: m.JobCreateParameters | dict[str, Any], **_: Any,
    ) -> LROPoller[m.Job]:  # fmt: skip
        """Create the job; it is queued until ``node_count`` nodes of its cluster are free."""
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(experiment_name, "experiment_name")
        _name(job_name, "job_name")
        params = _validated(m.JobCreateParameters, parameters, "parameters")
        if not ExperimentsOperations(self._c)._exists(ws, experiment_name):
            raise self._c.not_found("experiment", experiment_name, resource_group_name)
        if params.cluster is None:
            raise CloudError(400, "InvalidRequestContent", "parameters.cluster: required")
        rg, cluster_ws, cluster_name = _parse_cluster_id(params.cluster.id)
        if cluster_ws.lower() != ws.name.lower() or rg.lower() != ws.resource_group.lower():
            raise CloudError(
                404,
                "ResourceNotFound",
                f"parameters.cluster.id: cluster {cluster_name!r} of workspace {cluster_ws!r} "
                f"(resource group {rg!r}) was not found; trainforge runs a job on a cluster of "
                "its own workspace",
            )
        computes = ComputesApi(self._c.client, ws.name)
        cluster = computes.find(cluster_name)
        if cluster is None:
            raise CloudError(
                404,
                "ResourceNotFound",
                f"parameters.cluster.id: cluster {cluster_name!r} was not found in workspace {ws.name!r}",
            )
        runs = RunsApi(self._c.client, ws.name)
        try:
            existing = runs.get(job_name)
        except ApiError as exc:
            if exc.status_code != 404:
                raise _from_api(exc) from None
        else:
            # A job deleted without waiting for its poller goes once it has stopped.
            if DELETED not in existing.properties or not _finish_delete(runs, job_name):
                raise CloudError(
                    409,
                    "Conflict",
                    f"job_name: a job (or run) named {job_name!r} "
                    + ("is still being deleted" if DELETED in existing.properties else "exists")
                    + f" in workspace {ws.name!r}",
                )
        try:
            launch_mode = self._definition(ws, params, experiment_name, job_name, cluster)
        except _launch.LaunchRuleError as exc:
            raise CloudError(400, "InvalidRequestContent", f"parameters.{exc}") from None
        body = RunCreate(
            run_id=job_name,
            run_type="batchai.job",
            display_name=job_name,
            definition=launch_mode,
            properties={"batchai.toolType": params.tool_type},
        )
        try:
            created = runs.create(experiment_name, body)
        except ApiError as exc:
            raise _from_api(exc, "job_name") from None
        return _done(self._model(ws, created))

    def _definition(
        self, ws: WorkspaceInfo, params: m.JobCreateParameters, experiment: str, job: str,
        cluster: ComputeInfo,
    ) -> Any:  # fmt: skip
        mounts = _Mounts(self._c, ws)
        found = (
            mounts.register(params.mount_volumes, "parameters.mountVolumes")
            if params.mount_volumes
            else []
        )
        raw = cluster.tags.get(PARAMETERS_TAG)
        setup: m.BatchAISetupTask | None = None
        if MOUNTS_TAG in cluster.tags:
            found += [
                m.BatchAIMount.model_validate(mount)
                for mount in json.loads(cluster.tags[MOUNTS_TAG])
            ]
        if raw:
            cluster_params = m.ClusterCreateParameters.model_validate_json(raw)
            # A cluster made before its mounts were kept as datastores: its record has the keys.
            if (
                MOUNTS_TAG not in cluster.tags
                and cluster_params.node_setup
                and cluster_params.node_setup.mount_volumes
            ):
                found += mounts.register(
                    cluster_params.node_setup.mount_volumes,
                    f"cluster {cluster.name} nodeSetup.mountVolumes",
                    level="cluster",
                )
            task = cluster_params.node_setup.setup_task if cluster_params.node_setup else None
            if task is not None:
                setup = m.BatchAISetupTask(
                    command_line=task.command_line,
                    environment_variables={
                        v.name: v.value for v in task.environment_variables or []
                    },
                    secrets={s.name: _secret_key(cluster.name, s.name) for s in task.secrets or []},
                    std_out_err_path_prefix=task.std_out_err_path_prefix,
                    std_out_err_path_suffix=task.std_out_err_path_suffix or cluster.name,
                )
        secrets: dict[str, str] = {}
        stored = params.model_copy(deep=True)
        vault = SecretsApi(self._c.client, ws.name)
        for index, secret in enumerate(params.secrets or []):
            if secret.value is None:
                raise CloudError(
                    400,
                    "InvalidRequestContent",
                    f"parameters.secrets[{index}].value: required (key-vault references are not supported)",
                )
            key = _secret_key(job, secret.name)
            vault.set(key, SecretValue(value=secret.value))
            secrets[secret.name] = key
        for secret in stored.secrets or []:
            secret.value = None  # kept in the key vault, returned as null
        _without_keys(stored.mount_volumes)
        segment = (
            f"{ws.subscription_id}/{ws.resource_group}/workspaces/{ws.name}/experiments/"
            f"{experiment}/jobs/{job}/{uuid.uuid4()}"
        )
        dumped = stored.model_dump(mode="json", exclude_none=True)
        definition = _launch.definition(
            params,
            job_name=job,
            experiment_name=experiment,
            cluster_name=cluster.name,
            cluster_id=self._c.arm(ws, "clusters", cluster.name),
            segment=segment,
            mounts=found,
            secrets=secrets,
            stored=dumped,
        )
        assert definition.batchai is not None
        definition.batchai.setup_task = setup
        return definition

    def get(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, job_name: str,
        **_: Any,
    ) -> m.Job:  # fmt: skip
        ws = self._c.workspace(resource_group_name, workspace_name)
        return self._model(ws, self._run(ws, experiment_name, job_name, resource_group_name))

    def list_by_experiment(
        self, resource_group_name: str, workspace_name: str, experiment_name: str,
        jobs_list_by_experiment_options: Any = None, **_: Any,
    ) -> Iterator[m.Job]:  # fmt: skip
        ws = self._c.workspace(resource_group_name, workspace_name)
        _name(experiment_name, "experiment_name")
        limit = getattr(jobs_list_by_experiment_options, "max_results", 1000)
        found = RunsApi(self._c.client, ws.name).list(experiment=experiment_name)
        jobs = [
            self._model(ws, info)
            for info in found
            if info.definition is not None
            and info.definition.batchai is not None
            and info.experiment_name == experiment_name
            and DELETED not in info.properties
        ]
        return iter(jobs[:limit])

    def _stop(self, resource_group: str, workspace: str, experiment: str, job: str) -> RunsApi:
        """Cancel the job's run unless it has ended (an ended job stays as it ended)."""
        ws = self._c.workspace(resource_group, workspace)
        info = self._run(ws, experiment, job, resource_group)
        runs = RunsApi(self._c.client, ws.name)
        if not info.status.is_terminal:
            _cancel(runs, job)
        return runs

    def terminate(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, job_name: str,
        **_: Any,
    ) -> LROPoller[None]:  # fmt: skip
        """Stop the job (it ends failed); a job that has ended stays as it ended."""
        runs = self._stop(resource_group_name, workspace_name, experiment_name, job_name)
        return LROPoller(lambda: (runs.get(job_name).status.is_terminal, None))

    def delete(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, job_name: str,
        **_: Any,
    ) -> LROPoller[None]:  # fmt: skip
        """Delete the job (a running one is stopped first): GET answers 404 at once, and
        the job with its files goes once it has stopped; its name may then be used again."""
        runs = self._stop(resource_group_name, workspace_name, experiment_name, job_name)
        if DELETED not in runs.get(job_name).properties:
            runs.add_properties(job_name, {DELETED: datetime.now(UTC).isoformat()})
        return LROPoller(lambda: (_finish_delete(runs, job_name), None))

    def list_output_files(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, job_name: str,
        jobs_list_output_files_options: m.JobsListOutputFilesOptions | dict[str, Any], **_: Any,
    ) -> Iterator[m.File]:  # fmt: skip
        """The files and folders of one output directory (or ``stdouterr``) at ``directory``,
        each file with a signed URL a plain GET (with Range) reads until it expires."""
        options = _validated(
            m.JobsListOutputFilesOptions,
            jobs_list_output_files_options,
            "jobs_list_output_files_options",
        )
        ws = self._c.workspace(resource_group_name, workspace_name)
        info = self._run(ws, experiment_name, job_name, resource_group_name)
        assert info.definition is not None and info.definition.batchai is not None
        ids = [out.id for out in info.definition.batchai.output_directories]
        if options.outputdirectoryid == STDOUTERR:
            prefix = f"{STDOUTERR}/"
        elif options.outputdirectoryid in ids:
            prefix = f"{m.OUTPUTS_FOLDER}/{options.outputdirectoryid}/"
        else:
            raise CloudError(
                400,
                "InvalidRequestContent",
                f"outputdirectoryid: {options.outputdirectoryid!r} is neither 'stdouterr' nor an "
                f"output directory of job {job_name} ({', '.join(ids) or 'it has none'})",
            )
        directory = posixpath.normpath(options.directory.strip() or ".").strip("/")
        if directory.startswith(".."):
            raise CloudError(
                400,
                "InvalidRequestContent",
                f"directory: {options.directory!r} leaves the output directory",
            )
        if directory and directory != ".":
            prefix += directory + "/"
        links = FilesApi(self._c.client, ws.name).links(
            job_name, prefix, options.linkexpiryinminutes
        )
        entries: list[m.File] = []
        folders: set[str] = set()
        for link in links:
            rest = link.name[len(prefix) :]
            if "/" in rest:
                folders.add(rest.split("/", 1)[0])
                continue
            entries.append(
                m.File(
                    name=rest,
                    file_type=m.FileType.file,
                    download_url=link.url,
                    last_modified=link.last_modified,
                    content_length=link.size,
                )
            )
        entries += [m.File(name=name, file_type=m.FileType.directory) for name in sorted(folders)]
        return iter(entries[: options.max_results])

    def list_remote_login_information(
        self, resource_group_name: str, workspace_name: str, experiment_name: str, job_name: str,
        **_: Any,
    ) -> Iterator[m.RemoteLoginInformation]:  # fmt: skip
        """The nodes the job runs on (none once it has ended)."""
        ws = self._c.workspace(resource_group_name, workspace_name)
        info = self._run(ws, experiment_name, job_name, resource_group_name)
        cluster = info.definition.target if info.definition else None
        if not cluster or cluster == "local":
            return iter([])
        nodes = ComputesApi(self._c.client, ws.name).nodes(cluster)
        return _logins([node for node in nodes if node.run_id == job_name])


class FileServersOperations:
    """``client.file_servers``: refused (trainforge runs no NFS servers)."""

    def __init__(self, context: _Context) -> None:
        self._c = context

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise CloudError(
            400,
            "FileServersNotSupported",
            "File servers (single-node NFS) are not supported by trainforge: mount an Azure "
            "file share or blob container (mountVolumes) instead",
        )

    create = get = delete = list_by_workspace = _refuse


class UsagesOperations:
    """``client.usages``: the cores the workspace's clusters use in a location."""

    def __init__(self, context: _Context) -> None:
        self._c = context

    def list(self, location: str, **_: Any) -> Iterator[m.Usage]:
        """The vCPUs of the location's clusters now (``current_value``) and at their
        ``max_nodes`` (``limit``: trainforge has no quota beyond the clusters' bounds)."""
        used = bound = 0
        for info in WorkspacesApi(self._c.client).list(subscription_id=self._c.subscription_id):
            if info.location.lower() != location.lower():
                continue
            for compute in ComputesApi(self._c.client, info.name).list():
                cores = max(compute.node_resources.vcpus, 1)
                used += compute.status.current_node_count * cores
                bound += compute.scale_settings.max_nodes * cores
        return iter(
            [
                m.Usage(
                    current_value=used,
                    limit=bound,
                    name=m.UsageName(value="cores", localized_value="Total Regional vCPUs"),
                )
            ]
        )


def _connection(credentials: Any, base_url: str | None) -> TrainforgeClient:
    """The session's client (embedded default: credentials accepted and ignored), or a
    team server at ``base_url`` with the token the credentials carry."""
    token: str | None = None
    if isinstance(credentials, str):
        token = credentials
    elif isinstance(getattr(credentials, "token", None), dict):
        token = credentials.token.get("access_token")
    elif isinstance(getattr(credentials, "token", None), str):
        token = credentials.token
    if base_url and "management.azure.com" not in base_url and token:
        return TrainforgeClient(Endpoint(base_url, token), retry_s=ClientSettings().client_retry_s)
    return default_session().client


class BatchAIManagementClient:
    """``azure.mgmt.batchai.BatchAIManagementClient(credentials, subscription_id)``."""

    def __init__(
        self, credentials: Any = None, subscription_id: str | None = None,
        base_url: str | None = None, **_: Any,
    ) -> None:  # fmt: skip
        if not subscription_id:
            raise ValueError("subscription_id: required")
        self.credentials = credentials
        self.subscription_id = subscription_id
        self.api_version = m.API_VERSION
        context = _Context(_connection(credentials, base_url), subscription_id)
        self.workspaces = WorkspacesOperations(context)
        self.experiments = ExperimentsOperations(context)
        self.clusters = ClustersOperations(context)
        self.jobs = JobsOperations(context)
        self.file_servers = FileServersOperations(context)
        self.usages = UsagesOperations(context)
        self.operations = None
