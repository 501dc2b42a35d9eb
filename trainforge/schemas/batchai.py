"""Azure Batch AI (API 2018-05-01) request and response models, and how a job runs.

The models keep the Python SDK's snake_case attributes (``node_count``,
``std_out_err_path_prefix``) and read and write the service's camelCase JSON
(``nodeCount``, ``stdOutErrPathPrefix``); unknown keys are ignored, as the SDK's
deserializer ignored them (real job.json files carry legacy keys such as ``toolType``).
Validation is the service's: names ``^[-\\w_]+$`` of 1 to 64 characters, manual xor
autoScale, one toolkit, required fields; an error names the field.

``BatchAILaunch`` is what a run's definition carries for a Batch AI job: the launcher
reads it to mount the volumes, set the ``AZ_BATCHAI_*`` variables, run the job
preparation and name the logs as Batch AI did (``trainforge.batchai`` builds it).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

API_VERSION = "2018-05-01"
PROVIDER = "Microsoft.BatchAI"
NAME = re.compile(r"^[-\w_]+$")
NAME_RULE = "1 to 64 characters: letters, digits, '-' and '_'"
RESOURCE_GROUP = re.compile(r"^[-\w\._]+$")
STDOUTERR = "stdouterr"
OUTPUTS_FOLDER = "outputs"
DEFAULT_MAX_WALL_CLOCK = timedelta(days=7)


def check_name(value: str, field: str) -> str:
    """``value`` when it is a valid Batch AI resource name, else ValueError naming ``field``."""
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not NAME.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not a valid name; use {NAME_RULE}")
    return value


def check_resource_group(value: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 90 or not RESOURCE_GROUP.match(value):
        raise ValueError(
            f"resource_group_name: {value!r} is not valid; use 1 to 90 characters: "
            "letters, digits, '-', '_' and '.'"
        )
    return value


# Keys of older API versions that real job.json files still carry (reference 2.1, 2.7):
# accepted and dropped. Any other unknown key is refused, naming it.
LEGACY_KEYS = frozenset(
    {"$schema", "toolType", "type", "createNew", "experimentName", "location", "maxTaskRetryCount"}
)


class Model(BaseModel):
    """A Batch AI model: snake_case attributes, camelCase JSON, legacy keys dropped and
    other unknown keys refused (naming them)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=True
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and LEGACY_KEYS.intersection(data):
            known = set(cls.model_fields) | {to_camel(name) for name in cls.model_fields}
            return {k: v for k, v in data.items() if k not in LEGACY_KEYS or k in known}
        return data

    def serialize(self, keep_readonly: bool = True) -> dict[str, Any]:
        """The model as the REST API's JSON (camelCase), without unset values."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def as_dict(self) -> dict[str, Any]:
        """The model as a dict of its Python attribute names."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Any:
        """A model from the REST API's JSON."""
        return cls.model_validate(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return cls.model_validate(data)


# -- enums (the SDK's str enums) -----------------------------------------------------------
class ExecutionState:
    """``Job.execution_state``."""

    queued = "queued"
    running = "running"
    terminating = "terminating"
    succeeded = "succeeded"
    failed = "failed"


class ProvisioningState:
    creating = "creating"
    succeeded = "succeeded"
    failed = "failed"
    deleting = "deleting"


class AllocationState:
    steady = "steady"
    resizing = "resizing"


class VmPriority:
    dedicated = "dedicated"
    lowpriority = "lowpriority"


class DeallocationOption:
    requeue = "requeue"
    terminate = "terminate"
    waitforjobcompletion = "waitforjobcompletion"


class JobPriority:
    low = "low"
    normal = "normal"
    high = "high"


class ToolType:
    cntk = "cntk"
    tensorflow = "tensorflow"
    caffe = "caffe"
    caffe2 = "caffe2"
    chainer = "chainer"
    horovod = "horovod"
    custommpi = "custommpi"
    custom = "custom"
    pytorch = "pytorch"


class FileType:
    file = "file"
    directory = "directory"


class CachingType:
    none = "none"
    readonly = "readonly"
    readwrite = "readwrite"


class StorageAccountType:
    standard_lrs = "Standard_LRS"
    premium_lrs = "Premium_LRS"


class UsageUnit:
    count = "Count"


# -- shared pieces ---------------------------------------------------------------------------
class ResourceId(Model):
    id: str


class NameValuePair(Model):
    name: str | None = None
    value: str | None = None


class BatchAIError(Model):
    code: str | None = None
    message: str | None = None
    details: list[NameValuePair] | None = None


class KeyVaultSecretReference(Model):
    source_vault: ResourceId
    secret_url: str


class EnvironmentVariable(Model):
    name: str
    value: str


class EnvironmentVariableWithSecretValue(Model):
    name: str
    value: str | None = None
    value_secret_reference: KeyVaultSecretReference | None = None


class AzureStorageCredentialsInfo(Model):
    account_key: str | None = None
    account_key_secret_reference: KeyVaultSecretReference | None = None


class AzureFileShareReference(Model):
    account_name: str | None = None
    azure_file_url: str
    credentials: AzureStorageCredentialsInfo = Field(
        validation_alias=AliasChoices("credentials", "credentialsInfo", "credentials_info")
    )
    relative_mount_path: str
    file_mode: str = "0777"
    directory_mode: str = "0777"

    @model_validator(mode="after")
    def _account_from_url(self) -> AzureFileShareReference:
        # As the CLI did: an entry without accountName takes the host part of the URL.
        if not self.account_name:
            host = re.sub(r"^\w+://", "", self.azure_file_url).split("/")[0]
            self.__dict__["account_name"] = host.split(".")[0]
        return self

    @property
    def share_name(self) -> str:
        return re.sub(r"^\w+://", "", self.azure_file_url).split("/", 1)[-1].strip("/")


class AzureBlobFileSystemReference(Model):
    account_name: str
    container_name: str
    credentials: AzureStorageCredentialsInfo = Field(
        validation_alias=AliasChoices("credentials", "credentialsInfo", "credentials_info")
    )
    relative_mount_path: str
    mount_options: str | None = None


class FileSystemReference(Model):
    file_server: ResourceId
    source_directory: str | None = None
    relative_mount_path: str
    mount_options: str | None = None


class UnmanagedFileSystemReference(Model):
    mount_command: str
    relative_mount_path: str


class MountVolumes(Model):
    azure_file_shares: list[AzureFileShareReference] | None = None
    azure_blob_file_systems: list[AzureBlobFileSystemReference] | None = None
    file_servers: list[FileSystemReference] | None = None
    unmanaged_file_systems: list[UnmanagedFileSystemReference] | None = None


# -- workspaces and experiments --------------------------------------------------------------
class WorkspaceCreateParameters(Model):
    location: str
    tags: dict[str, str] | None = None


class WorkspaceUpdateParameters(Model):
    tags: dict[str, str] | None = None


class Workspace(Model):
    id: str | None = None
    name: str | None = None
    type: str = f"{PROVIDER}/workspaces"
    location: str | None = None
    tags: dict[str, str] | None = None
    creation_time: datetime | None = None
    provisioning_state: str | None = None
    provisioning_state_transition_time: datetime | None = None


class Experiment(Model):
    id: str | None = None
    name: str | None = None
    type: str = f"{PROVIDER}/workspaces/experiments"
    creation_time: datetime | None = None
    provisioning_state: str | None = None
    provisioning_state_transition_time: datetime | None = None


# -- clusters -------------------------------------------------------------------------------
class ManualScaleSettings(Model):
    target_node_count: int = Field(default=0, ge=0)
    node_deallocation_option: Literal["requeue", "terminate", "waitforjobcompletion"] = "requeue"


class AutoScaleSettings(Model):
    minimum_node_count: int = Field(ge=0)
    maximum_node_count: int = Field(ge=0)
    initial_node_count: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> AutoScaleSettings:
        if self.maximum_node_count < self.minimum_node_count:
            raise ValueError(
                f"maximumNodeCount: {self.maximum_node_count} is below minimumNodeCount "
                f"({self.minimum_node_count})"
            )
        return self


class ScaleSettings(Model):
    manual: ManualScaleSettings | None = None
    auto_scale: AutoScaleSettings | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ScaleSettings:
        if (self.manual is None) == (self.auto_scale is None):
            raise ValueError(
                "scaleSettings: set exactly one of manual and autoScale "
                f"({'both are' if self.manual else 'neither is'} set)"
            )
        return self


class ImageReference(Model):
    publisher: str
    offer: str
    sku: str
    version: str | None = None
    virtual_machine_image_id: str | None = None


class VirtualMachineConfiguration(Model):
    image_reference: ImageReference | None = None


class UserAccountSettings(Model):
    admin_user_name: str
    admin_user_ssh_public_key: str | None = None
    admin_user_password: str | None = None


class SetupTask(Model):
    command_line: str
    environment_variables: list[EnvironmentVariable] | None = None
    secrets: list[EnvironmentVariableWithSecretValue] | None = None
    std_out_err_path_prefix: str
    std_out_err_path_suffix: str | None = None


class AppInsightsReference(Model):
    component: ResourceId
    instrumentation_key: str | None = None
    instrumentation_key_secret_reference: KeyVaultSecretReference | None = None


class PerformanceCountersSettings(Model):
    app_insights_reference: AppInsightsReference


class NodeSetup(Model):
    setup_task: SetupTask | None = None
    mount_volumes: MountVolumes | None = None
    performance_counters_settings: PerformanceCountersSettings | None = None


class NodeStateCounts(Model):
    idle_node_count: int = 0
    running_node_count: int = 0
    preparing_node_count: int = 0
    unusable_node_count: int = 0
    leaving_node_count: int = 0


class ClusterCreateParameters(Model):
    vm_size: str
    vm_priority: Literal["dedicated", "lowpriority"] = "dedicated"
    scale_settings: ScaleSettings | None = None
    virtual_machine_configuration: VirtualMachineConfiguration | None = None
    node_setup: NodeSetup | None = None
    user_account_settings: UserAccountSettings
    subnet: ResourceId | None = None

    @field_validator("vm_size")
    @classmethod
    def _allowed_size(cls, value: str) -> str:
        upper = value.upper()
        if upper == "STANDARD_A0" or re.match(r"STANDARD_(GS|DS)\d", upper):
            raise ValueError(f"vmSize: {value} is not supported by Batch AI clusters")
        return value


class ClusterUpdateParameters(Model):
    scale_settings: ScaleSettings | None = None


class Cluster(Model):
    id: str | None = None
    name: str | None = None
    type: str = f"{PROVIDER}/workspaces/clusters"
    vm_size: str | None = None
    vm_priority: str | None = None
    scale_settings: ScaleSettings | None = None
    virtual_machine_configuration: VirtualMachineConfiguration | None = None
    node_setup: NodeSetup | None = None
    user_account_settings: UserAccountSettings | None = None
    subnet: ResourceId | None = None
    creation_time: datetime | None = None
    provisioning_state: str | None = None
    provisioning_state_transition_time: datetime | None = None
    allocation_state: str | None = None
    allocation_state_transition_time: datetime | None = None
    errors: list[BatchAIError] | None = None
    current_node_count: int | None = None
    node_state_counts: NodeStateCounts | None = None


class RemoteLoginInformation(Model):
    node_id: str | None = None
    ip_address: str | None = None
    port: int | None = None


# -- file servers (accepted as models; the service refuses to create them) ---------------------
class DataDisks(Model):
    disk_size_in_gb: int = Field(validation_alias=AliasChoices("diskSizeInGB", "disk_size_in_gb"))
    caching_type: str = "none"
    disk_count: int
    storage_account_type: str


class SshConfiguration(Model):
    public_ips_to_allow: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("publicIPsToAllow", "public_ips_to_allow")
    )
    user_account_settings: UserAccountSettings


class FileServerCreateParameters(Model):
    vm_size: str
    ssh_configuration: SshConfiguration
    data_disks: DataDisks
    subnet: ResourceId | None = None


# -- jobs -----------------------------------------------------------------------------------
class ImageSourceRegistryCredentials(Model):
    username: str
    password: str | None = None
    password_secret_reference: KeyVaultSecretReference | None = None


PrivateRegistryCredentials = ImageSourceRegistryCredentials


class ImageSourceRegistry(Model):
    server_url: str | None = None
    image: str
    credentials: ImageSourceRegistryCredentials | None = None


class ContainerSettings(Model):
    image_source_registry: ImageSourceRegistry
    shm_size: str | None = None


class CNTKsettings(Model):
    language_type: str | None = None
    config_file_path: str | None = None
    python_script_file_path: str | None = None
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = Field(default=None, ge=1)


class CaffeSettings(Model):
    config_file_path: str | None = None
    python_script_file_path: str | None = None
    python_interpreter_path: str | None = None
    command_line_args: str | None = None
    process_count: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_of(self) -> CaffeSettings:
        if bool(self.config_file_path) == bool(self.python_script_file_path):
            raise ValueError(
                "caffeSettings: set exactly one of configFilePath and pythonScriptFilePath"
            )
        return self


class PythonToolkitSettings(Model):
    """What the toolkits that run a Python script share."""

    python_script_file_path: str
    python_interpreter_path: str | None = None
    command_line_args: str | None = None

    @property
    def command(self) -> str:
        """``python script args``, with the job's interpreter when it names one."""
        parts = (self.python_interpreter_path or "python", self.python_script_file_path)
        return " ".join([*parts, *([self.command_line_args] if self.command_line_args else [])])


class Caffe2Settings(PythonToolkitSettings):
    pass


class ChainerSettings(PythonToolkitSettings):
    process_count: int | None = Field(default=None, ge=1)


class CustomToolkitSettings(Model):
    command_line: str | None = None


class CustomMpiSettings(Model):
    command_line: str
    process_count: int | None = Field(default=None, ge=1)


class HorovodSettings(PythonToolkitSettings):
    process_count: int | None = Field(default=None, ge=1)


class PyTorchSettings(PythonToolkitSettings):
    process_count: int | None = Field(default=None, ge=1)
    communication_backend: str | None = None

    @field_validator("communication_backend")
    @classmethod
    def _backend(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in ("tcp", "gloo", "mpi", "nccl"):
            raise ValueError(f"communicationBackend: {value!r} is not one of 'TCP', 'Gloo', 'MPI'")
        return value


class TensorFlowSettings(Model):
    python_script_file_path: str
    python_interpreter_path: str | None = None
    master_command_line_args: str | None = None
    worker_command_line_args: str | None = None
    parameter_server_command_line_args: str | None = None
    worker_count: int | None = Field(default=None, ge=1)
    parameter_server_count: int | None = Field(default=None, ge=0)


class JobPreparation(Model):
    command_line: str


class InputDirectory(Model):
    id: str
    path: str


class OutputDirectory(Model):
    id: str
    path_prefix: str
    path_suffix: str | None = None


def parse_duration(value: Any) -> Any:
    """``maxWallClockTime`` in any of its three forms: TimeSpan ``7.00:00:00``, ISO 8601
    ``P7D`` (what the SDK sends) and the CLI's ``7 days, 0:00:00``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    match = re.fullmatch(r"(?:(\d+)(?:\.| days?, ))?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?", text)
    if match:
        days, hours, minutes, seconds, fraction = match.groups()
        return timedelta(
            days=int(days or 0),
            hours=int(hours),
            minutes=int(minutes),
            seconds=int(seconds) + (float(f"0.{fraction}") if fraction else 0.0),
        )
    return text  # ISO 8601: pydantic reads it


class JobBasePropertiesConstraints(Model):
    max_wall_clock_time: timedelta = DEFAULT_MAX_WALL_CLOCK

    _duration = field_validator("max_wall_clock_time", mode="before")(
        lambda cls, value: parse_duration(value)  # noqa: ARG005
    )


JobPropertiesConstraints = JobBasePropertiesConstraints

TOOLKITS = {
    "cntk_settings": "cntk",
    "py_torch_settings": "pytorch",
    "tensor_flow_settings": "tensorflow",
    "caffe_settings": "caffe",
    "caffe2_settings": "caffe2",
    "chainer_settings": "chainer",
    "custom_toolkit_settings": "custom",
    "custom_mpi_settings": "custommpi",
    "horovod_settings": "horovod",
}


def _priority(value: Any) -> Any:
    # 2017-09-01-preview's integer priority (-1000..1000) becomes the 2018-05-01 enum.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return "low" if value < 0 else "high" if value > 0 else "normal"
    return value


class JobProperties(Model):
    """What a job's request and the job the service returns share."""

    cluster: ResourceId | None = None
    mount_volumes: MountVolumes | None = None
    container_settings: ContainerSettings | None = None
    cntk_settings: CNTKsettings | None = None
    py_torch_settings: PyTorchSettings | None = None
    tensor_flow_settings: TensorFlowSettings | None = None
    caffe_settings: CaffeSettings | None = None
    caffe2_settings: Caffe2Settings | None = None
    chainer_settings: ChainerSettings | None = None
    custom_toolkit_settings: CustomToolkitSettings | None = None
    custom_mpi_settings: CustomMpiSettings | None = None
    horovod_settings: HorovodSettings | None = None
    job_preparation: JobPreparation | None = None
    input_directories: list[InputDirectory] | None = None
    output_directories: list[OutputDirectory] | None = None
    environment_variables: list[EnvironmentVariable] | None = None
    secrets: list[EnvironmentVariableWithSecretValue] | None = None
    constraints: JobBasePropertiesConstraints | None = None


class JobCreateParameters(JobProperties):
    """A job: what ``jobs.create`` sends and ``az batchai job create -f job.json`` reads."""

    scheduling_priority: Literal["low", "normal", "high"] = Field(
        default="normal",
        validation_alias=AliasChoices("schedulingPriority", "scheduling_priority", "priority"),
    )
    node_count: int = Field(ge=1)
    std_out_err_path_prefix: str

    _priority = field_validator("scheduling_priority", mode="before")(
        lambda cls, value: _priority(value)  # noqa: ARG005
    )

    @model_validator(mode="before")
    @classmethod
    def _envelope(cls, data: Any) -> Any:
        # A job.json file: {"$schema": ..., "properties": {...}}.
        if isinstance(data, dict) and isinstance(data.get("properties"), dict):
            return data["properties"]
        return data

    @model_validator(mode="after")
    def _checked(self) -> JobCreateParameters:
        set_toolkits = [name for name in TOOLKITS if getattr(self, name) is not None]
        if len(set_toolkits) != 1:
            names = ", ".join(to_camel(n) for n in set_toolkits) or "none"
            raise ValueError(
                f"toolkit settings: set exactly one of {', '.join(to_camel(n) for n in TOOLKITS)} "
                f"(set: {names})"
            )
        for kind, items in (
            ("inputDirectories", self.input_directories),
            ("outputDirectories", self.output_directories),
        ):
            ids = [item.id for item in items or []]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{kind}: the id {duplicates[0]!r} is used twice")
            for item_id in ids:
                if not re.fullmatch(r"\w+", item_id):
                    raise ValueError(
                        f"{kind}: id {item_id!r} may hold only letters, digits and '_'"
                    )
        tf = self.tensor_flow_settings
        if (
            tf is not None
            and tf.parameter_server_count
            and tf.parameter_server_count > self.node_count
        ):
            raise ValueError(
                f"tensorFlowSettings.parameterServerCount: {tf.parameter_server_count} is more "
                f"than nodeCount ({self.node_count})"
            )
        return self

    @property
    def tool_type(self) -> str:
        return next(TOOLKITS[name] for name in TOOLKITS if getattr(self, name) is not None)


class JobPropertiesExecutionInfo(Model):
    start_time: datetime | None = None
    end_time: datetime | None = None
    exit_code: int | None = None
    errors: list[BatchAIError] | None = None


class Job(JobProperties):
    """A job as ``jobs.get`` returns it (read-only fields filled by the service)."""

    id: str | None = None
    name: str | None = None
    type: str = f"{PROVIDER}/workspaces/experiments/jobs"
    scheduling_priority: str | None = None
    node_count: int | None = None
    tool_type: str | None = None
    job_output_directory_path_segment: str | None = None
    std_out_err_path_prefix: str | None = None
    creation_time: datetime | None = None
    provisioning_state: str | None = None
    provisioning_state_transition_time: datetime | None = None
    execution_state: str | None = None
    execution_state_transition_time: datetime | None = None
    execution_info: JobPropertiesExecutionInfo | None = None


class JobsListOutputFilesOptions(Model):
    outputdirectoryid: str
    directory: str = "."
    linkexpiryinminutes: int = Field(default=60, ge=5, le=600)
    max_results: int = Field(default=1000, ge=1, le=1000)


class File(Model):
    """One entry of ``jobs.list_output_files``: a file (with its signed URL) or a folder."""

    name: str | None = None
    file_type: str | None = None
    download_url: str | None = None
    last_modified: datetime | None = None
    content_length: int | None = None

    @property
    def is_directory(self) -> bool:
        return self.file_type == FileType.directory


class UsageName(Model):
    value: str | None = None
    localized_value: str | None = None


class Usage(Model):
    unit: str = UsageUnit.count
    current_value: int | None = None
    limit: int | None = None
    name: UsageName | None = None


class ListOptions(Model):
    max_results: int = Field(default=1000, ge=1, le=1000)


WorkspacesListOptions = ListOptions
WorkspacesListByResourceGroupOptions = ListOptions
ClustersListByWorkspaceOptions = ListOptions
ExperimentsListByWorkspaceOptions = ListOptions
JobsListByExperimentOptions = ListOptions
FileServersListByWorkspaceOptions = ListOptions


# -- how a job runs (inside the run's definition) ---------------------------------------------
class BatchAIMount(BaseModel):
    """One mount volume of the job or its cluster, as a datastore of the workspace."""

    relative_mount_path: str
    datastore_name: str
    level: Literal["job", "cluster"] = "job"


class BatchAIOutput(BaseModel):
    id: str
    path_prefix: str
    path_suffix: str | None = None


class BatchAISetupTask(BaseModel):
    """The cluster's setup task: run once on each node before its first job."""

    command_line: str
    environment_variables: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)  # variable -> key-vault secret
    std_out_err_path_prefix: str
    std_out_err_path_suffix: str


class BatchAILaunch(BaseModel):
    """What the launcher needs to run a Batch AI job the way Batch AI ran it."""

    job_name: str
    experiment_name: str
    cluster_id: str
    tool_type: str
    # What each task runs (a bash line): "main" for every process of a toolkit that runs
    # one kind of process; "master", "worker", "ps" for TensorFlow.
    commands: dict[str, str]
    job_preparation: str | None = None
    std_out_err_path_prefix: str
    segment: str
    input_directories: dict[str, str] = Field(default_factory=dict)
    output_directories: list[BatchAIOutput] = Field(default_factory=list)
    mounts: list[BatchAIMount] = Field(default_factory=list)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    # environment variable -> the workspace key-vault secret holding its value
    secrets: dict[str, str] = Field(default_factory=dict)
    container_image: str | None = None
    setup_task: BatchAISetupTask | None = None
    # The job as it was created (secrets without their values), for ``jobs.get``.
    parameters: dict[str, Any] = Field(default_factory=dict)
    created: datetime | None = None
