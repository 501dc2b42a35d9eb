"""Open a datastore's filesystem from its :class:`StorageAccess`: one place that knows
which fsspec implementation serves which kind of store."""

from __future__ import annotations

import logging
import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

import fsspec

from trainforge.schemas.datastores import StorageAccess
from trainforge.storage.paths import UnsafePathError, safe_relative_path

log = logging.getLogger("trainforge.storage")
_HOST_PORT = re.compile(r"^[\w.-]+:\d+$")


def blob_service_url(
    account_name: str, protocol: str | None, endpoint: str | None, service: str = "blob"
) -> str:
    """The account's service URL as the SDK builds it (``https://<account>.blob.<endpoint>``),
    or path-style for an emulator given as a URL or host:port (Azurite:
    ``http://127.0.0.1:10000/devstoreaccount1``)."""
    endpoint = endpoint or "core.windows.net"
    if "://" in endpoint:
        url = endpoint.rstrip("/")
        return url if urlsplit(url).path.strip("/") else f"{url}/{account_name}"
    if _HOST_PORT.match(endpoint) or endpoint.startswith(("127.", "localhost")):
        return f"{protocol or 'http'}://{endpoint}/{account_name}"
    return f"{protocol or 'https'}://{account_name}.{service}.{endpoint}"


def open_filesystem(access: StorageAccess) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem of a datastore (adlfs for Blob, s3fs for S3, local otherwise)."""
    options: dict[str, Any] = dict(access.storage_options)
    # A fresh instance per access: cached instances would outlive a refreshed SAS.
    return fsspec.filesystem(access.protocol, skip_instance_cache=True, **options)


def datastore_path(path: str | None, field: str = "path_on_datastore") -> str:
    """A user's path on a datastore, normalized; '' is the datastore's root.

    Stray spaces around the path (the migration guide writes ``' mnist_dataset/mnist.npz'``)
    are dropped with a warning; absolute paths and '..' are refused.
    """
    if path is None:
        return ""
    stripped = path.strip()
    if stripped != path:
        log.warning("%s: %r has spaces around it; using %r", field, path, stripped)
    stripped = stripped.replace("\\", "/")
    if stripped in ("", ".", "./", "/"):
        return ""
    if stripped.startswith("./"):
        stripped = stripped[2:]
    if stripped.startswith("/"):
        raise UnsafePathError(
            f"{field}: {path!r} is absolute; give a path relative to the datastore's root"
        )
    return safe_relative_path(stripped.rstrip("/"), field)


def join(root: str, *parts: str) -> str:
    """``root/part/...`` with empty parts dropped."""
    kept = [root.rstrip("/")] if root else []
    kept += [p.strip("/") for p in parts if p and p.strip("/")]
    return posixpath.join(*kept) if kept else ""


__all__ = ["UnsafePathError", "blob_service_url", "datastore_path", "join", "open_filesystem"]
