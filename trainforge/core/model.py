"""Model: a versioned file or folder in a workspace's registry (``azureml.core.model.Model``).

``Model.register`` uploads a local file or folder; ``run.register_model`` registers a run's
files. Each registration under a name is the next version (1, 2, ...), and a version's
files never change.
"""

from __future__ import annotations

import builtins
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsspec.callbacks import Callback

from trainforge.client.api import api
from trainforge.client.api.models import ModelsApi
from trainforge.client.api.services import ServicesApi
from trainforge.client.errors import sdk_errors, validated
from trainforge.core._info import InfoField
from trainforge.core.resource_configuration import ResourceConfiguration
from trainforge.core.run import Run, submitting_user
from trainforge.core.webservice.webservice import Webservice
from trainforge.exceptions import (
    ModelNotFoundException,
    UserErrorException,
    WebserviceException,
)
from trainforge.schemas.models import (
    Framework,
    ModelDataset,
    ModelFilter,
    ModelInfo,
    ModelRegister,
    ModelUpdate,
)
from trainforge.schemas.services import ServiceCreate
from trainforge.schemas.settings import RunContext
from trainforge.storage import transfer
from trainforge.storage.paths import UnsafePathError, safe_relative_path

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

# Where get_model_path keeps downloaded models, relative to the working folder (as the SDK).
MODELS_DIR = "azureml-models"
MODEL_DIR_VARIABLE = "AZUREML_MODEL_DIR"


def _errors() -> Any:
    return sdk_errors(not_found=ModelNotFoundException, user_error=WebserviceException)


def _checked(model: type[Any], **fields: Any) -> Any:
    try:
        return validated(model, **fields)
    except WebserviceException:
        raise
    except UserErrorException as exc:
        raise WebserviceException(exc.message) from None


def _dataset_links(datasets: Any) -> list[ModelDataset]:
    """``[(scenario, dataset), ...]`` (or a dict) as links to registered datasets."""
    if not datasets:
        return []
    pairs = datasets.items() if isinstance(datasets, dict) else datasets
    links = []
    for item in pairs:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise WebserviceException(
                "datasets: give (scenario, dataset) pairs, e.g. [('training', train_ds)]"
            )
        scenario, dataset = item
        dataset_id = _dataset_id(dataset, "datasets")
        links.append(ModelDataset(scenario=str(scenario), dataset_id=dataset_id))
    return links


def _dataset_id(dataset: Any, field: str) -> str:
    dataset_id = getattr(dataset, "id", None)
    if not dataset_id:
        raise WebserviceException(
            f"{field}: the dataset is not registered; register it first "
            "(dataset.register(workspace, name)) so the model can name it"
        )
    return str(dataset_id)


def _upload_pairs(
    source: Path, asset_name: str, child_paths: list[str] | None
) -> list[tuple[Path, str]]:
    """(local file, name in the upload) of every file to register."""
    if source.is_file():
        return [(source, asset_name)]
    if child_paths:
        chosen = []
        for child in child_paths:
            try:
                relative = safe_relative_path(child, "child_paths")
            except UnsafePathError as exc:
                raise WebserviceException(str(exc)) from None
            path = source / relative
            if not path.is_file():
                raise WebserviceException(
                    f"child_paths: {child!r} is not a file under {str(source)!r}"
                )
            chosen.append(path)
    else:
        chosen = sorted(p for p in source.rglob("*") if p.is_file())
    if not chosen:
        raise WebserviceException(f"model_path: the folder {str(source)!r} holds no files")
    return [(p, f"{asset_name}/{p.relative_to(source).as_posix()}") for p in chosen]


class InferenceConfig:
    """How a model is served (``azureml.core.model.InferenceConfig``): the entry script
    (``init()`` and ``run(raw_data)``), the folder it lives in, and the environment its
    scoring process runs in (``environment``, or a ``conda_file``)."""

    def __init__(
        self,
        entry_script: str,
        runtime: str | None = None,
        conda_file: str | None = None,
        extra_docker_file_steps: str | None = None,
        source_directory: str | None = None,
        enable_gpu: bool | None = None,
        description: str | None = None,
        base_image: str | None = None,
        base_image_registry: Any = None,
        cuda_version: str | None = None,
        environment: Any = None,
    ) -> None:
        if runtime is not None and runtime.lower() != "python":
            raise WebserviceException(f"runtime: {runtime!r} is not supported; use 'python'")
        if environment is not None and conda_file is not None:
            raise WebserviceException("conda_file: give either environment or conda_file, not both")
        self.entry_script = entry_script
        self.runtime = runtime
        self.conda_file = conda_file
        self.extra_docker_file_steps = extra_docker_file_steps
        self.source_directory = source_directory
        self.enable_gpu = enable_gpu
        self.description = description
        self.base_image = base_image
        self.base_image_registry = base_image_registry
        self.cuda_version = cuda_version
        self.environment = environment

    def _script(self) -> tuple[Path, str]:
        """(the folder snapshotted as the app, the entry script's path inside it)."""
        root = Path(self.source_directory) if self.source_directory else None
        script = Path(self.entry_script)
        where = (root / script) if root is not None else script
        if not where.is_file():
            raise WebserviceException(
                f"entry_script: {str(where)!r} is not a file"
                + (f" of source_directory {self.source_directory!r}" if root is not None else "")
            )
        if root is not None:
            try:
                inside = safe_relative_path(script.as_posix(), "entry_script")
            except UnsafePathError as exc:
                raise WebserviceException(str(exc)) from None
            return root, inside
        return where.parent, where.name

    def _environment(self) -> Any:
        if self.conda_file is not None:
            from trainforge.core.environment import Environment

            return Environment.from_conda_specification("inference-environment", self.conda_file)
        return self.environment

    def validate_configuration(self) -> None:
        self._script()

    def _upload(self, workspace: Workspace) -> str:
        """The code snapshot of the service: the source directory, or the entry script
        alone (as the SDK uploads it without a source directory)."""
        from trainforge.core.run import upload_snapshot

        root, script = self._script()
        if self.source_directory is not None:
            return upload_snapshot(workspace, root)
        with tempfile.TemporaryDirectory() as folder:
            shutil.copy2(root / script, Path(folder) / script)
            return upload_snapshot(workspace, folder)

    def service_fields(self, workspace: Workspace) -> dict[str, Any]:
        """What a service's ``update``/``reload`` takes from this config: the entry script,
        a fresh code snapshot (uploaded now) and the environment."""
        _, script = self._script()
        environment = self._environment()
        return {
            "entry_script": script,
            "environment": (
                environment._spec({}, docker_enabled=False) if environment is not None else None
            ),
            "snapshot_id": self._upload(workspace),
        }


class Model:
    """A registered model, as ``azureml.core.Model``.

    ``Model(ws, name)`` is the latest version of ``name``; ``version=`` names one, ``id=``
    takes ``'<name>:<version>'``; ``tags``, ``properties`` and ``run_id`` narrow the lookup
    to the latest version that matches. A lookup that finds nothing raises
    ``WebserviceException`` (``ModelNotFoundException``).
    """

    Framework = Framework

    def __init__(
        self,
        workspace: Workspace,
        name: str | None = None,
        id: str | None = None,
        tags: Any = None,
        properties: Any = None,
        version: int | str | None = None,
        run_id: str | None = None,
        model_framework: str | None = None,
        expand: bool = True,
        **kwargs: Any,
    ) -> None:
        self.workspace = workspace
        self._models = api(workspace, ModelsApi)
        info: ModelInfo | None = kwargs.pop("_info", None)
        if info is None:
            info = self._lookup(name, id, tags, properties, version, run_id, model_framework)
        self._info = info

    def _lookup(
        self,
        name: str | None,
        id: str | None,
        tags: Any,
        properties: Any,
        version: int | str | None,
        run_id: str | None,
        model_framework: str | None,
    ) -> ModelInfo:
        if id is not None:
            id_name, sep, id_version = id.rpartition(":")
            if not sep or not id_name:
                raise WebserviceException(f"id: {id!r} is not '<name>:<version>'")
            name, version = id_name, id_version
        if name is None:
            raise WebserviceException("name: give the model's name or id")
        number = _version_number(version)
        if tags is None and properties is None and run_id is None and model_framework is None:
            with _errors():
                return self._models.get(name, number)
        query = _filter(
            name, tags, properties, run_id, None, model_framework, latest=False, version=number
        )
        with _errors():
            found = self._models.list(query)
        if not found:
            raise ModelNotFoundException(
                f"ModelNotFound: no model {name!r} in workspace {self.workspace.name!r} matches "
                f"version={version}, tags={tags}, properties={properties}, run_id={run_id}"
            )
        return found[0]

    # -- attributes (§8.1) --------------------------------------------------------------
    id = InfoField()
    name = InfoField()
    version = InfoField()
    tags = InfoField(copy=dict)
    properties = InfoField(copy=dict)
    description = InfoField()
    created_time = InfoField()

    @property
    def created_by(self) -> dict[str, str | None]:
        return {"userName": self._info.created_by}

    url = InfoField()
    mime_type = InfoField()
    model_framework = InfoField()
    model_framework_version = InfoField()
    framework = InfoField("model_framework")
    experiment_name = InfoField()
    run_id = InfoField()

    @property
    def run(self) -> Run | None:
        """The run the model was registered from, or None."""
        if self._info.run_id is None:
            return None
        from trainforge.core.run import get_run

        return get_run(self.workspace, self._info.run_id)

    @property
    def datasets(self) -> dict[str, list[Any]]:
        """{scenario: [Dataset, ...]} of the datasets linked to the model."""
        from trainforge.core.dataset import Dataset

        found: dict[str, list[Any]] = {}
        for link in self._info.datasets:
            found.setdefault(link.scenario, []).append(
                Dataset.get_by_id(self.workspace, link.dataset_id)
            )
        return found

    @property
    def sample_input_dataset(self) -> Any:
        return self._sample(self._info.sample_input_dataset_id)

    @property
    def sample_output_dataset(self) -> Any:
        return self._sample(self._info.sample_output_dataset_id)

    def _sample(self, dataset_id: str | None) -> Any:
        if dataset_id is None:
            return None
        from trainforge.core.dataset import Dataset

        return Dataset.get_by_id(self.workspace, dataset_id)

    @property
    def resource_configuration(self) -> ResourceConfiguration | None:
        spec = self._info.resource_configuration
        if spec is None:
            return None
        return ResourceConfiguration(spec.cpu, spec.memory_in_gb, spec.gpu)

    asset_name = InfoField()

    # -- registration -------------------------------------------------------------------
    @staticmethod
    def register(
        workspace: Workspace,
        model_path: str | os.PathLike[str],
        model_name: str,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        description: str | None = None,
        datasets: Any = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        child_paths: list[str] | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: ResourceConfiguration | None = None,
    ) -> Model:
        """Upload the local file or folder ``model_path`` as the next version of
        ``model_name`` (with ``child_paths``, only those files of the folder)."""
        source = Path(model_path)
        if not source.exists():
            raise WebserviceException(
                f"model_path: {str(model_path)!r} cannot be found (no such file or folder)"
            )
        asset_name = source.resolve().name
        upload_id = uuid.uuid4().hex
        body: ModelRegister = _checked(
            ModelRegister,
            name=model_name,
            upload_id=upload_id,
            asset_name=asset_name,
            **_common_fields(locals()),
        )
        pairs = _upload_pairs(source, asset_name, child_paths)
        models = api(workspace, ModelsApi)
        print(f"Registering model {model_name}")

        def send(local: str, name: str, callback: Callback) -> None:
            with transfer.CountingReader(local, callback) as reader, _errors():
                models.stage(upload_id, name, reader)  # type: ignore[arg-type]

        transfer.send(
            [(str(local), name, local.stat().st_size) for local, name in pairs],
            send,
            description=f"Uploading {asset_name}",
        )
        with _errors():
            info = models.register(body)
        return Model(workspace, _info=info)

    @staticmethod
    def _register_from_run(
        run: Run, model_name: str, model_path: str | None, **metadata: Any
    ) -> Model:
        """``run.register_model``: ``metadata`` holds its keyword arguments of METADATA."""
        workspace = run.experiment.workspace
        body: ModelRegister = _checked(
            ModelRegister,
            name=model_name,
            run_id=run.id,
            run_path=model_path or model_name,
            **_common_fields(metadata),
        )
        with _errors():
            info = api(workspace, ModelsApi).register(body)
        return Model(workspace, _info=info)

    # -- deployment ---------------------------------------------------------------------
    @staticmethod
    def deploy(
        workspace: Workspace,
        name: str,
        models: list[Model],
        inference_config: InferenceConfig | None = None,
        deployment_config: Any = None,
        deployment_target: Any = None,
        overwrite: bool = False,
        show_output: bool = False,
    ) -> Any:
        """Deploy ``models`` as the service ``name``, scored by ``inference_config``'s entry
        script; a :class:`~trainforge.core.webservice.LocalWebservice` for
        ``LocalWebservice.deploy_configuration()``, which serves once this returns
        (WebserviceException with the error, e.g. an ``init()`` traceback, when it cannot)."""
        from trainforge.core.webservice import (
            AciServiceDeploymentConfiguration,
            AksServiceDeploymentConfiguration,
            LocalWebserviceDeploymentConfiguration,
        )
        from trainforge.core.webservice.webservice import Webservice

        if inference_config is None:
            raise WebserviceException("inference_config: give an InferenceConfig(entry_script=...)")
        if deployment_config is None:  # the SDK's default: an ACI service
            deployment_config = AciServiceDeploymentConfiguration()
        settings: dict[str, Any]
        if isinstance(deployment_config, LocalWebserviceDeploymentConfiguration):
            settings = {"compute_type": "Local", "port": deployment_config.port}
        elif isinstance(deployment_config, AciServiceDeploymentConfiguration):
            given = deployment_config.__dict__
            settings = {
                "compute_type": "ACI",
                "cpu_cores": given.get("cpu_cores"),
                "memory_gb": given.get("memory_gb"),
                "auth_enabled": bool(given.get("auth_enabled")),
                "primary_key": given.get("primary_key"),
                "secondary_key": given.get("secondary_key"),
                "tags": {str(k): str(v) for k, v in (given.get("tags") or {}).items()},
                "properties": {str(k): str(v) for k, v in (given.get("properties") or {}).items()},
                "description": given.get("description"),
            }
        elif isinstance(deployment_config, AksServiceDeploymentConfiguration):
            settings = deployment_config.service_fields()
            settings["compute_target"] = _target_name(
                deployment_target, deployment_config.__dict__.get("compute_target_name")
            )
        else:
            raise WebserviceException(
                "deployment_config: give LocalWebservice.deploy_configuration(), "
                "AciWebservice.deploy_configuration() or AksWebservice.deploy_configuration()"
            )
        if settings.get("description") is None:  # else the inference config's
            settings.pop("description", None)
        if deployment_target is not None and settings["compute_type"] != "AKS":
            raise WebserviceException(
                "deployment_target: only an AKS service (AksWebservice.deploy_configuration) "
                "is deployed to a compute target"
            )
        bad = [m for m in models if not isinstance(m, Model)]
        if bad:
            raise WebserviceException(f"models: give registered Model objects, not {bad[0]!r}")
        root, script = inference_config._script()
        environment = inference_config._environment()
        spec = environment._spec({}, docker_enabled=False) if environment is not None else None
        body: ServiceCreate = _checked(
            ServiceCreate,
            name=name,
            models=[m.id for m in models],
            entry_script=script,
            snapshot_id="pending",
            environment=spec,
            overwrite=overwrite,
            **{"description": inference_config.description, **settings},
        )
        body.snapshot_id = inference_config._upload(workspace)
        with _errors():
            info = api(workspace, ServicesApi).create(body)
        service = Webservice(workspace, _info=info)
        service.inference_config = inference_config  # what reload() copies again
        if show_output:
            where = (
                f"on cluster {info.compute_target} at {info.scoring_uri}"
                if info.compute_type == "AKS"
                else f"on port {info.port}"
            )
            print(f"Deploying {name} ({info.compute_type}) {where} ...")
        if info.compute_type == "Local":  # the SDK's local deploy returns once it serves
            service.wait_for_deployment(show_output=show_output)
        return service

    # -- lookup -------------------------------------------------------------------------
    @staticmethod
    def list(
        workspace: Workspace,
        name: str | None = None,
        tags: Any = None,
        properties: Any = None,
        run_id: str | None = None,
        latest: bool = False,
        dataset_id: str | None = None,
        expand: bool = True,
        page_count: int = 255,
        model_framework: str | None = None,
    ) -> list[Model]:
        """The registered models that match every filter given; ``tags``/``properties``
        are keys (``['stage']``) or key-value pairs (``[['stage', 'prod']]``)."""
        query = _filter(name, tags, properties, run_id, dataset_id, model_framework, latest)
        with _errors():
            found = api(workspace, ModelsApi).list(query)
        return [Model(workspace, _info=info) for info in found]

    @staticmethod
    def get_model_path(
        model_name: str, version: int | None = None, _workspace: Workspace | None = None
    ) -> str:
        """The local path of a registered model's file or folder.

        In a run (or given ``_workspace``): the copy in ``./azureml-models/<name>/<version>``
        when a version is given and it is there, else the model downloaded there. In scoring
        code (``AZUREML_MODEL_DIR`` set) and outside runs: the model under
        ``AZUREML_MODEL_DIR``, then ``./azureml-models/<name>/<latest>``, then ``./<name>``.
        """
        number = _version_number(version)
        if _workspace is None:
            context = RunContext()
            if not context.missing():
                from trainforge.core.run import Run

                _workspace = Run.get_context().experiment.workspace
        if _workspace is None:
            return _local_model_path(model_name, number)
        if number is not None:
            cached = _cached(Path(MODELS_DIR) / model_name / str(number))
            if cached is not None:
                return cached
        model = Model(_workspace, model_name, version=number)
        target = Path(MODELS_DIR) / model_name / str(model.version)
        cached = _cached(target)
        if cached is not None:
            return cached
        return str(Path(model.download(str(target), exist_ok=True)))

    # -- files --------------------------------------------------------------------------
    def download(
        self, target_dir: str = ".", exist_ok: bool = False, exists_ok: bool | None = None
    ) -> str:
        """Download the model's file or folder into ``target_dir`` (its base name kept);
        the path of what was downloaded. An existing one is an error unless ``exist_ok``."""
        if exists_ok is not None:  # the SDK's older spelling
            exist_ok = exists_ok
        target = Path(target_dir)
        asset = target / self._info.asset_name
        if asset.exists() and not exist_ok:
            raise WebserviceException(
                f"target_dir: {str(asset)!r} already exists; pass exist_ok=True to overwrite it"
            )
        with _errors():
            files = self._models.files(self.name, self.version)
        try:
            pairs = [(f.name, target / safe_relative_path(f.name), f.size) for f in files]
        except UnsafePathError as exc:
            raise WebserviceException(str(exc)) from None

        def fetch(name: str, local: str, callback: Callback) -> None:
            destination = Path(local)
            destination.parent.mkdir(parents=True, exist_ok=True)
            partial = destination.with_name(f".{destination.name}.partial-{uuid.uuid4().hex[:8]}")
            try:
                with _errors(), open(partial, "wb") as out:
                    for chunk in self._models.download(self.name, self.version, name):
                        out.write(chunk)
                        callback.relative_update(len(chunk))
                partial.replace(destination)
            finally:
                partial.unlink(missing_ok=True)

        transfer.send(
            [(name, str(local), size) for name, local, size in pairs],
            fetch,
            show_progress=False,
            description=f"Downloading {self._info.asset_name}",
        )
        return str(asset)

    # -- changes ------------------------------------------------------------------------
    def _change(self, **fields: Any) -> None:
        body: ModelUpdate = _checked(ModelUpdate, **fields)
        with _errors():
            self._info = self._models.update(self.name, self.version, body)

    def update(
        self,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: ResourceConfiguration | None = None,
    ) -> None:
        """Replace the tags and change the description, sample datasets or resource
        configuration that are given; the files never change."""
        fields: dict[str, Any] = {}
        if tags is not None:
            fields["tags"] = {str(k): str(v) for k, v in tags.items()}
        if description is not None:
            fields["description"] = description
        if sample_input_dataset is not None:
            fields["sample_input_dataset_id"] = _dataset_id(
                sample_input_dataset, "sample_input_dataset"
            )
        if sample_output_dataset is not None:
            fields["sample_output_dataset_id"] = _dataset_id(
                sample_output_dataset, "sample_output_dataset"
            )
        if resource_configuration is not None:
            fields["resource_configuration"] = resource_configuration.to_spec()
        self._change(**fields)

    def add_tags(self, tags: dict[str, Any]) -> None:
        self._change(add_tags={str(k): str(v) for k, v in tags.items()})

    def remove_tags(self, tags: builtins.list[str]) -> None:
        self._change(remove_tags=[str(k) for k in tags])

    def add_properties(self, properties: dict[str, Any]) -> None:
        self._change(add_properties={str(k): str(v) for k, v in properties.items()})

    def delete(self) -> None:
        """Remove this version from the registry (its number is not given again)."""
        with _errors():
            self._models.delete(self.name, self.version)

    # -- serialization ------------------------------------------------------------------
    def serialize(self) -> dict[str, Any]:
        info = self._info
        return {
            "createdTime": info.created_time.isoformat(),
            "createdBy": self.created_by,
            "description": info.description,
            "experimentName": info.experiment_name,
            "framework": info.model_framework,
            "frameworkVersion": info.model_framework_version,
            "id": info.id,
            "mimeType": info.mime_type,
            "name": info.name,
            "properties": dict(info.properties),
            "runId": info.run_id,
            "tags": dict(info.tags),
            "url": info.url,
            "version": info.version,
            "datasets": {link.scenario: link.dataset_id for link in info.datasets},
            "sampleInputDatasetId": info.sample_input_dataset_id,
            "sampleOutputDatasetId": info.sample_output_dataset_id,
            "resourceConfiguration": (
                self.resource_configuration.serialize() if self.resource_configuration else None
            ),
            "workspaceName": self.workspace.name,
        }

    @staticmethod
    def deserialize(workspace: Workspace, model_payload: dict[str, Any]) -> Model:
        """The model a ``serialize()`` payload names, as the registry holds it now."""
        return Model(workspace, id=str(model_payload["id"]))

    def __repr__(self) -> str:
        return (
            f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, "
            f"version={self.version}, tags={self.tags}, properties={self.properties})"
        )


def _version_number(version: int | str | None) -> int | None:
    if version is None:
        return None
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise WebserviceException(f"version: {version!r} is not a version number") from None
    if number < 1:
        raise WebserviceException(f"version: {version!r} is not a version number (1, 2, ...)")
    return number


def _pairs(what: str, items: Any) -> list[str]:
    """The SDK's ``['key']`` / ``[['key', 'value']]`` filters (or a dict) as ``key[=value]``."""
    if not items:
        return []
    if isinstance(items, dict):
        return [f"{k}={v}" for k, v in items.items()]
    found = []
    for item in items:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, tuple | list) and len(item) == 2:
            found.append(f"{item[0]}={item[1]}")
        else:
            raise WebserviceException(f"{what}: give keys or [key, value] pairs, not {item!r}")
    return found


def _filter(
    name: str | None,
    tags: Any,
    properties: Any,
    run_id: str | None,
    dataset_id: str | None,
    model_framework: str | None,
    latest: bool,
    version: int | None = None,
) -> ModelFilter:
    return _checked(  # type: ignore[no-any-return]
        ModelFilter,
        name=name,
        version=version,
        tags=_pairs("tags", tags),
        properties=_pairs("properties", properties),
        run_id=run_id,
        dataset_id=dataset_id,
        model_framework=model_framework,
        latest=latest,
    )


# The registration arguments Model.register and run.register_model share.
METADATA = (
    "tags",
    "properties",
    "description",
    "datasets",
    "model_framework",
    "model_framework_version",
    "sample_input_dataset",
    "sample_output_dataset",
    "resource_configuration",
)


def _common_fields(given: dict[str, Any]) -> dict[str, Any]:
    """The ModelRegister fields of the METADATA arguments in ``given`` (a call's arguments)."""
    tags, properties = given.get("tags"), given.get("properties")
    sample_input, sample_output = (
        given.get("sample_input_dataset"),
        given.get("sample_output_dataset"),
    )
    resources = given.get("resource_configuration")
    return {
        "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        "properties": {str(k): str(v) for k, v in (properties or {}).items()},
        "description": given.get("description"),
        "datasets": _dataset_links(given.get("datasets")),
        "model_framework": given.get("model_framework"),
        "model_framework_version": given.get("model_framework_version"),
        "sample_input_dataset_id": (
            _dataset_id(sample_input, "sample_input_dataset") if sample_input is not None else None
        ),
        "sample_output_dataset_id": (
            _dataset_id(sample_output, "sample_output_dataset")
            if sample_output is not None
            else None
        ),
        "resource_configuration": resources.to_spec() if resources is not None else None,
        "created_by": submitting_user(),
    }


def _cached(folder: Path) -> str | None:
    """The one file or folder in a version folder, or None when it is absent or empty.
    More than one entry is the SDK's error: the version folder must hold exactly one."""
    if not folder.is_dir():
        return None
    entries = [e for e in os.listdir(folder) if not e.startswith(".")]
    if not entries:
        return None
    if len(entries) > 1:
        raise WebserviceException(
            f"model_name: {str(folder)!r} holds {len(entries)} entries ({sorted(entries)}); a "
            "model's version folder must hold exactly one file or folder"
        )
    return str(folder / entries[0])


def _latest_in(folder: Path) -> Path | None:
    versions = [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
    return folder / str(max(versions)) if versions else None


def _local_model_path(model_name: str, version: int | None) -> str:
    """Outside a run: under AZUREML_MODEL_DIR (scoring), ./azureml-models, then ./<name>."""
    roots: list[Path] = []
    model_dir = os.environ.get(MODEL_DIR_VARIABLE)
    if model_dir:
        here = Path(model_dir)
        # One model deployed: the variable is <...>/azureml-models/<name>/<version> itself.
        if here.parent.name == model_name and (version is None or here.name == str(version)):
            found = _cached(here)
            if found is not None:
                return found
        roots.append(here)
    roots.append(Path(MODELS_DIR))
    for root in roots:
        candidate = root / model_name
        if candidate.is_dir():
            folder = candidate / str(version) if version is not None else _latest_in(candidate)
            if folder is not None:
                found = _cached(folder)
                if found is not None:
                    return found
    if version is None and Path(model_name).exists():
        return model_name
    raise ModelNotFoundException(
        f"ModelNotFound: model {model_name!r}"
        + (f" version {version}" if version is not None else "")
        + f" is not under {MODEL_DIR_VARIABLE}, ./{MODELS_DIR} or ./{model_name}, and no "
        "workspace or run context is there to download it"
    )


def _model_of(workspace: Workspace, model_id: str) -> Model:
    return Model(workspace, id=model_id)


def _target_name(target: Any, named: str | None) -> str:
    """The cluster an AKS service goes to: ``deployment_target`` (a ComputeTarget, e.g.
    an AmlCompute cluster) or the configuration's ``compute_target_name``."""
    if target is None:
        if named is None:
            raise WebserviceException(
                "deployment_target: an AKS service needs the compute cluster its replicas "
                "run on (deployment_target=ComputeTarget(ws, '<cluster>'))"
            )
        return named
    name = getattr(target, "name", None)
    if not isinstance(name, str) or not name:
        raise WebserviceException(
            f"deployment_target: {target!r} is not a compute target (give ComputeTarget(ws, name))"
        )
    return name


# run.register_model and Webservice.models reach Model through these, so that neither
# the run module nor the webservice package imports this module back.
Run.set_model_registrar(Model._register_from_run)
Webservice.set_model_loader(_model_of)
