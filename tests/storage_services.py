"""Real storage services for tests: Azurite (Azure Blob, from npm) and moto's S3 server,
each on a free loopback port, started and stopped by pid."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from trainforge import processes

REPO = Path(__file__).resolve().parent.parent
# Azurite's well-known development account.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.blob_endpoint};"
        )


@dataclass(frozen=True)
class MotoS3:
    port: int
    region: str = "eu-west-1"
    key: str = "testing-key"
    secret: str = "testing-secret"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(what: str) -> None:
    message = f"{what} is not installed (make test installs it)"
    if os.environ.get("TRAINFORGE_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _azurite_binary() -> str | None:
    candidates = [
        os.environ.get("AZURITE_BIN"),
        shutil.which("azurite-blob"),
        str(REPO / ".ci/.npm/node_modules/.bin/azurite-blob"),
    ]
    return next((c for c in candidates if c and Path(c).exists()), None)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the service and any children it started, by pid."""
    try:
        processes.stop_tree(psutil.Process(process.pid), grace=10)
    except psutil.NoSuchProcess:
        pass
    process.wait()


@contextmanager
def azurite(data_dir: Path) -> Iterator[Azurite]:
    binary = _azurite_binary()
    if binary is None:
        _missing("Azurite (npm install azurite)")
    assert binary is not None
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data_dir),
            "--silent", "--skipApiVersionCheck", "--disableTelemetry",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/", process, "Azurite")
        yield Azurite(port)
    finally:
        _stop(process)


@contextmanager
def moto_s3() -> Iterator[MotoS3]:
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        _missing("moto_server (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/", process, "moto_server")
        yield MotoS3(port)
    finally:
        _stop(process)
