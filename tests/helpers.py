"""Wait helpers shared by the tests: poll observable state, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """``condition()`` once it is truthy; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# Script lines that try to read the server's own files from a run (the home is argv[1])
# and leave what happened in ``seen`` and the run's outputs/seen.json.
HOME_PROBE = """
for name in ("server.json", "signing.key", "secrets.key", "trainforge.db"):
    try:
        with open(os.path.join(sys.argv[1], name), "rb") as f:
            seen[name] = len(f.read())
    except OSError as exc:
        seen[name] = type(exc).__name__
os.makedirs("outputs", exist_ok=True)
with open("outputs/seen.json", "w") as f:
    json.dump(seen, f)
"""
