"""trainforge: the Azure Machine Learning SDK v1 workflow on your own machines.

User code written for ``azureml`` runs after one change: ``azureml`` becomes
``trainforge`` in the imports. ``trainforge.init()`` and ``trainforge.shutdown()``
optionally say, in the spirit of ``ray.init()``, which control plane a process uses.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainforge.schemas.server_state import Connection

# Every layer imports this package (for __version__), so it names the client only when
# init or shutdown is called: an import statement here would make each layer depend on
# the client. (With the version in a bottom-layer module, a plain import would do.)
_CONNECT = "trainforge.client.connect"

__version__ = "0.1.0"
__all__ = ["__version__", "init", "shutdown"]


def init(
    address: str | None = None, home: str | Path | None = None, token: str | None = None
) -> Connection:
    """Connect this process to a trainforge control plane and make it the default session.

    ``address``: a running server (``http://host:port``, e.g. a team server), with its
    ``token`` (default: TRAINFORGE_TOKEN, else the token of ``home``'s server when it
    listens there). ``home``: the local control plane of that home, started detached if
    none runs. Neither: as the SDK picks on its own, TRAINFORGE_ENDPOINT (with
    TRAINFORGE_TOKEN) when set, else the local control plane of TRAINFORGE_HOME (default
    ``~/.trainforge``).

    Optional: without init, the first SDK call connects the same way on its own. A second
    init first does what ``shutdown()`` does. Returns the address, the home, and whether
    init started the server.
    """
    connection: Connection = importlib.import_module(_CONNECT).init(address, home, token)
    return connection


def shutdown() -> None:
    """Close the default session, storing every metric logged so far, and stop the local
    control plane if ``init()`` started it (submitted runs go on and report when it is
    back). A server init found running, or a remote one, keeps running."""
    importlib.import_module(_CONNECT).shutdown()
