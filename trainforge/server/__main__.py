"""``python -m trainforge.server``: serve the control plane on loopback.

Writes ``server.json`` (address, pid, token; mode 0600) under TRAINFORGE_HOME so the
SDK and CLI can find it, and removes it on a clean stop.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from trainforge.schemas.server_state import ServerState, remove_state, write_state
from trainforge.server.app import create_app
from trainforge.server.home import make_private, secrets_key, signing_key
from trainforge.server.settings import FROM_ENVIRONMENT, ControlPlaneSettings, ServerSettings

DEFAULT_PORT = 8765


def admin_token(home: Path) -> str:
    """The home's admin token, made once and kept (0600): studio logins and links a user
    saved stay valid when the server restarts."""
    path = home / "server.token"
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server of this home made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def bind(host: str, port: int | None, home: Path, default_port: int | None = None) -> socket.socket:
    """A listening socket on ``port``; without one, on the port this home used last (else
    ``default_port``, else DEFAULT_PORT), so studio links and the browser's login survive restarts. When that
    port is taken, any free port (and that one is remembered)."""
    remembered = home / "server.port"
    wanted = port
    if wanted is None:
        try:
            wanted = int(remembered.read_text())
        except (OSError, ValueError):
            wanted = DEFAULT_PORT if default_port is None else default_port
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every kept-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, wanted))
    except OSError:
        if port is not None:
            raise
        logging.getLogger("trainforge.server").warning(
            "port %s is taken; serving on a free port instead", wanted
        )
        sock.bind((host, 0))
    if port != 0:
        remembered.write_text(str(sock.getsockname()[1]))
    return sock


def main(argv: list[str] | None = None) -> None:
    configured = ControlPlaneSettings()
    parser = argparse.ArgumentParser(prog="python -m trainforge.server")
    parser.add_argument("--home", type=Path, default=configured.home)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)

    home: Path = args.home.expanduser().resolve()
    make_private(home, None if args.database_url else home / "trainforge.db")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    sock = bind(args.host, args.port, home, configured.port)
    port = sock.getsockname()[1]
    endpoint = f"http://{args.host}:{port}"
    settings = ServerSettings(
        **configured.model_dump(include=set(FROM_ENVIRONMENT)),
        home=home,
        database_url=args.database_url,
        token=admin_token(home),
        signing_key=signing_key(home),
        secrets_key=secrets_key(home),
        endpoint=endpoint,
    )
    app = create_app(settings)
    state = ServerState(address=endpoint, pid=os.getpid(), token=settings.token)
    write_state(home, state)
    # uvicorn re-raises SIGTERM once it has shut down; exiting through SystemExit lets
    # the finally below remove server.json.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        server.run(sockets=[sock])
    finally:
        remove_state(home, state.pid)


if __name__ == "__main__":
    main()
