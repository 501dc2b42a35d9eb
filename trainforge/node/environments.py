"""The interpreter of a run: the submitting one, a user-managed one, or a cached virtualenv.

An environment that asks for packages is built once per workspace into
``<work root>/workspaces/<ws>/envs/<hash>``, where the hash covers what is installed (the
requirements, pip options, the node's Python and trainforge's own runtime dependencies),
so every later run and every node of this home in that workspace reuses it. Another
workspace builds its own: a run can write into the environment it runs in, and what one
workspace's run leaves there must never run in another workspace's. Builds use uv (``uv venv`` + ``uv pip install``) and fall back to
``python -m venv`` + pip when uv is not installed. uv does not read pip's configuration,
so pip's index, find-links and constraint settings are passed to it.

How concurrent builds of one hash build it once: a file lock per hash; the first
holder builds, the others wait and then find it ready. A finished environment is
published by writing its ``.trainforge-ready`` marker (atomically, with ``os.replace``)
as the last step; a folder without the marker is a build that died and is rebuilt. The
environment is built in its final place rather than renamed into it because a virtualenv
is not relocatable: pip writes its absolute path into every console script.

How the script still imports trainforge (``Run.get_context()``), as Azure ML adds its
runtime to every environment: the venv does not see the node's site-packages (that would
let the node's packages satisfy or shadow the environment's, so the same hash could mean
different environments). Instead it gets trainforge's runtime dependencies pinned to the
versions the node runs (uv links them from its cache), and a ``.pth`` file that puts a
folder holding only a ``trainforge`` link to the node's package on ``sys.path``. So the
script runs the node's trainforge code (the same REST contract as the control plane,
never a stale copy) and nothing else of the node leaks in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO

from filelock import FileLock, Timeout
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import trainforge
from trainforge.node.settings import NodeSettings
from trainforge.node.work_root import envs_root
from trainforge.schemas.conda import conda_only_error, translate
from trainforge.schemas.runs import EnvironmentSpec

BUILD_LOG = "azureml-logs/20_image_build_log.txt"
READY_MARKER = ".trainforge-ready"
REQUIREMENTS_FILE = "trainforge-requirements.txt"
RUNTIME_FOLDER = "trainforge-runtime"
# Bump when the layout of a built environment changes, so that old ones are not reused.
LAYOUT_VERSION = 1
INSTALLER_SETTING = NodeSettings.variable(
    "env_installer"
)  # "uv" | "pip"; default: uv when installed
ERROR_LINES = 40
# trainforge's dependencies that a run's script never needs.
NOT_RUNTIME = frozenset({"uv"})

Progress = Callable[[], None]


class EnvironmentBuildError(Exception):
    """The environment could not be built; the message holds the installer's error."""


@dataclass(frozen=True)
class BuildPlan:
    """What a built environment holds; ``key`` names its folder."""

    requirements: list[str]
    pip_options: list[str]
    runtime: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        content = {
            "layout": LAYOUT_VERSION,
            # The venv links to this interpreter and to this trainforge package.
            "python": [sys.implementation.name, *map(str, sys.version_info[:3]), sys.base_prefix],
            "trainforge": str(Path(trainforge.__file__).resolve().parent),
            "requirements": sorted(self.requirements),
            "pip_options": self.pip_options,
            "runtime": sorted(self.runtime),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


def build_log_name(node_rank: int) -> str:
    """Each node of a run logs its own build."""
    return BUILD_LOG if node_rank == 0 else BUILD_LOG.replace(".txt", f"_{node_rank}.txt")


def plan(spec: EnvironmentSpec) -> BuildPlan | None:
    """The environment to build for ``spec``; None when it asks for no packages."""
    python = spec.python
    try:
        conda = translate(python.conda_packages)
    except ValueError as exc:
        raise EnvironmentBuildError(str(exc)) from None
    if conda.conda_only:
        raise EnvironmentBuildError(conda_only_error(conda.conda_only))
    requirements = list(dict.fromkeys([*python.pip_packages, *conda.requirements]))
    if not requirements:
        return None
    notes = [
        f"conda package {item} is the installer itself: not installed" for item in conda.ignored
    ]
    wanted = python.python_version or conda.python_version
    running = ".".join(map(str, sys.version_info[:3]))
    if wanted and not running.startswith(wanted.rstrip(".*")):
        notes.append(
            f"python={wanted} is asked for; environments are built with the node's Python {running}"
        )
    return BuildPlan(requirements, list(python.pip_options), runtime_requirements(), notes)


def runtime_requirements() -> list[str]:
    """trainforge's own dependencies and theirs, pinned to the versions this node runs."""
    try:
        roots = metadata.requires("trainforge") or []
    except metadata.PackageNotFoundError:
        return []
    pins: dict[str, str] = {}
    pending = list(roots)
    while pending:
        try:
            requirement = Requirement(pending.pop())
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in pins or name in NOT_RUNTIME:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pins[name] = f"{name}=={dist.version}"
        pending.extend(dist.requires or [])
    return sorted(pins.values())


# -- index settings ----------------------------------------------------------------------------
LIST_SETTINGS = ("find-links", "extra-index-url", "trusted-host", "constraint")


def pip_settings() -> dict[str, list[str]]:
    """pip's index settings as its configuration and PIP_* variables give them."""
    settings: dict[str, list[str]] = {}
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        ).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    ranked: dict[str, tuple[int, str]] = {}
    order = {"global": 0, "install": 1, ":env:": 2}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        scope, _, name = key.rpartition(".")
        if scope not in order or not value:
            continue
        value = value.strip().strip("'\"")
        if name not in ranked or order[scope] >= ranked[name][0]:
            ranked[name] = (order[scope], value)
    for name, (_, value) in ranked.items():
        settings[name] = value.split()
    for name in ("index-url", "no-index", *LIST_SETTINGS):
        variable = "PIP_" + name.upper().replace("-", "_")
        if os.environ.get(variable) and name not in settings:
            settings[name] = os.environ[variable].split()
    return settings


def uv_index_options(settings: dict[str, list[str]], user_options: list[str]) -> list[str]:
    """uv's flags for pip's settings and the environment's own pip options."""
    options: list[str] = []
    for value in settings.get("index-url", [])[:1]:
        options += ["--index-url", value]
    for value in settings.get("extra-index-url", []):
        options += ["--extra-index-url", value]
    for value in settings.get("find-links", []):
        options += ["--find-links", value]
    for value in settings.get("constraint", []):
        options += ["--constraint", value]
    for value in settings.get("trusted-host", []):
        options += ["--allow-insecure-host", value]
    if settings.get("no-index", ["false"])[0].lower() in ("1", "true", "yes", "on"):
        options.append("--no-index")
    for option in user_options:
        flag, *rest = shlex.split(option)
        flag = {"-i": "--index-url", "-f": "--find-links"}.get(flag, flag)
        if flag == "--pre":
            options.append("--prerelease=allow")
        else:
            options += [flag, *rest]
    # pip considers every index for the best version; uv's default stops at the first
    # index that knows a package, which would hide pip's extra indexes.
    options += ["--index-strategy", "unsafe-best-match"]
    return options


def installer() -> str | None:
    """The uv binary, or None to build with pip."""
    if NodeSettings().env_installer == "pip":
        return None
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


# -- building -----------------------------------------------------------------------------------
class EnvironmentCache:
    """The built environments under ``root`` (``<work root>/workspaces/<ws>/envs``, see
    ``work_root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def python(self, key: str) -> Path:
        return self.root / key / "bin" / "python"

    def is_ready(self, key: str) -> bool:
        return (self.root / key / READY_MARKER).is_file()

    def ensure(self, build: BuildPlan, log_path: Path, progress: Progress | None = None) -> Path:
        """The python of ``build``'s environment, built first if no run built it before."""
        key = build.key
        target = self.root / key
        with open(log_path, "a") as log:
            for note in build.notes:
                log.write(f"Note: {note}\n")
            if self.is_ready(key):
                log.write(f"Environment {key}: cache hit, reusing {target}\n")
                return self.python(key)
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.root / f"{key}.lock"))
            waited = False
            while True:
                try:
                    lock.acquire(timeout=0.5)
                    break
                except Timeout:
                    if not waited:
                        log.write(f"Environment {key}: another run is building it; waiting\n")
                        log.flush()
                        waited = True
                    if progress:
                        progress()
            try:
                if self.is_ready(key):
                    log.write(
                        f"Environment {key}: cache hit (built while waiting), reusing {target}\n"
                    )
                    return self.python(key)
                if target.exists():
                    log.write(f"Environment {key}: removing an unfinished build\n")
                    shutil.rmtree(target)
                started = time.monotonic()
                uv = installer()
                log.write(
                    f"Environment {key}: building into {target} with "
                    f"{'uv' if uv else 'pip (uv is not installed)'}\n"
                    f"Requirements: {', '.join(build.requirements)}\n"
                )
                log.flush()
                try:
                    self._build(build, target, uv, log, progress)
                except EnvironmentBuildError:
                    shutil.rmtree(target, ignore_errors=True)
                    raise
                seconds = time.monotonic() - started
                ready = target / f"{READY_MARKER}.tmp"
                ready.write_text(
                    json.dumps(
                        {
                            "requirements": build.requirements,
                            "pip_options": build.pip_options,
                            "installer": "uv" if uv else "pip",
                            "seconds": round(seconds, 3),
                            "built": time.time(),
                        },
                        indent=2,
                    )
                )
                os.replace(ready, target / READY_MARKER)
                log.write(f"Environment {key}: built in {seconds:.1f} s\n")
                return self.python(key)
            finally:
                lock.release()

    def _build(
        self,
        build: BuildPlan,
        target: Path,
        uv: str | None,
        log: IO[str],
        progress: Progress | None,
    ) -> None:
        python = target / "bin" / "python"
        requirements = target / REQUIREMENTS_FILE
        if uv:
            # Reading pip's settings starts an interpreter: let it overlap the venv creation.
            with ThreadPoolExecutor(1) as pool:
                reading = pool.submit(pip_settings)
                _command(
                    [uv, "venv", "--no-progress", "--python", sys.executable, str(target)],
                    log,
                    progress,
                )
                settings = reading.result()
            requirements.write_text("\n".join([*build.requirements, *build.runtime]) + "\n")
            options = uv_index_options(settings, build.pip_options)
            # uv wraps its messages to the terminal width (80 without one); the run's error
            # message reads better with each of the installer's lines whole.
            env = {**os.environ, "COLUMNS": "400"}
            cert = settings.get("cert")
            if cert:
                env.setdefault("SSL_CERT_FILE", cert[0])
            _command(
                [
                    uv,
                    "pip",
                    "install",
                    "--no-progress",
                    "--python",
                    str(python),
                    *options,
                    "-r",
                    str(requirements),
                ],
                log,
                progress,
                env,
            )
        else:
            _command([sys.executable, "-m", "venv", str(target)], log, progress)
            requirements.write_text(
                "\n".join([*build.pip_options, *build.requirements, *build.runtime]) + "\n"
            )
            _command(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "-r",
                    str(requirements),
                ],
                log,
                progress,
            )
        self._link_trainforge(target)
        # Checks the link; the dependencies are pinned to the node's, so they import too.
        _command([str(python), "-c", "import trainforge"], log, progress)

    @staticmethod
    def _link_trainforge(target: Path) -> None:
        runtime = target / RUNTIME_FOLDER
        runtime.mkdir()
        (runtime / "trainforge").symlink_to(Path(trainforge.__file__).resolve().parent)
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        site_packages = target / "lib" / version / "site-packages"
        (site_packages / "_trainforge_runtime.pth").write_text(str(runtime.resolve()) + "\n")


def _command(
    command: list[str],
    log: IO[str],
    progress: Progress | None,
    env: dict[str, str] | None = None,
) -> None:
    """Run one build step with its output in the build log; its error text if it fails."""
    log.write(f"$ {shlex.join(command)}\n")
    log.flush()
    start = log.tell()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    while True:
        try:
            code = process.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if progress:
                progress()
    log.flush()
    if code != 0:
        with open(log.name, errors="replace") as reread:
            reread.seek(start)
            output = reread.read().strip().splitlines()
        raise EnvironmentBuildError(
            f"Building the environment failed: `{shlex.join(command[:3])} ...` exited with "
            f"status {code}:\n" + "\n".join(output[-ERROR_LINES:])
        )


# The node's own search path. A built environment's is its site-packages and the runtime
# link only: the node's would let its packages shadow the environment's, and it would hide
# an import that works only through it (a node runs without one).
NODE_PATH_VARIABLES = ("PYTHONPATH", "PYTHONHOME")


def is_built(interpreter: str, home: Path, workspace_name: str) -> bool:
    """Whether ``interpreter`` is a built environment's (``<envs>/<hash>/bin/python``)."""
    return Path(interpreter).parent.parent.parent == envs_root(home, workspace_name)


def node_variables_for(
    interpreter: str, env: dict[str, str], home: Path, workspace_name: str
) -> dict[str, str]:
    """``env`` (the node's variables) for processes of ``interpreter``: without the node's
    search path when it is a built environment's."""
    if not is_built(interpreter, home, workspace_name):
        return env
    return {k: v for k, v in env.items() if k not in NODE_PATH_VARIABLES}


def interpreter_for(
    spec: EnvironmentSpec,
    home: Path,
    workspace_name: str,
    log_path: Path,
    progress: Progress | None = None,
) -> str:
    """The interpreter a run's processes start with on this node."""
    python = spec.python
    if python.user_managed_dependencies:
        if python.interpreter_path not in ("python", "python3"):
            found = shutil.which(python.interpreter_path)
            if found is None:
                raise EnvironmentBuildError(
                    f"environment.python.interpreter_path: {python.interpreter_path} was not found on the node"
                )
            return found
        return python.submitting_interpreter or sys.executable
    build = plan(spec)
    if build is None:
        return python.submitting_interpreter or sys.executable
    cache = EnvironmentCache(envs_root(home, workspace_name))
    return str(cache.ensure(build, log_path, progress))
