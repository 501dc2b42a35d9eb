"""Rendezvous ports for gangs: free when handed out, and not handed out twice in a row."""

from __future__ import annotations

import socket
from collections import deque


class PortPicker:
    """Free ports on ``host``; the recent ones are remembered because a port handed to a
    gang stays free until its rank 0 binds it, and another gang must not get it meanwhile."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._recent: deque[int] = deque(maxlen=256)

    def pick(self) -> int:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((self.host, 0))
                port = int(probe.getsockname()[1])
            if port not in self._recent:
                self._recent.append(port)
                return port
