"""Webservice: a deployed scoring service (``azureml.core.webservice.Webservice``)."""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from trainforge.client.api import api
from trainforge.client.api.services import ServicesApi
from trainforge.client.errors import sdk_errors
from trainforge.core._info import InfoField
from trainforge.exceptions import WebserviceException
from trainforge.schemas.services import RegenerateKey, ServiceInfo, ServiceState, ServiceUpdate

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

POLL_S = 0.25


def _errors() -> Any:
    return sdk_errors(not_found=WebserviceException, user_error=WebserviceException)


class Webservice:
    """A scoring service of a workspace. ``Webservice(ws, name)`` finds it and comes back
    as the class of its kind (:class:`LocalWebservice`)."""

    _webservice_type = ""
    # compute_type -> class, filled by the subclasses' modules.
    _kinds: ClassVar[dict[str, type[Webservice]]] = {}
    _model_loader: ClassVar[Callable[[Any, str], Any] | None] = None

    def __new__(
        cls, workspace: Workspace, name: str | None = None, _info: ServiceInfo | None = None
    ) -> Webservice:
        if _info is None:
            if name is None:
                raise WebserviceException("name: give the service's name")
            with _errors():
                _info = api(workspace, ServicesApi).get(name)
        kind = Webservice._kinds.get(_info.compute_type, cls)
        instance = super().__new__(kind)
        instance._info = _info
        return instance

    def __init__(
        self, workspace: Workspace, name: str | None = None, _info: ServiceInfo | None = None
    ) -> None:
        self.workspace = workspace
        self._info: ServiceInfo = _info or self._info
        self._services = api(workspace, ServicesApi)
        # The InferenceConfig it was deployed or updated with here (reload() uses it);
        # None for a service looked up by name.
        self.inference_config: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls._webservice_type:
            Webservice._kinds[cls._webservice_type] = cls

    # -- attributes ---------------------------------------------------------------------
    name = InfoField()
    compute_type = InfoField()
    scoring_uri = InfoField()
    swagger_uri = InfoField()

    @property
    def state(self) -> str:
        """Transitioning, Healthy, Unhealthy or Failed, as last fetched (``update_deployment_state``)."""
        return self._info.state.value

    error = InfoField()
    tags = InfoField(copy=dict)
    properties = InfoField(copy=dict)
    description = InfoField()
    created_time = InfoField()
    updated_time = InfoField()

    @property
    def models(self) -> list[Any]:
        """The registered models the service serves (Model objects)."""
        load = Webservice._model_loader
        if load is None:
            # trainforge.core.model sets it when imported, which trainforge.core does on
            # demand: code that never named Model has not imported it.
            importlib.import_module("trainforge.core.model")
            load = Webservice._model_loader
        assert load is not None, "trainforge.core.model sets the model loader"
        return [load(self.workspace, model_id) for model_id in self._info.models]

    @staticmethod
    def set_model_loader(loader: Callable[[Any, str], Any]) -> None:
        """How ``models`` loads a model by id (Model's), set by trainforge.core.model, so
        that this module never imports it back."""
        Webservice._model_loader = loader

    # -- state ----------------------------------------------------------------------------
    def update_deployment_state(self) -> None:
        with _errors():
            self._info = self._services.get(self.name)

    def wait_for_deployment(
        self, show_output: bool = False, timeout_sec: float | None = None
    ) -> None:
        """Wait until the service is Healthy; WebserviceException (with the scoring
        process's error, an ``init()`` traceback) when it Failed or the wait timed out."""
        deadline = None if timeout_sec is None else time.monotonic() + timeout_sec
        while True:
            self.update_deployment_state()
            state = self._info.state
            if state in (ServiceState.HEALTHY, ServiceState.FAILED, ServiceState.UNSCHEDULABLE):
                break
            if deadline is not None and time.monotonic() > deadline:
                raise WebserviceException(
                    f"Service {self.name} is still {state.value} after {timeout_sec} s"
                )
            if show_output:
                sys.stdout.write(".")
                sys.stdout.flush()
            time.sleep(POLL_S)
        if show_output:
            print(f"\n{self.compute_type} service {self.name}: {self.state}")
        if state in (ServiceState.FAILED, ServiceState.UNSCHEDULABLE):
            raise WebserviceException(
                f"Service deployment polling reached non-successful terminal state, current "
                f"service state: {state.value}\nError:\n{self._info.error}"
            )

    # -- calls ----------------------------------------------------------------------------
    def run(self, input_data: Any) -> Any:
        """Send ``input_data`` (JSON text, utf-8 bytes, or a JSON-serializable value) to
        ``POST /score``; the decoded JSON answer. A refusal raises WebserviceException
        with the service's message."""
        if isinstance(input_data, str):
            body = input_data.encode("utf-8")
        elif isinstance(input_data, bytes | bytearray):
            body = bytes(input_data)
        else:
            body = json.dumps(input_data).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._info.auth_enabled:  # as the SDK does: the primary key as a bearer
            headers["Authorization"] = f"Bearer {self.get_keys()[0]}"
        elif self._info.token_auth_enabled:  # AKS token auth: a fresh token
            headers["Authorization"] = f"Bearer {self.get_token()[0]}"
        try:
            answer = httpx.post(self.scoring_uri, content=body, headers=headers, timeout=300.0)
        except httpx.HTTPError as exc:
            raise WebserviceException(f"Could not reach {self.scoring_uri}: {exc}") from None
        if answer.status_code >= 400:
            raise WebserviceException(
                f"Received bad response from service {self.name} ({answer.status_code}): "
                f"{answer.text}"
            )
        try:
            return answer.json()
        except ValueError:
            return answer.text

    def update(
        self,
        models: list[Any] | None = None,
        inference_config: Any = None,
        deployment_config: Any = None,
        wait: bool = False,
        **kwargs: Any,
    ) -> None:
        """Serve other models, or new code or environment (``inference_config``): the
        service's files are laid out again and its scoring process starts again from them;
        requests wait or fail while it starts. With ``wait``, returns once it serves."""
        if deployment_config is not None:
            raise WebserviceException(
                "deployment_config: a service keeps its port, kind and keys; deploy again "
                "with overwrite=True to change them"
            )
        change: dict[str, Any] = {}
        if models is not None:
            change["models"] = [model.id for model in models]
        if inference_config is not None:
            change.update(inference_config.service_fields(self.workspace))
            self.inference_config = inference_config
        if not change:
            raise WebserviceException("update: give models or inference_config to change")
        self._update(change, wait)

    def _update(self, change: dict[str, Any], wait: bool) -> None:
        try:
            body = ServiceUpdate(**change)
        except ValueError as exc:
            raise WebserviceException(str(exc)) from None
        with _errors():
            self._info = self._services.update(self.name, body)
        if wait:
            self.wait_for_deployment()

    def get_keys(self) -> tuple[str, str]:
        """(primary, secondary) key of a service deployed with ``auth_enabled=True``."""
        with _errors():
            keys = self._services.keys(self.name)
        return keys.primary_key, keys.secondary_key

    def regen_key(self, key: str, set_key: str | None = None) -> None:
        """Give the 'Primary' or 'Secondary' key a new value (``set_key``, or a random one);
        the service takes it at its next request."""
        with _errors():
            body = validated_key(key, set_key)
            self._services.regenerate_key(self.name, body)

    def get_token(self) -> Any:
        raise WebserviceException(
            f"get_token: service {self.name} uses key auth; token auth is AKS's (get_keys gives the keys)"
        )

    def get_logs(self, num_lines: int = 5000, init: bool = False, raw: bool = False) -> str:
        """The last ``num_lines`` lines of the service's log: its host (starts, restarts)
        and its scoring process (``init()``, ``print``, errors)."""
        with _errors():
            return self._services.logs(self.name, num_lines)

    def delete(self) -> None:
        """Stop the service and remove it."""
        with _errors():
            self._services.delete(self.name)

    def serialize(self) -> dict[str, Any]:
        info = self._info
        return {
            "name": info.name,
            "computeType": info.compute_type,
            "state": info.state.value,
            "scoringUri": info.scoring_uri,
            "swaggerUri": info.swagger_uri,
            "models": list(info.models),
            "tags": dict(info.tags),
            "properties": dict(info.properties),
            "description": info.description,
            "createdTime": info.created_time.isoformat(),
            "updatedTime": info.updated_time.isoformat(),
            "error": info.error,
            "workspaceName": self.workspace.name,
        }

    @staticmethod
    def list(
        workspace: Workspace,
        compute_type: str | None = None,
        image_name: str | None = None,
        image_id: str | None = None,
        model_name: str | None = None,
        model_id: str | None = None,
        tags: Any = None,
        properties: Any = None,
        image_digest: str | None = None,
    ) -> list[Webservice]:
        """The workspace's services, narrowed by kind, the model they serve, tags."""
        with _errors():
            found = api(workspace, ServicesApi).list()
        kept = []
        for info in found:
            if compute_type is not None and info.compute_type.lower() != compute_type.lower():
                continue
            if model_id is not None and model_id not in info.models:
                continue
            if model_name is not None and not any(
                m.rpartition(":")[0] == model_name for m in info.models
            ):
                continue
            if tags and not _has(info.tags, tags):
                continue
            if properties and not _has(info.properties, properties):
                continue
            kept.append(Webservice(workspace, _info=info))
        return kept

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(workspace={self.workspace!r}, name={self.name}, "
            f"state={self.state}, scoring_uri={self.scoring_uri})"
        )


def validated_key(key: str, set_key: str | None) -> RegenerateKey:
    if key not in ("Primary", "Secondary"):
        raise WebserviceException(f"key: {key!r} is neither 'Primary' nor 'Secondary'")
    try:
        return RegenerateKey(key=key, value=set_key)  # type: ignore[arg-type]
    except ValueError as exc:
        raise WebserviceException(f"set_key: {exc}") from None


def _has(values: dict[str, str], wanted: Any) -> bool:
    items = wanted.items() if isinstance(wanted, dict) else wanted
    for item in items:
        key, value = (item, None) if isinstance(item, str) else (item[0], item[1])
        if key not in values or (value is not None and values[key] != str(value)):
            return False
    return True
