"""One-time codes that sign a browser in to the studio (``trainforge studio``'s link).

A code stands for the token of whoever asked for it, is good once and for a short while,
and lives in this server process only: a link printed before a restart signs nobody in.
"""

from __future__ import annotations

import secrets
import threading
import time

CODE_TTL_S = 300.0


class LoginCodes:
    """Codes not used yet, with the token each stands for and when it expires."""

    def __init__(self, ttl_s: float = CODE_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._codes: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def issue(self, token: str) -> str:
        now = time.monotonic()
        code = secrets.token_urlsafe(32)
        with self._lock:
            # Expired codes go as new ones come: the table never grows past what is live.
            self._codes = {c: kept for c, kept in self._codes.items() if kept[0] > now}
            self._codes[code] = (now + self.ttl_s, token)
        return code

    def redeem(self, code: str) -> str | None:
        """The token ``code`` stands for, once; None when unknown, used or expired."""
        with self._lock:
            found = self._codes.pop(code, None)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]
