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
from trainforge.server.settings import ServerSettings, default_home


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m trainforge.server")
    parser.add_argument("--home", type=Path, default=default_home())
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)

    home: Path = args.home.expanduser().resolve()
    make_private(home, None if args.database_url else home / "trainforge.db")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every kept-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    endpoint = f"http://{args.host}:{port}"
    settings = ServerSettings(
        home=home,
        database_url=args.database_url,
        token=secrets.token_urlsafe(32),
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
