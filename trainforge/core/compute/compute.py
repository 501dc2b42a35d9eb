"""ComputeTarget: the base of every compute target, as ``azureml.core.compute.ComputeTarget``.

``ComputeTarget(workspace, name)`` looks a target up and returns an instance of the matching
subclass (``AmlCompute`` for a cluster); ``ComputeTarget.create`` provisions one from a
provisioning configuration. Each call is one request to the control plane.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from trainforge.client.api.computes import ComputesApi
from trainforge.client.errors import sdk_errors
from trainforge.compute import registry
from trainforge.exceptions import ComputeTargetException
from trainforge.schemas.compute import ComputeInfo
from trainforge.schemas.compute_settings import BACKENDS_CONTEXT
from trainforge.schemas.problems import sdk_problems

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace


# Seconds between polls while waiting (Azure ML polls every 5 s; a local cluster answers faster).
POLL_S = 1.0
# Provisioning states of an operation still under way.
PENDING_STATES = ("Creating", "Updating")
# The service's type of a cluster (AmlCompute registers under it).
AML_COMPUTE = "AmlCompute"


def not_found_message(name: str) -> str:
    """The SDK's text for a lookup of a target the workspace does not have."""
    return f"ComputeTargetNotFound: Compute Target with name {name} not found in provided workspace"


@contextmanager
def compute_errors() -> Iterator[None]:
    """Every refusal of the control plane as ComputeTargetException (5xx: ServiceException)."""
    with sdk_errors(not_found=ComputeTargetException, user_error=ComputeTargetException):
        yield


M = TypeVar("M", bound=BaseModel)


def computes_api(workspace: Workspace) -> ComputesApi:
    """The REST resource of the workspace's compute targets."""
    return ComputesApi(workspace.service_context.client, workspace.name)


def checked(model: type[M], fields: dict[str, Any]) -> M:
    """``model`` from ``fields``; a refusal is a ComputeTargetException naming the argument.
    A backend's name must be one installed here (the registry's; the server checks it
    against its own when the cluster is created)."""
    try:
        return model.model_validate(fields, context={BACKENDS_CONTEXT: registry.names()})
    except ValidationError as exc:
        raise ComputeTargetException(sdk_problems(exc)) from None


def fetch_info(workspace: Workspace, name: str) -> ComputeInfo | None:
    """The target ``name`` as the control plane describes it, or None when there is none."""
    with compute_errors():
        return computes_api(workspace).find(name)


def get_info(workspace: Workspace, name: str) -> ComputeInfo:
    """The target ``name``; absent: ComputeTargetException('ComputeTargetNotFound: ...')."""
    info = fetch_info(workspace, name)
    if info is None:
        raise ComputeTargetException(not_found_message(name))
    return info


def target_class(compute_type: str) -> type[ComputeTarget]:
    """The ComputeTarget subclass registered for the service's ``compute_type``, so that a
    provisioning configuration names its target class without importing it (the class's
    module imports the configuration's)."""
    registered = ComputeTarget._registry.get(compute_type)
    if registered is None:
        raise ComputeTargetException(
            f"compute_type: {compute_type!r} is not a type this SDK knows "
            f"(known: {', '.join(sorted(ComputeTarget._registry))})"
        )
    return registered


class ComputeTargetProvisioningConfiguration:
    """The base of the objects that ``<Type>.provisioning_configuration(...)`` returns.

    ``type`` is the ComputeTarget subclass that ``ComputeTarget.create`` provisions from it.
    """

    def __init__(self, type: type[ComputeTarget], location: str | None = None) -> None:
        self.type = type
        self.location = location

    def validate_configuration(self) -> None:
        """Raise ComputeTargetException if a setting is not allowed."""


class ComputeTarget:
    """A compute target of a workspace, as ``azureml.core.compute.ComputeTarget``.

    ``ComputeTarget(workspace, name)`` returns the existing target as an instance of its
    subclass (``AmlCompute`` for a cluster) and raises ComputeTargetException when the
    workspace has no target of that name. Use ``ComputeTarget.create`` to provision one.

    Attributes: ``id``, ``name``, ``workspace``, ``type`` (also ``compute_type``),
    ``location``, ``cluster_location``, ``tags``, ``description``, ``created_on``,
    ``modified_on``, ``provisioning_state`` ('Creating' | 'Succeeded' | 'Failed' |
    'Deleting'), ``provisioning_errors`` (list or None), ``cluster_resource_id``,
    ``is_attached`` (False: trainforge provisions its targets, it attaches none).
    """

    _compute_type: ClassVar[str | None] = None
    # True from create() or delete() until wait_for_completion saw the operation end.
    _operation_pending = False
    _registry: ClassVar[dict[str, type[ComputeTarget]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        compute_type = cls.__dict__.get("_compute_type")
        if compute_type:
            ComputeTarget._registry.setdefault(compute_type, cls)

    def __new__(
        cls, workspace: Workspace | None = None, name: str | None = None, **kwargs: Any
    ) -> Any:
        if workspace is None and name is None:
            # copy, pickle and the internal constructors make an empty object.
            return super().__new__(cls)
        if workspace is None or not name:
            raise ComputeTargetException(
                f"{cls.__name__}(workspace, name): both the workspace and the name of the "
                "compute target are required"
            )
        info = get_info(workspace, name)
        target = object.__new__(cls._class_for(info))
        target._initialize(workspace, info)
        return target

    def __init__(
        self, workspace: Workspace | None = None, name: str | None = None, **kwargs: Any
    ) -> None:
        """Load the target ``name`` of ``workspace`` (the lookup happens in ``__new__``)."""

    # -- dispatch -------------------------------------------------------------------------
    @classmethod
    def _class_for(cls, info: ComputeInfo) -> type[ComputeTarget]:
        registered = ComputeTarget._registry.get(info.compute_type)
        if registered is None:
            raise ComputeTargetException(
                f"Compute target {info.name} has type {info.compute_type}, which this SDK "
                f"does not know (known: {', '.join(sorted(ComputeTarget._registry))})"
            )
        if cls is ComputeTarget or issubclass(registered, cls):
            return registered
        if issubclass(cls, registered):  # a legacy alias such as BatchAiCompute
            return cls
        raise ComputeTargetException(
            f"Compute target {info.name} is of type {info.compute_type}, not {cls._compute_type}"
        )

    @classmethod
    def _from_info(cls, workspace: Workspace, info: ComputeInfo) -> ComputeTarget:
        """A target object from what the control plane returned, without another request."""
        target = object.__new__(cls._class_for(info))
        target._initialize(workspace, info)
        return target

    def _initialize(self, workspace: Workspace, info: ComputeInfo) -> None:
        self._info = info
        self.workspace = workspace
        self.name = info.name
        self.type = info.compute_type
        self.id = f"{workspace.get_details()['id']}/computes/{info.name}"
        self.location = str(info.settings.location or workspace.location)
        self.cluster_location = self.location
        self.tags = dict(info.tags) or None
        self.description = info.description
        self.created_on = info.created.isoformat()
        self.modified_on = info.modified.isoformat()
        self.provisioning_state = info.provisioning_state
        self.provisioning_errors = info.provisioning_errors or None
        # Azure fills resourceId for attached resources only; trainforge attaches none.
        self.cluster_resource_id: str | None = None
        self.is_attached = False

    @property
    def compute_type(self) -> str:
        """The target's type ('AmlCompute'); the same as ``type``."""
        return self.type

    # -- create, list -----------------------------------------------------------------------
    @staticmethod
    def create(
        workspace: Workspace,
        name: str,
        provisioning_configuration: ComputeTargetProvisioningConfiguration,
    ) -> ComputeTarget:
        """Provision the target ``name`` from a configuration and return it at once.

        Creation goes on asynchronously; call ``wait_for_completion`` on the result.
        A name already used in the workspace raises ComputeTargetException.
        """
        if not isinstance(provisioning_configuration, ComputeTargetProvisioningConfiguration):
            raise ComputeTargetException(
                "provisioning_configuration: expected the result of "
                "AmlCompute.provisioning_configuration(...), not "
                f"{type(provisioning_configuration).__name__}"
            )
        return provisioning_configuration.type._create(workspace, name, provisioning_configuration)

    @staticmethod
    def _create(
        workspace: Workspace,
        name: str,
        provisioning_configuration: ComputeTargetProvisioningConfiguration,
    ) -> ComputeTarget:
        raise ComputeTargetException(
            f"{provisioning_configuration.type.__name__} targets cannot be created here"
        )

    @staticmethod
    def attach(workspace: Workspace, name: str, attach_configuration: Any) -> ComputeTarget:
        """Attach a Ray cluster (``RayCompute.attach_configuration(address=...)``); attaching
        other existing resources (VMs, HDInsight, Databricks, AKS) is not supported."""
        attach = getattr(attach_configuration, "_attach", None)
        if attach is not None:
            return attach(workspace, name)  # type: ignore[no-any-return]
        raise ComputeTargetException(
            f"Cannot attach {name}: trainforge provisions AmlCompute clusters only; "
            "use ComputeTarget.create(workspace, name, AmlCompute.provisioning_configuration(...))"
        )

    @staticmethod
    def list(workspace: Workspace) -> list[ComputeTarget]:
        """Every compute target of the workspace, each as an instance of its subclass."""
        with compute_errors():
            found = computes_api(workspace).list()
        targets = []
        for info in found:
            if info.compute_type in ComputeTarget._registry:
                targets.append(ComputeTarget._from_info(workspace, info))
        return targets

    @staticmethod
    def deserialize(workspace: Workspace, object_dict: dict[str, Any]) -> ComputeTarget:
        """The target that ``serialize()`` described, loaded again by its name."""
        name = object_dict.get("name") if isinstance(object_dict, dict) else None
        if not name:
            raise ComputeTargetException("object_dict: expected a serialized target with a 'name'")
        return ComputeTarget(workspace, name)

    # -- state ------------------------------------------------------------------------------
    def refresh_state(self) -> None:
        """Reload the target's state and settings from the control plane."""
        self._initialize(self.workspace, get_info(self.workspace, self.name))

    def get_status(self) -> Any:
        """The provisioning state of the target, refreshed."""
        self.refresh_state()
        return self.provisioning_state

    def wait_for_completion(
        self, show_output: bool = False, is_delete_operation: bool = False
    ) -> None:
        """Wait for the pending create (or, with ``is_delete_operation``, delete) to finish.

        With ``show_output`` print the state, a dot per poll and then
        ``Provisioning operation finished, operation "Succeeded"``. A failed operation
        raises ComputeTargetException.
        """
        if is_delete_operation:
            self._wait_for_deletion(show_output)
        else:
            self._wait_for_provisioning(show_output)

    def _wait_for_provisioning(self, show_output: bool) -> None:
        """The base wait: poll while the operation runs; raise when it does not succeed."""
        state = self.provisioning_state
        if show_output:
            print(state, end="", flush=True)
        while state in PENDING_STATES:
            time.sleep(POLL_S)
            self.refresh_state()
            if show_output:
                print(
                    "." if self.provisioning_state == state else f"\n{self.provisioning_state}",
                    end="",
                    flush=True,
                )
            state = self.provisioning_state
        self._operation_pending = False
        if show_output:
            print(f'\nProvisioning operation finished, operation "{state}"')
        if state != "Succeeded":
            raise ComputeTargetException(
                "Compute object provisioning polling reached non-successful terminal state, "
                f"current provisioning state: {state}\n"
                f"Provisioning operation error:\n{json.dumps(self.provisioning_errors, indent=4)}"
            )

    def _wait_for_deletion(
        self, show_output: bool, timeout_in_minutes: float | None = None
    ) -> None:
        """Poll until the target is gone; a Failed state raises, a timeout only reports."""
        deadline = (
            None if timeout_in_minutes is None else time.monotonic() + 60 * timeout_in_minutes
        )
        if show_output:
            print("Deleting", end="", flush=True)
        while True:
            info = fetch_info(self.workspace, self.name)
            if info is None:  # the target and its nodes are gone
                break
            self._initialize(self.workspace, info)
            if self.provisioning_state == "Failed":
                if show_output:
                    print('\nProvisioning operation finished, operation "Failed"')
                raise ComputeTargetException(
                    "Compute object deletion reached non-successful terminal state, current "
                    f"provisioning state: Failed\nProvisioning operation error:\n"
                    f"{json.dumps(self.provisioning_errors, indent=4)}"
                )
            if deadline is not None and time.monotonic() >= deadline:
                if show_output:
                    print("\nWait timeout has been reached")
                    print(f'Current provisioning state is "{self.provisioning_state}"')
                return
            time.sleep(POLL_S)
            if show_output:
                print(".", end="", flush=True)
        self._operation_pending = False
        if show_output:
            print('\nProvisioning operation finished, operation "Succeeded"')

    def delete(self) -> None:
        """Remove the target: its nodes are released and unfinished runs on it fail.

        Deletion is asynchronous (``provisioning_state`` becomes 'Deleting');
        ``wait_for_completion(is_delete_operation=True)`` waits until it is gone.
        """
        with compute_errors():
            found = computes_api(self.workspace).delete(self.name)
        if found is not None:
            self._initialize(self.workspace, found)
        self.provisioning_state = "Deleting"
        self._operation_pending = True

    def detach(self) -> None:
        """Detach an attached target; provisioned targets are deleted instead."""
        raise ComputeTargetException(
            f"Detach is not supported for {self.type} object. Try to use delete instead."
        )

    def serialize(self) -> dict[str, Any]:
        """The target in the service's JSON shape (camelCase keys)."""
        return {
            "id": self.id,
            "name": self.name,
            "location": self.location,
            "tags": self.tags,
            "identity": None,
            "properties": {
                "description": self.description,
                "resourceId": self.cluster_resource_id,
                "computeType": self.type,
                "computeLocation": self.cluster_location,
                "provisioningState": self.provisioning_state,
                "provisioningErrors": self.provisioning_errors,
                "properties": None,
                "status": None,
            },
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(workspace={self.workspace!r}, name={self.name}, "
            f"id={self.id}, type={self.type}, provisioning_state={self.provisioning_state}, "
            f"location={self.location}, tags={self.tags})"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ComputeTarget)
            and other.name == self.name
            and other.workspace == self.workspace
        )

    def __hash__(self) -> int:
        return hash((self.workspace, self.name))
