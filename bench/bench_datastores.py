"""Datastore transfers: trainforge's fsspec engine next to the raw storage SDK and ``cp -r``.

Azure Blob (Azurite on loopback): one large file and many small files, uploaded and then
downloaded, by ``Datastore.upload``/``download`` and by azure-storage-blob directly:
``upload_blob(max_concurrency=8)`` / ``download_blob(max_concurrency=8)`` for the large file,
and for the small files the SDK in a 16-thread pool (what a user would write; the
sequential loop is kept in ``extra``). Local datastore: ``Datastore.upload`` next to
``cp -r`` of the same folder. Every copy is checked (sizes and a digest) before it counts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import Row, progress, quiet_call, trainforge_home

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.storage_services import AZURITE_ACCOUNT, AZURITE_KEY, azurite  # noqa: E402

SMALL_SIZE = 4096


def _make_inputs(root: Path, big_mb: int, small_count: int) -> tuple[Path, Path]:
    big = root / "big"
    big.mkdir()
    with open(big / "model.bin", "wb") as out:
        for _ in range(big_mb):
            out.write(os.urandom(1 << 20))
    small = root / "small"
    for i in range(small_count):
        folder = small / f"part{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.bin").write_bytes(os.urandom(SMALL_SIZE))
    return big, small


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _best_of_two(ours, peer) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Each side twice, in the order ours, peer, peer, ours, so that neither always goes
    first into a cold emulator or page cache; the faster of each side's two runs counts."""
    first_ours, first_peer = ours(), peer()
    return min(first_ours, ours()), min(first_peer, peer())


def _sdk_upload(container, folder: Path, prefix: str, workers: int) -> None:  # type: ignore[no-untyped-def]
    files = [p for p in folder.rglob("*") if p.is_file()]

    def one(path: Path) -> None:
        with open(path, "rb") as data:
            container.upload_blob(
                f"{prefix}/{path.relative_to(folder).as_posix()}",
                data,
                overwrite=True,
                max_concurrency=8,
            )

    if workers == 1:
        for path in files:
            one(path)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, files))


def _sdk_download(container, prefix: str, target: Path, workers: int) -> None:  # type: ignore[no-untyped-def]
    names = [b.name for b in container.list_blobs(name_starts_with=f"{prefix}/")]

    def one(name: str) -> None:
        local = target / name
        local.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "wb") as out:
            container.download_blob(name, max_concurrency=8).readinto(out)

    if workers == 1:
        for name in names:
            one(name)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, names))


def run(quick: bool = False) -> list[Row]:
    from azure.storage.blob import ContainerClient

    from trainforge.core import Datastore, Workspace

    big_mb, small_count = (50, 500) if quick else (200, 2000)
    work = Path(tempfile.mkdtemp(prefix="trainforge-bench-data-"))
    rows: list[Row] = []
    try:
        progress(f"datastores: writing {big_mb} MB and {small_count} files of {SMALL_SIZE} B")
        big, small = _make_inputs(work, big_mb, small_count)
        digests = {"big": _digest(big), "small": _digest(small)}
        with trainforge_home("data"), azurite(work / "azurite") as az:
            ws = quiet_call(Workspace.create, "bench-ws", exist_ok=True)
            store = Datastore.register_azure_blob_container(
                ws, "bench_blob", "bench", AZURITE_ACCOUNT, account_key=AZURITE_KEY,
                endpoint=az.blob_endpoint, create_if_not_exists=True,
            )  # fmt: skip
            container = ContainerClient.from_connection_string(az.connection_string, "bench")
            for label, folder, mb in (
                (f"1 file of {big_mb} MB", big, big_mb),
                (f"{small_count:,} files of 4 KB", small, small_count * SMALL_SIZE / 2**20),
            ):
                kind = folder.name
                progress(f"datastores: Azurite upload, {label}")
                ours_up, peer_up = _best_of_two(
                    lambda f=folder, k=kind: _timed(store.upload, str(f), f"tf-{k}", True, False),
                    lambda f=folder, k=kind: _timed(_sdk_upload, container, f, f"sdk-{k}", 16),
                )
                extra = {}
                if kind == "small":
                    extra["sdk_sequential_upload_s"] = _timed(
                        _sdk_upload, container, folder, f"seq-{kind}", 1
                    )
                progress(f"datastores: Azurite download, {label}")
                ours_target, peer_target = work / f"down-tf-{kind}", work / f"down-sdk-{kind}"
                ours_down, peer_down = _best_of_two(
                    lambda t=ours_target, k=kind: _timed(
                        store.download, str(t), f"tf-{k}", True, False
                    ),
                    lambda t=peer_target, k=kind: _timed(
                        _sdk_download, container, f"sdk-{k}", t, 16
                    ),
                )
                errors = [
                    name
                    for name, got in (
                        ("trainforge", ours_target / f"tf-{kind}"),
                        ("azure-storage-blob", peer_target / f"sdk-{kind}"),
                    )
                    if _digest(got) != digests[kind]
                ]
                error = f"wrong content after the round trip: {errors}" if errors else None
                way = "(max_concurrency=8)" if kind == "big" else " in 16 threads"
                for direction, ours, peer, call in (
                    ("upload", ours_up, peer_up, "upload_blob"),
                    ("download", ours_down, peer_down, "download_blob"),
                ):
                    note = f"{mb:,.0f} MB; peer: azure-storage-blob {call}{way}"
                    row_extra = extra if direction == "upload" else {}
                    rows.append(
                        Row(
                            f"Azurite {direction}, {label}",
                            ours,
                            peer,
                            "s",
                            note,
                            False,
                            row_extra,
                            error,
                        )
                    )
            container.close()
            local = Datastore.register_local_folder(
                ws, "bench_local", str(work / "local-store"), create_if_not_exists=True
            )
            for label, folder in (
                (f"1 file of {big_mb} MB", big),
                (f"{small_count:,} files", small),
            ):
                progress(f"datastores: local datastore vs cp -r, {label}")
                ours = _timed(local.upload, str(folder), f"tf-{folder.name}", True, False)
                copy_target = work / f"cp-{folder.name}"
                peer = _timed(
                    lambda f=folder, t=copy_target: subprocess.run(
                        ["cp", "-r", str(f), str(t)], check=True
                    )
                )
                ok = _digest(work / "local-store" / f"tf-{folder.name}") == _digest(copy_target)
                rows.append(
                    Row(
                        f"local datastore upload, {label}", ours, peer, "s", "peer: cp -r",
                        False, {}, None if ok else "the copies differ",
                    )
                )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
