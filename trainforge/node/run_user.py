"""The user a run's processes (and a scoring service's) run as: when the node runs as
root, an unprivileged one.

``TRAINFORGE_RUN_USER`` names it (default ``nobody``); an empty value keeps runs as the
node's own user (for a root install whose interpreter the unprivileged user cannot
execute, e.g. one under ``/root``). The run's own folder is handed to that user and the
folders above it are made traversable (0711, not listable); the server's home stays
0700, so a script cannot read the admin token, the keys or the database.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import trainforge
from trainforge.node.settings import DEFAULT_RUN_USER, NodeSettings

RUN_USER_VARIABLE = NodeSettings.variable("run_user")
TRAVERSE_ONLY = 0o711


class RunUserError(Exception):
    """The configured run user does not exist."""


@dataclass(frozen=True)
class RunUser:
    name: str
    uid: int
    gid: int


def run_user(environ: Mapping[str, str] | None = None) -> RunUser | None:
    """Whom to run as, or None to run as this process's user (not root, or turned off).
    ``environ``: the variables to read it from (default: NodeSettings, this process's)."""
    if os.geteuid() != 0:
        return None
    if environ is None:
        name = NodeSettings().run_user
    else:
        name = environ.get(RUN_USER_VARIABLE, DEFAULT_RUN_USER)
    if not name or name == "root":
        return None
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        raise RunUserError(
            f"{RUN_USER_VARIABLE}={name}: no such user on this node (create it, e.g. "
            f"`useradd --system trainforge-run`, or set {RUN_USER_VARIABLE}= to run as root)"
        ) from None
    return RunUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def hand_over(user: RunUser, root: Path, folder: Path) -> None:
    """Give ``folder`` (and all in it) to ``user``; let it traverse from ``root`` down."""
    current = folder
    while current != root and root in current.parents:
        current = current.parent
        current.chmod(TRAVERSE_ONLY)
    root.chmod(TRAVERSE_ONLY)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def _test(user: RunUser, check: str, path: str) -> bool:
    """``test <check> <path>`` as ``user``: what it may do there (every folder on the way
    included)."""
    probe = subprocess.run(
        ["test", check, path],
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        cwd="/",
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return probe.returncode == 0


def can_execute(user: RunUser, program: str) -> bool:
    """Whether ``user`` may execute ``program`` (every folder on its way included)."""
    return _test(user, "-x", program)


def runtime_package() -> Path:
    """The trainforge package this node runs: what a run's or a service's processes import
    (``Run.get_context()``, the scoring server), through the node's interpreter or the
    runtime link of a built environment."""
    return Path(trainforge.__file__).resolve().parent


def _cannot(user: RunUser, interpreter: str) -> str | None:
    """What ``user`` lacks to run trainforge's processes with ``interpreter``: executing
    it, or reading the node's trainforge package (an editable install under a folder only
    root may enter, such as /root, fails its imports with ModuleNotFoundError)."""
    if not can_execute(user, interpreter):
        return f"execute {interpreter}"
    package = runtime_package()
    if not _test(user, "-r", str(package / "__init__.py")):
        return f"read trainforge's package {package}"
    return None


def user_for(
    interpreter: str, environ: Mapping[str, str], what: str = "run"
) -> tuple[RunUser | None, str | None]:
    """Whom the processes that ``interpreter`` starts run as (None: this process's user),
    and a warning when the default user gave way. The default user (``environ`` does not
    name one) gives way where it cannot execute the interpreter or read the node's
    trainforge: a one-person install as root (Python or the source under /root) still
    runs, and says what it gave up. A user the operator chose never does: RunUserError
    says why (``what``: "run" or "service", in the messages)."""
    user = run_user(environ)
    if user is None:
        return None, None
    lacking = _cannot(user, interpreter)
    if lacking is None:
        return user, None
    if RUN_USER_VARIABLE not in environ:
        return None, (
            f"Warning: the run user {user.name} cannot {lacking}; the {what} runs as the "
            f"node's own user. Set {RUN_USER_VARIABLE} to an unprivileged user who can (a "
            f"script then cannot read the server's files), or to empty to silence this."
        )
    raise RunUserError(
        f"The run user {user.name} cannot {lacking}, which the {what}'s processes need: "
        f"make it (and the folders above it) readable by that user, or set "
        f"{RUN_USER_VARIABLE}= to run as the node's own user"
    )


def become(user: RunUser) -> None:
    """Drop to ``user`` for good (in a child, just before it executes the run's command)."""
    os.setgroups([])
    os.setgid(user.gid)
    os.setuid(user.uid)
