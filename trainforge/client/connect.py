"""``trainforge.init()`` / ``trainforge.shutdown()``: the process's session, set up explicitly.

Without them nothing changes: the first SDK call connects lazily (to TRAINFORGE_ENDPOINT,
else to the local control plane of TRAINFORGE_HOME, started if none runs), and what it
started keeps running. ``init`` does the same on purpose, at a place the caller chooses,
with the address, home and token given as arguments; ``shutdown`` undoes what ``init`` did.
"""

from __future__ import annotations

from pathlib import Path

from trainforge.client import local_server, session
from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.client.settings import ClientSettings
from trainforge.schemas.server_state import Connection, read_state
from trainforge.schemas.settings import default_home


def init(
    address: str | None = None, home: str | Path | None = None, token: str | None = None
) -> Connection:
    """Connect this process to a trainforge control plane and make it the default session.

    ``address`` (``http://host:port``): a running server, such as a team server; its
    ``token`` is the argument, else TRAINFORGE_TOKEN, else the one in ``server.json`` of
    ``home`` when that home's server listens at ``address``. With ``home``: the local
    control plane of that home, attached to when it runs, else started detached on
    loopback. With neither, what the SDK would pick on its own: TRAINFORGE_ENDPOINT (with
    TRAINFORGE_TOKEN) when set, else the local control plane of TRAINFORGE_HOME (default
    ``~/.trainforge``).

    The server is asked for its workspaces once, so a wrong address or token fails here
    (an unreachable one after TRAINFORGE_CLIENT_RETRY_S). Calling init again first does
    what ``shutdown()`` does. Returns what it connected to.
    """
    shutdown()
    settings = ClientSettings()
    where = Path(home).expanduser().resolve() if home is not None else None
    started = False
    if address is None and home is None and settings.endpoint and settings.token:
        address = settings.endpoint
    if address is not None:
        endpoint = Endpoint(address, token or settings.token or _token_of(address, where))
        where = None
    elif token is not None:
        raise ValueError("token: give it with address= (a local home's server has its own)")
    else:
        where = where or settings.home.expanduser().resolve()
        _, started = local_server.attach_or_start(where)
        endpoint = session.local_endpoint(where)
    client = TrainforgeClient(endpoint, retry_s=settings.client_retry_s)
    try:
        client.get("/workspaces")
    except BaseException:
        client.close()
        if started and where is not None:
            local_server.stop_server(where)
        raise
    new = session.Session(client)
    new.started_home = where if started else None
    session.set_default(new)
    return Connection(address=client.address, home=where, started_server=started)


def _token_of(address: str, home: Path | None) -> str:
    state = read_state(home or default_home().resolve())
    if state is not None and state.address.rstrip("/") == address.rstrip("/"):
        return state.token
    raise ValueError(
        f"token: none given for {address} (pass token=, or set TRAINFORGE_TOKEN; a local "
        "server's admin token is in server.json of its home)"
    )


def shutdown() -> None:
    """Close the default session and the sessions of this process's runs, storing every
    metric logged so far, and stop the local control plane if ``init()`` started it.

    A stopped control plane loses nothing: submitted runs go on and report when it is
    back (the next SDK call, or ``trainforge up``, starts it again). A server that init
    found running, or a remote one, is left running. Without a session this does
    nothing; after it, SDK calls connect lazily again.
    """
    old = session.set_default(None)
    for closing in [*([old] if old is not None else []), *session.take_run_sessions()]:
        closing.close()
    if old is not None and old.started_home is not None:
        local_server.stop_server(old.started_home)
