"""``utilities.dataset``: files fetched once, and MNIST put into a blob container.

Without internet the MNIST files are taken from the current folder (or ``local_dir``)
when they are there, as a notebook that was given them would run.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from trainforge.batchai.storage import BlockBlobService

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/{0}"


def download_file(url: str, local_path: str) -> None:
    """Download ``url`` to ``local_path`` unless the file is there already."""
    if os.path.exists(local_path):
        print(f"File {local_path} already exists")
        return
    print(f"Downloading {url} ...")
    Path(local_path).parent.mkdir(parents=True, exist_ok=True)
    partial = f"{local_path}.partial"
    with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
        response.raise_for_status()
        with open(partial, "wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    os.replace(partial, local_path)
    print("Done")


def download_and_upload_mnist_dataset_to_blob(
    blob_service: BlockBlobService,
    azure_blob_container_name: str,
    mnist_dataset_directory: str,
    local_dir: str = ".",
) -> None:
    """Put the four MNIST files (idx.gz) under ``mnist_dataset_directory`` in the container,
    downloading those not found in ``local_dir``."""
    blob_service.create_container(azure_blob_container_name, fail_on_exist=False)
    for name in MNIST_FILES:
        local = os.path.join(local_dir, name)
        download_file(MNIST_URL.format(name), local)
        blob_service.create_blob_from_path(
            azure_blob_container_name, f"{mnist_dataset_directory}/{name}", local
        )
    print("Done")
