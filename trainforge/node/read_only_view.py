"""Local datastores "mounted" read-only without copying.

A run's process starts in a private mount namespace (``unshare --mount``, with a user
namespace when not root) in which each local datastore folder is bind-mounted, read-only,
at a mount point under the node folder. The bind exists only for that process and its
children and disappears with them, so nothing is left mounted if a run is killed; the
datastore folder itself is never copied. Where the kernel refuses namespaces, runs read
the folder in place and the job-preparation log says writes are not prevented.

``python -m trainforge.node.read_only_view BINDS_JSON -- COMMAND...`` is the wrapper: it
makes the binds and execs COMMAND in the same process (same pid, same signals).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from trainforge.node.run_user import RunUser, become


@functools.cache
def _unshare_prefix() -> tuple[str, ...] | None:
    """The unshare command that works here (as root, or with a user namespace), or None."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None:
        return None
    base = (unshare, "--mount", "--propagation", "private")
    for prefix in (base, (*base, "--map-root-user")):
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


def available() -> bool:
    return _unshare_prefix() is not None


def wrap(command: list[str], binds: dict[Path, Path], user: RunUser | None = None) -> list[str]:
    """``command`` started inside a namespace where each source folder is mounted read-only
    at its mount point (``binds``: source -> mount point), run as ``user`` once mounted."""
    prefix = _unshare_prefix()
    if not binds or prefix is None:
        return command
    spec = json.dumps(
        {
            "binds": {str(mount): str(source) for source, mount in binds.items()},
            "user": [user.name, user.uid, user.gid] if user else None,
        }
    )
    return [*prefix, sys.executable, "-m", "trainforge.node.read_only_view", spec, "--", *command]


def main(argv: list[str]) -> int:
    spec, separator, *command = argv
    if separator != "--" or not command:
        print("usage: read_only_view BINDS_JSON -- COMMAND...", file=sys.stderr)
        return 2
    plan = json.loads(spec)
    for mount, source in plan["binds"].items():
        for args in (["--bind", source, mount], ["-o", "remount,bind,ro", mount]):
            done = subprocess.run(["mount", *args], capture_output=True, text=True)
            if done.returncode != 0:
                print(
                    f"trainforge: cannot mount {source} read-only: {done.stderr}", file=sys.stderr
                )
                return 1
    if plan["user"]:
        become(RunUser(*plan["user"]))
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
