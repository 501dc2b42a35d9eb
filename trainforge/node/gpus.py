"""How many GPUs this machine has, as ``nvidia-smi -L`` lists them."""

from __future__ import annotations

import functools
import shutil
import subprocess


@functools.cache
def host_gpus() -> int:
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))
