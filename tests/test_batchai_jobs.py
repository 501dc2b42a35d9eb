"""Batch AI jobs in the shapes of reference 5.2, run for real on a 2-node cluster of node
agents: the azure-cli fixtures' custom-toolkit job (from a job.json), job preparation,
variables and secrets, a failing command, a failing preparation, terminate and delete, a
gloo PyTorch job (real torch) and a customMpi job (Open MPI), each checked through the
client as a user would (state, exit code, errors, the stdouterr files and outputs)."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.batchai_jobs import STORAGE_ACCOUNT, STORAGE_KEY
from tests.helpers import wait_until

pytestmark = pytest.mark.slow
RG = "batchai-jobs-rg"
SHARE = "jobshare"


class Jobs:
    """A workspace with a 2-node cluster (its file share mounted at ``azfiles``), an
    experiment, and the helpers the tests share."""

    def __init__(self, root: Path) -> None:
        import trainforge.batchai.models as models
        from trainforge.batchai import BatchAIManagementClient
        from trainforge.batchai.storage import FileService

        self.models = models
        self.client = BatchAIManagementClient(credentials=None, subscription_id=str(uuid.uuid4()))
        self.ws = f"baijobs-{uuid.uuid4().hex[:6]}"
        self.exp = "recipes"
        self.files = FileService(STORAGE_ACCOUNT, STORAGE_KEY)
        self.files.create_share(SHARE, fail_on_exist=False)
        self.client.workspaces.create(RG, self.ws, "eastus").result()
        share = models.AzureFileShareReference(
            account_name=STORAGE_ACCOUNT,
            azure_file_url=f"https://{STORAGE_ACCOUNT}.file.core.windows.net/{SHARE}",
            credentials=models.AzureStorageCredentialsInfo(account_key=STORAGE_KEY),
            relative_mount_path="azfiles",
        )
        parameters = models.ClusterCreateParameters(
            vm_size="STANDARD_D2_V2",
            scale_settings=models.ScaleSettings(
                manual=models.ManualScaleSettings(target_node_count=2)
            ),
            user_account_settings=models.UserAccountSettings(
                admin_user_name="demoUser", admin_user_password="Dem0Pa$$w0rd"
            ),
            node_setup=models.NodeSetup(
                mount_volumes=models.MountVolumes(azure_file_shares=[share]),
                setup_task=models.SetupTask(
                    command_line="echo setting up $SETUP_VARIABLE $SETUP_SECRET",
                    environment_variables=[
                        models.EnvironmentVariable(name="SETUP_VARIABLE", value="VALUE")
                    ],
                    secrets=[
                        models.EnvironmentVariableWithSecretValue(
                            name="SETUP_SECRET", value="SECRET"
                        )
                    ],
                    std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles",
                ),
            ),
        )
        self.cluster = self.client.clusters.create(RG, self.ws, "cpu", parameters).result()
        self.client.experiments.create(RG, self.ws, self.exp).result()
        self.root = root

    def submit(self, name: str, body: Any) -> Any:
        if isinstance(body, dict):
            body = self.models.JobCreateParameters.model_validate(body)
        body.cluster = self.models.ResourceId(id=self.cluster.id)
        return self.client.jobs.create(RG, self.ws, self.exp, name, body).result()

    def wait(self, name: str, timeout: float = 240) -> Any:
        done = ("succeeded", "failed")
        wait_until(lambda: self.get(name).execution_state in done, timeout, f"job {name} to end")
        return self.get(name)

    def get(self, name: str) -> Any:
        return self.client.jobs.get(RG, self.ws, self.exp, name)

    def files_of(
        self, name: str, directory_id: str = "stdouterr", path: str = "."
    ) -> dict[str, Any]:
        options = self.models.JobsListOutputFilesOptions(
            outputdirectoryid=directory_id, directory=path
        )
        return {
            f.name: f
            for f in self.client.jobs.list_output_files(RG, self.ws, self.exp, name, options)
        }

    def text(self, name: str, file_name: str, directory_id: str = "stdouterr") -> str:
        found = self.files_of(name, directory_id)
        assert file_name in found, sorted(found)
        return httpx.get(found[file_name].download_url).text

    def text_or_nothing(self, name: str, file_name: str) -> str:
        found = self.files_of(name)
        return httpx.get(found[file_name].download_url).text if file_name in found else ""

    def close(self) -> None:
        self.client.clusters.delete(RG, self.ws, "cpu").result(timeout=120)
        self.client.workspaces.delete(RG, self.ws).result()


@pytest.fixture(scope="module")
def jobs(tf_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    root = tmp_path_factory.mktemp("batchai-accounts")
    previous = os.environ.get("TRAINFORGE_BATCHAI_STORAGE_ROOT")
    os.environ["TRAINFORGE_BATCHAI_STORAGE_ROOT"] = str(root)
    made = Jobs(root)
    try:
        yield made
    finally:
        made.close()
        if previous is None:
            os.environ.pop("TRAINFORGE_BATCHAI_STORAGE_ROOT", None)
        else:
            os.environ["TRAINFORGE_BATCHAI_STORAGE_ROOT"] = previous


def job_file(tmp_path: Path, properties: dict[str, Any]) -> dict[str, Any]:
    """A job.json as ``az batchai job create -f`` reads it, read back."""
    path = tmp_path / "job.json"
    schema = "https://raw.githubusercontent.com/Azure/BatchAI/master/schemas/2018-05-01/job.json"
    path.write_text(json.dumps({"$schema": schema, "properties": properties}))
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_custom_toolkit_job_of_the_cli_fixture(jobs: Jobs, tmp_path: Path) -> None:
    body = job_file(
        tmp_path,
        {
            "nodeCount": 1,
            "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/azfiles",
            "outputDirectories": [
                {
                    "id": "OUTPUT",
                    "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/azfiles",
                    "pathSuffix": "output",
                    "type": "custom",
                }
            ],
            "containerSettings": {"imageSourceRegistry": {"image": "ubuntu"}},
            "customToolkitSettings": {
                "commandLine": "echo hi | tee $AZ_BATCHAI_OUTPUT_OUTPUT/result.txt"
            },
        },
    )
    jobs.submit("custom_toolkit", body)
    job = jobs.wait("custom_toolkit")
    assert (job.execution_state, job.execution_info.exit_code) == ("succeeded", 0)
    assert job.tool_type == "custom"
    found = jobs.files_of("custom_toolkit")
    assert {"stdout.txt", "stderr.txt", "execution.log"} <= set(found), sorted(found)
    assert found["stdout.txt"].content_length == 3
    assert jobs.text("custom_toolkit", "stdout.txt") == "hi\n"
    assert "not run in a container" in jobs.text("custom_toolkit", "execution.log")
    assert jobs.text("custom_toolkit", "result.txt", "OUTPUT") == "hi\n"
    # On the cluster's file share, at Batch AI's layout.
    segment = job.job_output_directory_path_segment
    assert (
        jobs.files.get_file_to_text(SHARE, f"{segment}/outputs/output", "result.txt").content
        == "hi\n"
    )
    assert jobs.files.exists(SHARE, f"{segment}/stdouterr", "stdout.txt")


def test_preparation_variables_and_secrets(jobs: Jobs) -> None:
    m = jobs.models
    jobs.submit(
        "prep_env_secrets",
        m.JobCreateParameters(
            node_count=1,
            std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles",
            job_preparation=m.JobPreparation(command_line="echo hello"),
            environment_variables=[m.EnvironmentVariable(name="VARIABLE", value="VALUE")],
            secrets=[m.EnvironmentVariableWithSecretValue(name="SECRET_VARIABLE", value="SECRET")],
            custom_toolkit_settings=m.CustomToolkitSettings(
                command_line="echo $VARIABLE $SECRET_VARIABLE; pwd; echo [$AZ_BATCHAI_INPUT_UNDEFINED]"
            ),
        ),
    )
    job = jobs.wait("prep_env_secrets")
    assert job.execution_state == "succeeded", job.execution_info
    assert jobs.text("prep_env_secrets", "stdout-job_prep.txt") == "hello\n"
    out = jobs.text("prep_env_secrets", "stdout.txt").splitlines()
    assert out[0] == "VALUE SECRET"
    assert out[1].endswith("/wd")  # $AZ_BATCHAI_JOB_TEMP, the job's working folder
    assert out[2] == "[]"  # an undefined variable expands to nothing
    assert [(v.name, v.value) for v in job.environment_variables] == [("VARIABLE", "VALUE")]
    assert [(s.name, s.value) for s in job.secrets] == [("SECRET_VARIABLE", None)]


def test_failing_command_and_failing_preparation(jobs: Jobs) -> None:
    m = jobs.models
    common = {"node_count": 1, "std_out_err_path_prefix": "$AZ_BATCHAI_MOUNT_ROOT/azfiles"}
    jobs.submit(
        "fails",
        m.JobCreateParameters(
            **common, custom_toolkit_settings=m.CustomToolkitSettings(command_line="false")
        ),
    )
    jobs.submit(
        "prep_fails",
        m.JobCreateParameters(
            **common,
            job_preparation=m.JobPreparation(command_line="echo preparing; exit 3"),
            custom_toolkit_settings=m.CustomToolkitSettings(command_line="echo main ran"),
        ),
    )
    failed = jobs.wait("fails")
    assert (failed.execution_state, failed.execution_info.exit_code) == ("failed", 1)
    [error] = failed.execution_info.errors
    assert error.code == "JobFailed" and "non-zero exit code" in error.message
    prep = jobs.wait("prep_fails")
    assert (prep.execution_state, prep.execution_info.exit_code) == ("failed", 3)
    assert [e.code for e in prep.execution_info.errors] == ["JobPreparationFailed"]
    assert jobs.text("prep_fails", "stdout-job_prep.txt") == "preparing\n"
    assert "main ran" not in jobs.text("prep_fails", "stdout.txt")


def test_terminate_and_delete(jobs: Jobs) -> None:
    m = jobs.models
    CloudError = __import__("trainforge.batchai", fromlist=["CloudError"]).CloudError
    common = {"node_count": 1, "std_out_err_path_prefix": "$AZ_BATCHAI_MOUNT_ROOT/azfiles"}
    jobs.submit(
        "quick",
        m.JobCreateParameters(
            **common, custom_toolkit_settings=m.CustomToolkitSettings(command_line="true")
        ),
    )
    assert jobs.wait("quick").execution_state == "succeeded"
    jobs.client.jobs.terminate(RG, jobs.ws, jobs.exp, "quick").result()
    assert jobs.get("quick").execution_state == "succeeded"  # an ended job stays as it ended
    jobs.submit(
        "sleeper",
        m.JobCreateParameters(
            **common,
            custom_toolkit_settings=m.CustomToolkitSettings(command_line="echo started; sleep 600"),
        ),
    )
    wait_until(
        lambda: "started" in jobs.text_or_nothing("sleeper", "stdout.txt"),
        120,
        "the sleeper to start",
    )
    jobs.client.jobs.terminate(RG, jobs.ws, jobs.exp, "sleeper").result(timeout=60)
    assert jobs.get("sleeper").execution_state == "failed"
    jobs.client.jobs.delete(RG, jobs.ws, jobs.exp, "quick").result()
    with pytest.raises(CloudError) as gone:
        jobs.get("quick")
    assert gone.value.status_code == 404
    assert "quick" not in [
        j.name for j in jobs.client.jobs.list_by_experiment(RG, jobs.ws, jobs.exp)
    ]
    # The name is free again, and the new job starts with nothing of the old one's.
    jobs.submit(
        "quick",
        m.JobCreateParameters(
            **common, custom_toolkit_settings=m.CustomToolkitSettings(command_line="echo again")
        ),
    )
    assert jobs.wait("quick").execution_state == "succeeded"
    assert "again" in jobs.text_or_nothing("quick", "stdout.txt")


PYTORCH_GLOO = """
    import os, sys
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["AZ_BATCHAI_TASK_INDEX"]), int(sys.argv[sys.argv.index("--world-size") + 1])
    dist.init_process_group(backend=os.environ["AZ_BATCHAI_PYTORCH_BACKEND"],
                            init_method=sys.argv[sys.argv.index("--dist-url") + 1],
                            rank=rank, world_size=world)
    value = torch.tensor([float(rank + 1)])
    dist.all_reduce(value)
    print(f"rank {rank} of {world}: sum {value.item()}", flush=True)
    with open(os.path.join(os.environ["AZ_BATCHAI_OUTPUT_MODEL"], f"rank-{rank}.txt"), "w") as out:
        out.write(str(value.item()))
    # What the job saw of Batch AI's variables, for the test to check their formats.
    import json
    seen = {k: v for k, v in os.environ.items() if k.startswith(("AZ_BATCH", "TF_CONFIG"))}
    seen["cwd"] = os.getcwd()
    seen["dirs"] = [k for k, v in seen.items() if os.path.isdir(v)]
    seen["hostfile"] = open(os.environ["AZ_BATCHAI_MPI_HOST_FILE"]).read()
    with open(os.path.join(os.environ["AZ_BATCHAI_OUTPUT_ENV"], f"env-{rank}.json"), "w") as out:
        json.dump(seen, out)
    dist.destroy_process_group()
"""


def test_pytorch_gloo_job(jobs: Jobs) -> None:
    pytest.importorskip("torch")
    m = jobs.models
    script = jobs.root / "script.py"
    script.write_text(textwrap.dedent(PYTORCH_GLOO))
    jobs.files.create_directory(SHARE, "scripts", fail_on_exist=False)
    jobs.files.create_file_from_path(SHARE, "scripts", "mnist_trainer.py", str(script))
    jobs.submit(
        "pytorch_gloo",
        m.JobCreateParameters(
            node_count=2,
            std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles",
            input_directories=[
                m.InputDirectory(id="SCRIPTS", path="$AZ_BATCHAI_MOUNT_ROOT/azfiles/scripts")
            ],
            output_directories=[
                m.OutputDirectory(
                    id="MODEL", path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles", path_suffix="Models"
                ),
                m.OutputDirectory(id="ENV", path_prefix="$AZ_BATCHAI_JOB_MOUNT_ROOT"),
            ],
            py_torch_settings=m.PyTorchSettings(
                python_script_file_path="$AZ_BATCHAI_INPUT_SCRIPTS/mnist_trainer.py",
                command_line_args="--dist-url $AZ_BATCHAI_PYTORCH_INIT_METHOD --rank $AZ_BATCHAI_TASK_INDEX --world-size 2",
                communication_backend="gloo",
            ),
        ),
    )
    job = jobs.wait("pytorch_gloo")
    assert job.execution_state == "succeeded", job.execution_info
    assert job.tool_type == "pytorch"
    assert jobs.text("pytorch_gloo", "stdout-0.txt").strip().endswith("rank 0 of 2: sum 3.0")
    assert jobs.text("pytorch_gloo", "stdout-1.txt").strip().endswith("rank 1 of 2: sum 3.0")
    assert sorted(jobs.files_of("pytorch_gloo", "MODEL")) == ["rank-0.txt", "rank-1.txt"]
    seen = [json.loads(jobs.text("pytorch_gloo", f"env-{rank}.json", "ENV")) for rank in (0, 1)]
    for rank, env in enumerate(seen):
        # Reference 3: every variable of a PyTorch job, in its format.
        temp = env["AZ_BATCHAI_JOB_TEMP"]
        assert env["cwd"] == temp == env["AZ_BATCHAI_JOB_WORK_DIR"]
        assert temp.startswith(env["AZ_BATCHAI_JOB_TEMP_DIR"].rstrip("/") + "/")
        assert env["AZ_BATCHAI_STDOUTERR_DIR"].endswith("/stdouterr")
        assert env["AZ_BATCHAI_OUTPUT_MODEL"].endswith("/outputs/Models")
        for folder in ("AZ_BATCHAI_JOB_TEMP", "AZ_BATCHAI_JOB_TEMP_DIR", "AZ_BATCHAI_SHARED_JOB_TEMP",
                       "AZ_BATCHAI_STDOUTERR_DIR", "AZ_BATCHAI_MOUNT_ROOT", "AZ_BATCHAI_JOB_MOUNT_ROOT",
                       "AZ_BATCHAI_INPUT_SCRIPTS", "AZ_BATCHAI_OUTPUT_MODEL", "AZ_BATCHAI_OUTPUT_ENV"):  # fmt: skip
            assert folder in env["dirs"], (folder, env.get(folder))
        assert env["AZ_BATCHAI_SHARED_JOB_TEMP"] == seen[0]["AZ_BATCHAI_SHARED_JOB_TEMP"]
        assert env["AZ_BATCHAI_NUM_GPUS"] == "0"
        assert env["AZ_BATCHAI_TASK_INDEX"] == str(rank)
        assert env["AZ_BATCHAI_PYTORCH_BACKEND"] == "gloo"
        assert env["AZ_BATCHAI_PYTORCH_INIT_METHOD"].startswith("tcp://")
        assert env["AZ_BATCHAI_CLUSTER_NAME"] == "cpu"
        assert env["AZ_BATCHAI_JOB_NAME"] == "pytorch_gloo"
        assert env["AZ_BATCHAI_JOB_MASTER_NODE_IP"] == seen[0]["AZ_BATCHAI_NODE_IP"]
        assert env["AZ_BATCHAI_IS_CURRENT_NODE_MASTER"] == ("true" if rank == 0 else "false")
        hosts = env["hostfile"].splitlines()
        assert len(hosts) == 2 and all(line.endswith(" slots=1") for line in hosts), hosts


def test_custom_mpi_job(jobs: Jobs) -> None:
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun is not installed (apt-get install openmpi-bin)")
    m = jobs.models
    line = (
        "python -c \"import os; r = os.environ['OMPI_COMM_WORLD_RANK']; "
        "n = os.environ['OMPI_COMM_WORLD_SIZE']; print('rank', r, 'of', n, flush=True); "
        "open(os.path.join(os.environ['AZ_BATCHAI_OUTPUT_LABEL'], 'part-' + r), 'w').write(r)\""
    )
    jobs.submit(
        "custom_mpi",
        m.JobCreateParameters(
            node_count=2,
            std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles",
            output_directories=[
                m.OutputDirectory(id="LABEL", path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles")
            ],
            custom_mpi_settings=m.CustomMpiSettings(command_line=line, process_count=2),
        ),
    )
    job = jobs.wait("custom_mpi")
    assert job.execution_state == "succeeded", job.execution_info
    stdout = jobs.text("custom_mpi", "stdout.txt")
    assert "rank 0 of 2" in stdout and "rank 1 of 2" in stdout  # mpirun merged the ranks
    assert sorted(jobs.files_of("custom_mpi", "LABEL")) == ["part-0", "part-1"]
    # A custom toolkit job runs its own mpirun over the hostfile Batch AI gives it.
    jobs.submit(
        "own_mpirun",
        m.JobCreateParameters(
            node_count=2,
            std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles",
            output_directories=[
                m.OutputDirectory(id="LABEL", path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles")
            ],
            custom_toolkit_settings=m.CustomToolkitSettings(
                command_line=f"mpirun --hostfile $AZ_BATCHAI_MPI_HOST_FILE -np 2 {line}"
            ),
        ),
    )
    job = jobs.wait("own_mpirun")
    assert job.execution_state == "succeeded", (
        job.execution_info,
        jobs.text_or_nothing("own_mpirun", "stderr.txt"),
    )
    stdout = jobs.text("own_mpirun", "stdout.txt")
    assert "rank 0 of 2" in stdout and "rank 1 of 2" in stdout
    assert sorted(jobs.files_of("own_mpirun", "LABEL")) == ["part-0", "part-1"]


def test_wall_clock_limit_and_job_mounts_of_their_own(jobs: Jobs) -> None:
    m = jobs.models
    jobs.submit(
        "too_long",
        m.JobCreateParameters(
            node_count=1,
            std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles",
            constraints=m.JobBasePropertiesConstraints(max_wall_clock_time="0:00:02"),
            custom_toolkit_settings=m.CustomToolkitSettings(command_line="sleep 120"),
        ),
    )
    share = m.AzureFileShareReference(
        azure_file_url=f"https://{STORAGE_ACCOUNT}.file.core.windows.net/{SHARE}",
        credentials=m.AzureStorageCredentialsInfo(account_key=STORAGE_KEY),
        relative_mount_path="jobshare",
    )  # the account name comes from the URL, as the CLI took it
    for name in ("mounts_first", "mounts_second"):
        jobs.submit(
            name,
            m.JobCreateParameters(
                node_count=1,
                std_out_err_path_prefix="$AZ_BATCHAI_JOB_MOUNT_ROOT/jobshare"
                if name == "mounts_first"
                else "$AZ_BATCHAI_JOB_TEMP",
                mount_volumes=m.MountVolumes(azure_file_shares=[share])
                if name == "mounts_first"
                else None,
                custom_toolkit_settings=m.CustomToolkitSettings(
                    command_line="ls $AZ_BATCHAI_JOB_MOUNT_ROOT; echo $AZ_BATCHAI_JOB_MOUNT_ROOT"
                ),
            ),
        )
    stopped = jobs.wait("too_long")
    assert stopped.execution_state == "failed"
    assert "max_run_duration_seconds=2" in stopped.execution_info.errors[0].message
    first = jobs.wait("mounts_first")
    assert first.execution_state == "succeeded", first.execution_info
    lines = jobs.text("mounts_first", "stdout.txt").splitlines()
    assert lines[0] == "jobshare"
    second = jobs.wait("mounts_second")
    # A later job has a mount root of its own, without the first job's mount; its logs,
    # on the node's disk only, still reach the job's files.
    assert second.execution_state == "succeeded", second.execution_info
    second_lines = jobs.text("mounts_second", "stdout.txt").splitlines()
    assert second_lines == [second_lines[-1]] and second_lines[-1] != lines[-1]


# What a Horovod or ChainerMN script does first: an MPI allreduce over every rank.
MPI_SCRIPT = """
import os, sys
from mpi4py import MPI
total = MPI.COMM_WORLD.allreduce(MPI.COMM_WORLD.Get_rank() + 1)
# One write per line: print's pieces, unbuffered, would interleave with the other rank's.
sys.stdout.write(f"rank {os.environ['OMPI_COMM_WORLD_RANK']} {sys.argv[1:]} sum {total}\\n")
sys.stdout.flush()
"""


@pytest.mark.parametrize("tool", ["horovod", "chainer"])
def test_horovod_and_chainer_jobs_run_their_script_under_mpi(jobs: Jobs, tool: str) -> None:
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun is not installed (apt-get install openmpi-bin)")
    m = jobs.models
    script = jobs.root / f"{tool}.py"
    script.write_text(MPI_SCRIPT)
    jobs.files.create_directory(SHARE, "scripts", fail_on_exist=False)
    jobs.files.create_file_from_path(SHARE, "scripts", f"{tool}.py", str(script))
    settings = {
        "python_script_file_path": f"$AZ_BATCHAI_MOUNT_ROOT/azfiles/scripts/{tool}.py",
        "command_line_args": "--epochs 1",
        "process_count": 2,
    }
    toolkit = (
        {"horovod_settings": m.HorovodSettings(**settings)}
        if tool == "horovod"
        else {"chainer_settings": m.ChainerSettings(**settings)}
    )
    jobs.submit(
        tool,
        m.JobCreateParameters(
            node_count=2, std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles", **toolkit
        ),
    )
    job = jobs.wait(tool)
    assert job.execution_state == "succeeded", job.execution_info
    assert job.tool_type == tool
    stdout = jobs.text(tool, "stdout.txt")
    for rank in (0, 1):
        assert f"rank {rank} ['--epochs', '1'] sum 3" in stdout, stdout


def test_setup_task_ran_once_on_each_node(jobs: Jobs) -> None:
    # The module's jobs ran on both nodes by now (the 2-node ones above); each node ran
    # the cluster's setup task once, logging beside the cluster's other files.
    cluster = jobs.client.clusters.get(RG, jobs.ws, "cpu")
    task = cluster.node_setup.setup_task
    assert task.secrets[0].value is None  # kept in the key vault
    suffix = task.std_out_err_path_suffix
    assert suffix.startswith(
        f"{jobs.client.subscription_id}/{RG}/workspaces/{jobs.ws}/clusters/cpu/"
    )
    logs = sorted(e.name for e in jobs.files.list_directories_and_files(SHARE, suffix))
    assert len([n for n in logs if n.startswith("stdout-")]) == 2, logs
    for name in logs:
        if name.startswith("stdout-"):
            assert (
                jobs.files.get_file_to_text(SHARE, suffix, name).content
                == "setting up VALUE SECRET\n"
            )


def test_a_resize_below_busy_nodes_follows_node_deallocation_option(
    jobs: Jobs, tmp_path: Path
) -> None:
    """``clusters.update`` with fewer nodes than are busy: ``terminate`` stops the newest job
    for good, ``waitforjobcompletion`` lets the jobs finish, ``requeue`` puts the newest back
    in the queue; each time the cluster shrinks to its new size. Then a ``high`` job queued
    after a ``low`` one runs first."""
    m = jobs.models
    manual = m.ManualScaleSettings
    cluster = jobs.client.clusters.create(
        RG,
        jobs.ws,
        "resizable",
        m.ClusterCreateParameters(
            vm_size="STANDARD_D2_V2",
            scale_settings=m.ScaleSettings(manual=manual(target_node_count=3)),
            user_account_settings=m.UserAccountSettings(
                admin_user_name="demoUser", admin_user_password="Dem0Pa$$w0rd"
            ),
        ),
    ).result()

    def submit(name: str, priority: str = "normal") -> None:
        gate = tmp_path / f"release-{name}"
        body = m.JobCreateParameters(
            cluster=m.ResourceId(id=cluster.id),
            node_count=1,
            std_out_err_path_prefix="$AZ_BATCHAI_JOB_TEMP",
            scheduling_priority=priority,
            custom_toolkit_settings=m.CustomToolkitSettings(
                command_line=f"echo started; while [ ! -e {gate} ]; do sleep 0.2; done"
            ),
        )
        jobs.client.jobs.create(RG, jobs.ws, jobs.exp, name, body).result()

    def state(name: str) -> str:
        return str(jobs.get(name).execution_state)

    def nodes() -> int:
        found = jobs.client.clusters.get(RG, jobs.ws, "resizable")
        return int(found.current_node_count)

    def resize(count: int, option: str) -> None:
        settings = m.ScaleSettings(
            manual=manual(target_node_count=count, node_deallocation_option=option)
        )
        jobs.client.clusters.update(RG, jobs.ws, "resizable", scale_settings=settings)

    def release(name: str) -> None:
        (tmp_path / f"release-{name}").touch()

    try:
        for name in ("first", "second", "third"):
            submit(name)
            wait_until(lambda n=name: state(n) == "running", 120, f"job {name} to run")
        resize(2, "terminate")
        wait_until(lambda: state("third") == "failed", 60, "the newest job to be stopped")
        errors = jobs.get("third").execution_info.errors
        assert [e.code for e in errors] == ["JobFailed"], errors
        assert "resized to 2 node(s) with node_deallocation_option 'terminate'" in errors[0].message
        wait_until(lambda: nodes() == 2, 60, "the cluster to shrink to 2 nodes")
        assert state("first") == state("second") == "running"

        # waitforjobcompletion: the busy nodes finish their jobs, and a node set free leaves
        # rather than take a queued job.
        submit("fourth")
        resize(1, "waitforjobcompletion")
        release("second")
        assert jobs.wait("second").execution_state == "succeeded"
        wait_until(lambda: nodes() == 1, 60, "the cluster to shrink to 1 node")
        assert (state("first"), state("fourth")) == ("running", "queued")

        # requeue: the newest job goes back to the queue, and runs again once a node of the
        # smaller cluster is free.
        resize(2, "requeue")
        wait_until(lambda: state("fourth") == "running", 120, "the queued job to run")
        resize(1, "requeue")
        wait_until(lambda: state("fourth") == "queued", 60, "the newest job to be requeued")
        wait_until(lambda: nodes() == 1, 60, "the cluster to shrink to 1 node")
        assert state("first") == "running"
        release("first")
        assert jobs.wait("first").execution_state == "succeeded"
        wait_until(lambda: state("fourth") == "running", 120, "the requeued job to run again")

        # A queued job with a higher priority goes before a lower one queued earlier.
        submit("low", "low")
        submit("high", "high")
        release("fourth")
        assert jobs.wait("fourth").execution_state == "succeeded"
        wait_until(lambda: state("high") == "running", 120, "the high-priority job to run")
        assert state("low") == "queued"
        release("high")
        release("low")
        assert jobs.wait("low").execution_state == "succeeded"
        assert jobs.wait("high").execution_state == "succeeded"
        assert jobs.get("low").execution_info.start_time > jobs.get("high").execution_info.end_time
    finally:
        for name in ("first", "second", "third", "fourth", "low", "high"):
            release(name)
        jobs.client.clusters.delete(RG, jobs.ws, "resizable").result(timeout=120)


def test_a_parameter_sweep_with_the_experiment_helpers(jobs: Jobs) -> None:
    """The hyperparameter recipes' loop: one 1-node job per parameter set, submitted,
    awaited and ranked by a metric read from each job's log, then deleted."""
    from trainforge.batchai.utilities.experiment import ExperimentUtils, MetricExtractor

    m = jobs.models
    utils = ExperimentUtils(jobs.client, RG, jobs.ws, "sweep")
    jobs.client.experiments.create(RG, jobs.ws, "sweep").result()
    parameters = [
        m.JobCreateParameters(
            cluster=m.ResourceId(id=jobs.cluster.id),
            node_count=1,
            std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/azfiles",
            environment_variables=[m.EnvironmentVariable(name="PARAM_EPOCHS", value="2")],
            custom_toolkit_settings=m.CustomToolkitSettings(
                command_line=f"echo epochs $PARAM_EPOCHS lr {lr}; "
                f"echo 'Final accuracy: 0.{digits}0'; echo 'Final accuracy: 0.{digits}5'"
            ),
        )
        for lr, digits in (("0.1", "6"), ("0.01", "9"), ("0.001", "7"))
    ]
    submitted = utils.submit_jobs(parameters, "param_sweep")
    assert [j.name for j in submitted] == ["param_sweep_0", "param_sweep_1", "param_sweep_2"]
    done = utils.wait_all_jobs(polling_interval=0.5, timeout=240)
    assert {j.execution_state for j in done} == {"succeeded"}
    extractor = MetricExtractor(
        output_dir_id="stdouterr", logfile="stdout.txt", regex=r"Final accuracy: (\d+\.\d+)"
    )
    ranked = utils.get_metrics_for_jobs(done, extractor)
    assert [(r["job_name"], r["metric_value"]) for r in ranked] == [
        ("param_sweep_1", 0.95),
        ("param_sweep_2", 0.75),
        ("param_sweep_0", 0.65),
    ]
    assert (
        MetricExtractor("stdouterr", "stdout.txt", r"accuracy: (\d+\.\d+)", "min").get_metric(
            jobs.client, RG, jobs.ws, "sweep", "param_sweep_1"
        )
        == 0.9
    )
    utils.delete_jobs_in_experiment(execution_state="succeeded")
    assert utils.get_jobs() == []
