"""Datastores of every kind (local folder, Azure Blob on Azurite, S3 on moto): registration,
transfers, paths, and data references consumed by runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.storage_services import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, MotoS3, azurite, moto_s3
from trainforge.core import Datastore, Experiment, ScriptRunConfig, Workspace
from trainforge.exceptions import UserErrorException

KINDS = ["local", "blob_key", "blob_sas", "s3"]


@pytest.fixture(scope="module")
def azurite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with azurite(tmp_path_factory.mktemp("azurite")) as service:
        yield service


@pytest.fixture(scope="module")
def s3_service() -> Iterator[MotoS3]:
    with moto_s3() as service:
        yield service


def sas_for(container: str) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        AZURITE_ACCOUNT,
        container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, write=True, list=True, create=True, add=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


def register(kind: str, ws: Workspace, request: pytest.FixtureRequest, tmp_path: Path) -> Datastore:
    name = f"{kind}_{uuid.uuid4().hex[:6]}"
    if kind == "local":
        return Datastore.register_local_folder(
            ws, name, str(tmp_path / "store"), create_if_not_exists=True
        )
    if kind.startswith("blob"):
        az: Azurite = request.getfixturevalue("azurite_service")
        container = f"c{uuid.uuid4().hex[:10]}"
        if kind == "blob_sas":
            # A SAS cannot create containers: make it with the key first, as an admin would.
            Datastore.register_azure_blob_container(
                ws, f"admin_{name}", container, AZURITE_ACCOUNT,
                account_key=AZURITE_KEY, endpoint=az.blob_endpoint, create_if_not_exists=True,
            )  # fmt: skip
            return Datastore.register_azure_blob_container(
                ws, name, container, AZURITE_ACCOUNT, sas_token=sas_for(container),
                endpoint=az.blob_endpoint,
            )  # fmt: skip
        return Datastore.register_azure_blob_container(
            ws, name, container, AZURITE_ACCOUNT, account_key=AZURITE_KEY,
            endpoint=az.blob_endpoint, create_if_not_exists=True,
        )  # fmt: skip
    s3: MotoS3 = request.getfixturevalue("s3_service")
    return Datastore.register_s3(
        ws, name, f"b{uuid.uuid4().hex[:10]}", s3.key, s3.secret,
        endpoint_url=s3.endpoint_url, region=s3.region, create_if_not_exists=True,
    )  # fmt: skip


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, ws: Workspace, tmp_path: Path) -> Datastore:
    return register(request.param, ws, request, tmp_path)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("bravo")
    (folder / "sub" / "deeper" / "c.bin").write_bytes(os.urandom(300_000))
    return folder


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


# -- registration -------------------------------------------------------------------------
def test_registered_store_is_listed_without_credentials(store: Datastore, ws: Workspace) -> None:
    assert store.name in ws.datastores
    again = Datastore.get(ws, store.name.upper())  # names are case-insensitive
    assert again.name == store.name and type(again) is type(store)
    raw = ws.service_context.client.get(f"/workspaces/{ws.name}/datastores/{store.name}")
    text = str(raw)
    assert AZURITE_KEY not in text and "testing-secret" not in text
    assert store.account_key is None and store.sas_token is None
    if store.datastore_type == "AzureBlob":
        # What a client gets to move data is a fresh SAS, never the account key.
        from trainforge.core.datastore import storage_access

        access = storage_access(ws, store.name)
        assert AZURITE_KEY not in str(access.storage_options)
        assert "SharedAccessSignature=" in access.storage_options["connection_string"]
    if store.datastore_type == "S3":
        # ... and for S3 temporary STS keys, never the registered ones.
        from trainforge.core.datastore import storage_access

        access = storage_access(ws, store.name)
        assert access.storage_options["key"] != "testing-key" and access.storage_options["token"]
        assert access.expires is not None


def test_registering_a_taken_name_needs_overwrite(ws: Workspace, tmp_path: Path) -> None:
    Datastore.register_local_folder(
        ws, "taken_name", str(tmp_path / "a"), create_if_not_exists=True
    )
    with pytest.raises(UserErrorException, match="overwrite=True"):
        Datastore.register_local_folder(
            ws, "taken_name", str(tmp_path / "b"), create_if_not_exists=True
        )
    replaced = Datastore.register_local_folder(
        ws, "taken_name", str(tmp_path / "b"), overwrite=True, create_if_not_exists=True
    )
    assert replaced.path_on_host == str(tmp_path / "b")  # type: ignore[attr-defined]
    replaced.unregister()
    assert "taken_name" not in ws.datastores


def test_bad_registrations_name_the_field(ws: Workspace, azurite_service: Azurite) -> None:
    with pytest.raises(UserErrorException, match="datastore_name"):
        Datastore.register_local_folder(ws, "bad-name!", "/tmp")
    with pytest.raises(UserErrorException, match="account_key, sas_token"):
        Datastore.register_azure_blob_container(
            ws, "both_creds", "c1234", AZURITE_ACCOUNT, sas_token="x", account_key="y"
        )
    with pytest.raises(UserErrorException, match="container_name.*create_if_not_exists"):
        Datastore.register_azure_blob_container(
            ws, "no_container", "missing-container", AZURITE_ACCOUNT,
            account_key=AZURITE_KEY, endpoint=azurite_service.blob_endpoint,
        )  # fmt: skip
    with pytest.raises(UserErrorException, match="cannot be reached"):
        Datastore.register_azure_blob_container(
            ws, "wrong_key", "c1234", AZURITE_ACCOUNT,
            account_key="d3Jvbmc=", endpoint=azurite_service.blob_endpoint,
        )  # fmt: skip
    assert "no_container" not in ws.datastores and "wrong_key" not in ws.datastores


def test_default_datastore_can_change(ws: Workspace, tmp_path: Path) -> None:
    assert ws.get_default_datastore().name == "workspaceblobstore"
    assert ws.datastores["workspacefilestore"].datastore_type == "AzureFile"
    other = Datastore.register_local_folder(
        ws, "other_default", str(tmp_path), create_if_not_exists=True
    )
    ws.set_default_datastore(other.name)
    try:
        assert ws.get_default_datastore().name == "other_default"
        with pytest.raises(UserErrorException, match="default"):
            other.unregister()
    finally:
        ws.set_default_datastore("workspaceblobstore")
    other.unregister()


def test_workspace_with_a_storage_account_uses_blob(
    tf_home: Path, azurite_service: Azurite
) -> None:
    ws = Workspace.create(
        "blob-ws",
        storage_account=azurite_service.connection_string,
        exist_ok=True,
        show_output=False,
    )
    ds = ws.get_default_datastore()
    assert (ds.datastore_type, ds.account_name) == ("AzureBlob", AZURITE_ACCOUNT)
    assert ds.container_name.startswith("azureml-blobstore-")
    ds.upload_files([__file__], target_path="code", show_progress=False)
    from azure.storage.blob import ContainerClient

    container = ContainerClient.from_connection_string(
        azurite_service.connection_string, ds.container_name
    )
    assert [b.name for b in container.list_blobs()] == [f"code/{Path(__file__).name}"]


# -- transfers ------------------------------------------------------------------------------
def test_upload_and_download_round_trip(store: Datastore, source: Path, tmp_path: Path) -> None:
    ref = store.upload(str(source), target_path="data/v1", show_progress=False)
    assert str(ref).startswith("$AZUREML_DATAREFERENCE_") and ref.path_on_datastore == "data/v1"
    target = tmp_path / "down"
    assert store.download(str(target), prefix="data/v1", show_progress=False) == 3
    assert tree(target / "data" / "v1") == tree(source)  # the prefix is kept, as in the SDK
    # A prefix is a string prefix of blob names, not only a folder.
    only = tmp_path / "only"
    assert store.download(str(only), prefix="data/v1/sub/b", show_progress=False) == 1


def test_existing_files_are_skipped_unless_overwrite(
    store: Datastore, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.upload(str(source), target_path="skip", show_progress=False)
    (source / "a.txt").write_text("changed")
    store.upload(str(source), target_path="skip", overwrite=False, show_progress=True)
    out = capsys.readouterr().out
    assert "Uploading an estimated of 3 files" in out and "Uploaded 0 files" in out
    assert "Target already exists. Skipping upload for" in out
    down = tmp_path / "down"
    store.download(str(down), prefix="skip", show_progress=False)
    assert (down / "skip" / "a.txt").read_text() == "alpha"
    store.upload(str(source), target_path="skip", overwrite=True, show_progress=False)
    (down / "skip" / "a.txt").write_text("local edit")
    assert store.download(str(down), prefix="skip", overwrite=False, show_progress=False) == 0
    assert (down / "skip" / "a.txt").read_text() == "local edit"
    assert store.download(str(down), prefix="skip", overwrite=True, show_progress=False) == 3
    assert (down / "skip" / "a.txt").read_text() == "changed"


def test_upload_files_relative_to_their_root(
    store: Datastore, source: Path, tmp_path: Path
) -> None:
    files = [str(source / "sub" / "b.txt"), str(source / "sub" / "deeper" / "c.bin")]
    store.upload_files(files, target_path="picked", show_progress=False)
    store.upload_files(files, relative_root=str(source), target_path="rooted", show_progress=False)
    down = tmp_path / "down"
    store.download(str(down), prefix="picked", show_progress=False)
    store.download(str(down), prefix="rooted", show_progress=False)
    assert sorted(tree(down / "picked")) == ["b.txt", "deeper/c.bin"]
    assert sorted(tree(down / "rooted")) == ["sub/b.txt", "sub/deeper/c.bin"]
    with pytest.raises(UserErrorException, match="relative_root"):
        store.upload_files(files, relative_root=str(tmp_path / "elsewhere"), show_progress=False)


def test_paths_never_leave_the_datastore(
    store: Datastore, source: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for bad in ("../outside", "data/../../x", "/etc/passwd"):
        with pytest.raises(UserErrorException):
            store.path(bad)
        with pytest.raises(UserErrorException):
            store.upload(str(source), target_path=bad, show_progress=False)
    ref = store.path(" mnist_dataset/mnist.npz")  # as the migration guide writes it
    assert ref.path_on_datastore == "mnist_dataset/mnist.npz"
    assert "spaces around it" in caplog.text
    with pytest.raises(UserErrorException, match="src_dir"):
        store.upload(str(source / "a.txt"), show_progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "blob_key"])
def test_an_interrupted_upload_leaves_no_partial_file(
    kind: str, ws: Workspace, request: pytest.FixtureRequest, tmp_path: Path, tf_home: Path
) -> None:
    store = register(kind, ws, request, tmp_path)
    big = tmp_path / "big" / "model.bin"
    big.parent.mkdir()
    with open(big, "wb") as out:
        for _ in range(300):
            out.write(os.urandom(1 << 20))
    code = (
        "from trainforge.core import Workspace, Datastore\n"
        "ws = Workspace.get('test-ws')\n"
        f"store = Datastore.get(ws, {store.name!r})\n"
        "print('START', flush=True)\n"
        f"store.upload({str(big.parent)!r}, 'big', show_progress=False)\n"
    )
    uploader = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "TRAINFORGE_HOME": str(tf_home)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert uploader.stdout is not None and uploader.stdout.readline().strip() == "START"
        if kind == "local":
            # Kill it the moment the copy has begun (it is written aside, under a hidden name).
            folder = tmp_path / "store" / "big"
            wait_until(
                lambda: list(folder.glob(".model.bin.partial-*")),
                10,
                "the copy to begin",
                interval=0.005,
            )
        else:
            # Kill it once its first blocks are staged: stored, not yet committed as a blob.
            from azure.storage.blob import ContainerClient

            az: Azurite = request.getfixturevalue("azurite_service")
            container = ContainerClient.from_connection_string(
                az.connection_string, store.container_name
            )
            wait_until(
                lambda: list(container.list_blobs(include=["uncommittedblobs"])),
                30,
                "the upload's first staged block",
                interval=0.005,
            )
        assert uploader.poll() is None, "the upload ended before it could be interrupted"
    finally:
        uploader.send_signal(signal.SIGKILL)
        uploader.wait()
    down = tmp_path / "down"
    assert store.download(str(down), prefix="big", show_progress=False) == 0
    assert not (down / "big" / "model.bin").exists()


# -- data references in runs ------------------------------------------------------------------
READER = """
import os, pathlib, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
mounted = pathlib.Path(args["--mounted"])
print("MOUNTED", sorted(p.relative_to(mounted).as_posix() for p in mounted.rglob("*") if p.is_file()))
print("FILE", pathlib.Path(args["--file"]).read_text())
print("ENV", os.environ["AZUREML_DATAREFERENCE_" + os.environ["REF_NAME"]] == args["--mounted"])
out = pathlib.Path(args["--out"])
(out / "nested").mkdir(parents=True, exist_ok=True)
(out / "nested" / "result.txt").write_text("written by the run")
"""


def test_a_run_mounts_downloads_and_uploads(
    store: Datastore, source: Path, experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    store.upload(str(source), target_path="inputs", show_progress=False)
    (project / "reader.py").write_text(READER)
    mounted = store.path("inputs").as_mount()
    config = ScriptRunConfig(
        str(project),
        "reader.py",
        arguments=[
            "--mounted", mounted,
            "--file", store.path(" inputs/a.txt").as_download(),
            "--out", store.path("results").as_upload(),
        ],
    )  # fmt: skip
    config.run_config.environment_variables["REF_NAME"] = mounted.data_reference_name
    run = experiment.submit(config)
    run.wait_for_completion(show_output=False)
    assert run.get_status() == "Completed", run.get_details().get("error")
    run.download_file("azureml-logs/70_driver_log.txt", str(tmp_path / "driver.txt"))
    log = (tmp_path / "driver.txt").read_text()
    assert "MOUNTED ['a.txt', 'sub/b.txt', 'sub/deeper/c.bin']" in log
    assert "FILE alpha" in log and "ENV True" in log
    down = tmp_path / "results"
    assert store.download(str(down), prefix="results", show_progress=False) == 1
    assert (down / "results" / "nested" / "result.txt").read_text() == "written by the run"
    assert "azureml-logs/65_job_prep.txt" in run.get_file_names()


def test_a_missing_input_fails_the_run_with_its_name(
    store: Datastore, experiment: Experiment, project: Path
) -> None:
    (project / "reader.py").write_text("print('never')")
    config = ScriptRunConfig(
        str(project), "reader.py", arguments=["--x", store.path("does/not/exist").as_mount()]
    )
    run = experiment.submit(config)
    run.wait_for_completion(show_output=False, raise_on_error=False)
    assert run.get_status() == "Failed"
    assert "nothing at does/not/exist" in run.get_details()["error"]["error"]["message"]


CLUSTER_READER = """
import os, pathlib, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
rank = os.environ["RANK"]
text = (pathlib.Path(args["--data"]) / "a.txt").read_text()
extra = pathlib.Path(os.environ["AZUREML_DATAREFERENCE_extra"]).read_text()
out = pathlib.Path(args["--out"])
out.mkdir(parents=True, exist_ok=True)
(out / f"rank{rank}.txt").write_text(f"{text}+{extra} on node {os.environ['NODE_RANK']}")
"""


@pytest.mark.slow
def test_data_references_on_a_two_node_cluster(
    ws: Workspace,
    request: pytest.FixtureRequest,
    source: Path,
    experiment: Experiment,
    project: Path,
    tmp_path: Path,
) -> None:
    from trainforge.core.compute import AmlCompute, ComputeTarget
    from trainforge.data.data_reference import DataReference
    from trainforge.train.dnn import PyTorch

    store = register("blob_key", ws, request, tmp_path)
    store.upload(str(source), "shared", show_progress=False)
    (project / "reader.py").write_text(CLUSTER_READER)
    cluster = ComputeTarget.create(
        ws,
        "data-cluster",
        AmlCompute.provisioning_configuration(
            vm_size="STANDARD_D2_V2", max_nodes=2, idle_seconds_before_scaledown=5
        ),
    )
    try:
        estimator = PyTorch(
            str(project),
            compute_target=cluster,
            entry_script="reader.py",
            node_count=2,
            distributed_backend="gloo",
            script_params={
                "--data": store.path("shared").as_mount(),
                "--out": store.path("by-rank").as_upload(),
            },
            inputs=[DataReference(store, "extra", "shared/sub/b.txt", mode="download")],
        )
        run = experiment.submit(estimator)
        run.wait_for_completion(show_output=False)
        assert run.get_status() == "Completed", run.get_details().get("error")
    finally:
        cluster.delete()
        cluster.wait_for_completion(is_delete_operation=True)
    down = tmp_path / "by-rank"
    assert store.download(str(down), prefix="by-rank", show_progress=False) == 2
    assert (down / "by-rank" / "rank0.txt").read_text() == "alpha+bravo on node 0"
    assert (down / "by-rank" / "rank1.txt").read_text() == "alpha+bravo on node 1"


def test_cli_registers_lists_and_moves_data(
    ws: Workspace, tf_home: Path, s3_service: MotoS3, source: Path, tmp_path: Path
) -> None:
    from tests.cli import cli, flat

    secrets = {"AWS_ACCESS_KEY_ID": s3_service.key, "AWS_SECRET_ACCESS_KEY": s3_service.secret}
    env_backup = {k: os.environ.get(k) for k in secrets}
    os.environ.update(secrets)  # secrets from the environment, not the command line
    try:
        done = cli(
            tf_home, "datastore", "register", "cli_s3", "--kind", "s3", "--bucket", "cli-bucket",
            "--endpoint-url", s3_service.endpoint_url, "--region", s3_service.region,
            "--create-if-not-exists", "-w", ws.name,
        )  # fmt: skip
    finally:
        for key, value in env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registered datastore cli_s3 (S3: s3://cli-bucket" in flat(done.stdout)
    listed = cli(tf_home, "datastore", "list", "-w", ws.name)
    assert "cli_s3" in listed.stdout and "workspaceblobstore" in listed.stdout
    assert s3_service.secret not in listed.stdout
    shown = cli(tf_home, "datastore", "show", "cli_s3", "-w", ws.name)
    assert '"bucket_name": "cli-bucket"' in shown.stdout and s3_service.secret not in shown.stdout
    up = cli(
        tf_home, "datastore", "upload", str(source), "--target-path", "from-cli",
        "-d", "cli_s3", "-w", ws.name,
    )  # fmt: skip
    assert up.returncode == 0 and "Uploaded 3 files" in up.stdout, up.stdout + up.stderr
    down = cli(
        tf_home, "datastore", "download", str(tmp_path / "d"), "--prefix", "from-cli",
        "-d", "cli_s3", "-w", ws.name,
    )  # fmt: skip
    assert down.returncode == 0 and "Downloaded 3 files" in down.stdout
    assert tree(tmp_path / "d" / "from-cli") == tree(source)
    bad = cli(
        tf_home,
        "datastore",
        "upload",
        str(source),
        "--target-path",
        "../up",
        "-d",
        "cli_s3",
        "-w",
        ws.name,
    )
    assert bad.returncode == 1 and "climbs out of its root" in flat(bad.stderr)
    assert cli(tf_home, "datastore", "unregister", "cli_s3", "-w", ws.name).returncode == 0


WRITER = """
import errno, pathlib, sys
mounted = pathlib.Path(sys.argv[1])
print("READ", (mounted / "a.txt").read_text())
for target in (mounted / "a.txt", mounted / "new.txt"):
    try:
        target.write_text("overwritten")
        print("WROTE", target.name)
    except OSError as exc:
        print("REFUSED", target.name, errno.errorcode[exc.errno])
"""


def test_a_local_datastore_is_mounted_read_only_without_copying(
    ws: Workspace, source: Path, experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    from trainforge.node import read_only_view

    if not read_only_view.available():
        pytest.skip("this machine refuses mount namespaces (unshare --mount)")
    store = Datastore.register_local_folder(ws, f"ro_{uuid.uuid4().hex[:6]}", str(source))
    (project / "writer.py").write_text(WRITER)
    run = experiment.submit(
        ScriptRunConfig(str(project), "writer.py", arguments=[store.path().as_mount()])
    )
    run.wait_for_completion(show_output=False)
    run.download_file("azureml-logs/70_driver_log.txt", str(tmp_path / "log.txt"))
    log = (tmp_path / "log.txt").read_text()
    assert "READ alpha" in log
    assert "REFUSED a.txt EROFS" in log and "REFUSED new.txt EROFS" in log
    assert (source / "a.txt").read_text() == "alpha" and not (source / "new.txt").exists()
