"""Ray's token authentication for the server's Ray driver.

The server is one long-lived Ray driver that may leave one Ray cluster and later join
another (a cluster made anew with ``ray up`` has a new token). Ray's token loader reads
the token once per process and caches it, so each connection starts by pointing Ray at
the cluster's token and dropping what it cached.
"""

from __future__ import annotations

import os


def use_cluster_token(token_path: str | None) -> None:
    """Make the next ``ray.init`` authenticate with ``token_path`` (a cluster's
    ``ray_auth_token_path`` setting), else with Ray's own lookup (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``), read afresh."""
    if token_path and "RAY_AUTH_TOKEN" not in os.environ:
        # Set before Ray is imported: Ray reads its auth settings from the environment.
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token_path)
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

    # As Ray's own reset_auth_token_state: the config first (it says whether tokens are
    # used), then the cached token.
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
