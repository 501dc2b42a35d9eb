"""The rules and defaults of a cluster's settings, for the SDK, the CLI and the REST API alike.

``AmlCompute.provisioning_configuration(...)`` and ``POST /workspaces/{ws}/computes`` are
checked by these models, so a caller of either meets the same rule with the same words.
Each message names the argument (the SDK's name, which is also the field's name here).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from trainforge.schemas import limits

DEFAULT_VM_SIZE = "STANDARD_NC6"
DEFAULT_VM_PRIORITY = "dedicated"
DEFAULT_MIN_NODES = 0
# The SDK's docstring says max_nodes defaults to 4 (its validation then refuses None);
# trainforge takes the documented default.
DEFAULT_MAX_NODES = 4
DEFAULT_IDLE_SECONDS = 1800
# What lowering max_nodes below the busy nodes does to their runs (Batch AI's
# nodeDeallocationOption): AmlCompute lets them finish, Batch AI defaulted to requeue.
NodeDeallocationOption = Literal["requeue", "terminate", "waitforjobcompletion"]
DEFAULT_NODE_DEALLOCATION: NodeDeallocationOption = "waitforjobcompletion"
# A cluster's backend is one the server registered (trainforge.compute.registry: the entry
# points of `trainforge.backends`, so a package adds one), which the schemas cannot import:
# validated with ``context={BACKENDS_CONTEXT: names}`` a name must be one of them (the SDK
# passes the backends installed with it); without, only its shape is checked and the
# server checks the name against its own registry (``backend_named``).
BACKENDS_CONTEXT = "backends"
BACKEND_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
VM_PRIORITIES = ("dedicated", "lowpriority")
REMOTE_LOGIN_VALUES = ("Enabled", "Disabled", "NotSpecified")
IDENTITY_TYPES = ("SystemAssigned", "UserAssigned")
VNET_FIELDS = ("vnet_resourcegroup_name", "vnet_name", "subnet_name")
RAY_FIELDS = ("ray_address", "ray_auth_token_path")

_INT = TypeAdapter(int)
_DURATION = TypeAdapter(timedelta)


def without_none(data: Any) -> Any:
    """The SDK passes None for 'the default': drop such keys so the field's default applies."""
    if isinstance(data, dict):
        return {key: value for key, value in data.items() if value is not None}
    return data


def _listed(allowed: tuple[str, ...]) -> str:
    quoted = [f"'{option}'" for option in allowed]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _picked(field: str, value: Any, allowed: Sequence[str]) -> str:
    if isinstance(value, str):
        for option in allowed:
            if value.lower() == option.lower():
                return option
    raise ValueError(f"Invalid {field} {value!r}: allowed values are {_listed(tuple(allowed))}")


def choice(allowed: tuple[str, ...]) -> BeforeValidator:
    """The allowed value that the input names, compared case-insensitively."""

    def pick(value: Any, info: ValidationInfo) -> str:
        return _picked(str(info.field_name), value, allowed)

    return BeforeValidator(pick)


def backend_named(value: Any, known: Sequence[str]) -> str:
    """The backend of ``known`` that ``value`` names, compared case-insensitively; else
    ValueError naming the known ones ("Invalid backend 'yarn': allowed values are ...")."""
    return _picked("backend", value, known)


def _backend(value: Any, info: ValidationInfo) -> str:
    known = (info.context or {}).get(BACKENDS_CONTEXT)
    if known is not None:
        return backend_named(value, known)
    if not isinstance(value, str) or not BACKEND_NAME.fullmatch(value):
        raise ValueError(
            f"Invalid backend {value!r}: expected the name of a backend of the server, "
            "such as 'local'"
        )
    return value.lower()  # names are matched case-insensitively, as the built-in ones were


BackendName = Annotated[str, BeforeValidator(_backend)]
"""A backend's name: one of ``context[BACKENDS_CONTEXT]`` when given, else any well-formed
name (lower-cased), which the server checks against its registry."""


def whole_number(what: str) -> BeforeValidator:
    """An int of 0 or more; int-convertible strings ('300', ' 300 ') and integral floats pass."""

    def check(value: Any, info: ValidationInfo) -> int:
        result: int | None = None
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                result = _INT.validate_python(value)
            except ValidationError:
                result = None
        if result is None:
            raise ValueError(
                f"Invalid {info.field_name} {value!r}: expected a whole number of {what} "
                "(an int, or a string such as '300')"
            )
        if result < 0:
            raise ValueError(f"Invalid {info.field_name} {value!r}: it must be 0 or more")
        return result

    return BeforeValidator(check)


def _strict_bool(value: Any, info: ValidationInfo) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {info.field_name} {value!r}: expected True or False")
    return value


def _ray_address(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(
            f"Invalid {info.field_name} {value!r}: expected the Ray cluster's GCS address "
            "as 'host:port', such as '10.0.0.4:6379'"
        )
    return value


NodeCount = Annotated[int, whole_number("nodes"), Field(le=limits.MAX_CLUSTER_NODES)]
Seconds = Annotated[int, whole_number("seconds"), Field(le=limits.INT32_MAX)]
# A Ray cluster's GCS address, host:port.
RayAddress = Annotated[str, BeforeValidator(_ray_address)]


def duration_seconds(value: int | str | timedelta | None) -> int | None:
    """Whole seconds in an ISO-8601 duration ('PT1800S', 'PT30M', 'P1DT2H'; pydantic parses
    it) or a timedelta; ints pass through. A bad duration raises ValueError."""
    if value is None or isinstance(value, int):
        return value
    try:
        return int(_DURATION.validate_python(value).total_seconds())
    except ValidationError:
        raise ValueError(
            f"Invalid nodeIdleTimeBeforeScaleDown {value!r}: expected an ISO-8601 duration "
            "such as 'PT1800S'"
        ) from None


def iso_duration(seconds: int | None) -> str | None:
    """``seconds`` as the service writes durations: 'PT<n>S'."""
    return None if seconds is None else f"PT{seconds}S"


class ScaleSettings(BaseModel):
    """How many nodes a cluster keeps and grows to, how long a node idles before it goes,
    and what a resize below its busy nodes does to their runs: ``waitforjobcompletion``
    lets them finish, ``requeue`` stops the newest and puts them back in the queue,
    ``terminate`` stops them for good (failed)."""

    min_nodes: NodeCount = DEFAULT_MIN_NODES
    max_nodes: NodeCount = DEFAULT_MAX_NODES
    idle_seconds_before_scaledown: Seconds = DEFAULT_IDLE_SECONDS
    node_deallocation_option: NodeDeallocationOption = DEFAULT_NODE_DEALLOCATION

    _defaults_for_none = model_validator(mode="before")(without_none)

    @model_validator(mode="after")
    def _max_at_least_min(self) -> ScaleSettings:
        if self.max_nodes < self.min_nodes:
            raise ValueError(
                f"Invalid max_nodes {self.max_nodes}: it must be at least min_nodes "
                f"({self.min_nodes})"
            )
        return self


class ScaleUpdate(BaseModel):
    """A change of scale settings: None keeps the current value."""

    min_nodes: NodeCount | None = None
    max_nodes: NodeCount | None = None
    idle_seconds_before_scaledown: Seconds | None = None
    node_deallocation_option: NodeDeallocationOption | None = None

    def merged(self, current: ScaleSettings) -> ScaleSettings:
        """``current`` with this change applied, checked again (max_nodes >= min_nodes)."""
        return ScaleSettings.model_validate(
            {**current.model_dump(), **self.model_dump(exclude_none=True)}
        )


class ComputeSettingsInfo(BaseModel):
    """The SDK settings a cluster records, as the control plane returns them (no password).

    Only the VM size, priority and scale settings shape a trainforge cluster; the
    administrator account, VNet, identity, remote-login and public-IP settings are recorded.
    """

    model_config = ConfigDict(extra="ignore")

    admin_username: str | None = None
    admin_user_password_set: bool = False
    admin_user_ssh_key: str | None = None
    vnet_resourcegroup_name: str | None = None
    vnet_name: str | None = None
    subnet_name: str | None = None
    remote_login_port_public_access: str = "NotSpecified"
    identity_type: str | None = None
    identity_id: list[str] | None = None
    location: str | None = None
    enable_node_public_ip: bool = True
    # trainforge's own: the Ray cluster a Ray-backed cluster's nodes live on.
    ray_address: str | None = None
    ray_auth_token_path: str | None = None

    _defaults_for_none = model_validator(mode="before")(without_none)

    @model_serializer(mode="wrap")
    def _ray_keys_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # A local cluster's settings carry no Ray keys at all (as the SDK has always sent them).
        dumped: dict[str, object] = handler(self)
        for name in RAY_FIELDS:
            if dumped.get(name) is None:
                dumped.pop(name, None)
        return dumped

    def stored(self) -> dict[str, object]:
        """The settings as they are stored and sent: no password, Ray keys only when set."""
        return self.model_dump(mode="json")


class ComputeSettings(ComputeSettingsInfo):
    """The SDK settings of a new cluster, checked. ``admin_user_password`` is checked and
    never stored: only ``admin_user_password_set`` records that one was given."""

    model_config = ConfigDict(extra="forbid")

    admin_user_password: str | None = Field(default=None, exclude=True, repr=False)
    remote_login_port_public_access: Annotated[str, choice(REMOTE_LOGIN_VALUES)] = "NotSpecified"
    identity_type: Annotated[str, choice(IDENTITY_TYPES)] | None = None
    identity_id: list[str] | None = None
    enable_node_public_ip: Annotated[bool, BeforeValidator(_strict_bool)] = True
    ray_address: RayAddress | None = None

    @field_validator("identity_id", mode="before")
    @classmethod
    def _one_identity_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("admin_user_password")
    @classmethod
    def _complex_password(cls, password: str | None) -> str | None:
        if password:
            classes = (
                any(c.islower() for c in password),
                any(c.isupper() for c in password),
                any(c.isdigit() for c in password),
                any(c in string.punctuation or not c.isalnum() for c in password),
            )
            if sum(classes) < 3:
                raise ValueError(
                    "Invalid admin_user_password: it must contain characters of at least 3 "
                    "of these 4 kinds: lowercase letters, uppercase letters, digits and "
                    "special characters"
                )
        return password

    @model_validator(mode="after")
    def _rules(self) -> ComputeSettings:
        given = [name for name in VNET_FIELDS if getattr(self, name)]
        if given and len(given) != len(VNET_FIELDS):
            missing = [name for name in VNET_FIELDS if name not in given]
            raise ValueError(
                "Invalid VNet settings: vnet_resourcegroup_name, vnet_name and subnet_name "
                f"must be given together or not at all; missing: {', '.join(missing)}"
            )
        if self.admin_user_password:
            self.admin_user_password_set = True
        if self.admin_username:
            if not (self.admin_user_password_set or self.admin_user_ssh_key):
                raise ValueError(
                    f"Invalid admin_username {self.admin_username!r}: an administrator "
                    "account needs admin_user_password or admin_user_ssh_key"
                )
        elif self.admin_user_password_set or self.admin_user_ssh_key:
            named = "admin_user_password" if self.admin_user_password_set else "admin_user_ssh_key"
            raise ValueError(f"admin_username is required when {named} is given")
        if self.identity_type == "UserAssigned" and not self.identity_id:
            raise ValueError(
                "identity_id is required when identity_type is 'UserAssigned': give the "
                "resource ids of the user-assigned identities"
            )
        return self


class NodeWait(BaseModel):
    """What ``AmlCompute.wait_for_completion`` waits for: this many ready nodes."""

    min_node_count: NodeCount | None = None


class RayAttach(BaseModel):
    """``RayCompute.attach_configuration(...)``: a Ray cluster attached as a cluster."""

    address: RayAddress
    vm_size: str | None = None
    max_nodes: NodeCount = DEFAULT_MAX_NODES
    min_nodes: NodeCount = 0
    # Ray nodes cost while idle: an attached cluster gives its nodes back sooner.
    idle_seconds_before_scaledown: Seconds = 120
    auth_token_path: str | None = None
