"""Conda package specs as PyPI requirements: how a conda environment is built with pip tools.

Real notebooks list ordinary Python packages under conda (``scikit-learn``,
``numpy=1.19``); those install from PyPI, under their PyPI name where it differs and with
conda's version spec rewritten for pip. ``python`` and ``pip`` pins describe the
interpreter and the installer, not packages. Only a name PyPI cannot provide (a CUDA
toolkit, a C library, an R package) is refused, by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Conda names whose PyPI project has another name.
CONDA_TO_PYPI: dict[str, str] = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-xgboost-gpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "msgpack-python": "msgpack",
    "matplotlib-base": "matplotlib",
    "pytables": "tables",
    "python-graphviz": "graphviz",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "pyqt": "PyQt5",
    "ruamel_yaml": "ruamel.yaml",
    "tensorflow-mkl": "tensorflow",
    "python-kubernetes": "kubernetes",
}

# Conda packages that are not Python distributions: no PyPI project provides them.
CONDA_ONLY: frozenset[str] = frozenset(
    {
        "cudatoolkit",
        "cudatoolkit-dev",
        "cuda",
        "cuda-toolkit",
        "cuda-nvcc",
        "cuda-runtime",
        "cudnn",
        "nccl",
        "magma-cuda100",
        "magma-cuda101",
        "magma-cuda110",
        "mkl-include",
        "blas",
        "libblas",
        "libcblas",
        "liblapack",
        "openblas",
        "libopenblas",
        "libgcc",
        "libgcc-ng",
        "libstdcxx-ng",
        "libgfortran",
        "libgfortran-ng",
        "libgomp",
        "openmp",
        "llvm-openmp",
        "intel-openmp",
        "openmpi",
        "mpich",
        "impi_rt",
        "ffmpeg",
        "libjpeg-turbo",
        "jpeg",
        "libpng",
        "zlib",
        "openssl",
        "ca-certificates",
        "ncurses",
        "readline",
        "sqlite",
        "tk",
        "xz",
        "libffi",
        "ld_impl_linux-64",
        "git",
        "make",
        "nodejs",
        "gcc",
        "gxx",
        "gfortran",
        "r",
        "r-base",
        "r-essentials",
        "anaconda",
        "conda",
        "conda-build",
    }
)
CONDA_ONLY_PREFIXES = ("r-", "_", "cuda-")
CONDA_ONLY_SUFFIXES = ("_linux-64", "_osx-64", "_win-64")

# Conda packages that describe the tooling rather than a package to install.
INSTALLER_PACKAGES = frozenset({"pip"})

_SPEC = re.compile(r"^\s*(?:[\w.-]+::)?(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(?P<version>.*)$")
_OPERATOR = re.compile(r"^(==|>=|<=|!=|~=|>|<)")


@dataclass
class CondaTranslation:
    """Conda specs sorted into what pip installs and what it need not or cannot."""

    requirements: list[str] = field(default_factory=list)
    python_version: str | None = None
    ignored: list[str] = field(default_factory=list)
    conda_only: list[str] = field(default_factory=list)


def package_name(spec: str) -> str:
    """The lower-cased package name of a conda or pip spec (``numpy=1.19`` -> ``numpy``)."""
    match = _SPEC.match(spec)
    if match is None:
        raise ValueError(f"conda_packages: {spec!r} is not a package spec")
    return match.group("name").lower()


def is_conda_only(name: str) -> bool:
    name = name.lower()
    return (
        name in CONDA_ONLY
        or name.startswith(CONDA_ONLY_PREFIXES)
        or name.endswith(CONDA_ONLY_SUFFIXES)
    )


def pip_version(conda_version: str) -> str:
    """Conda's version spec for pip: ``=1.19`` is ``==1.19.*``, a build string is dropped."""
    version = conda_version.strip()
    if not version:
        return ""
    if version.startswith("==") or (_OPERATOR.match(version) and not version.startswith("=")):
        return version.replace(" ", "")
    # "=1.19", "=1.19.2=py38_0", "1.19.*", "1.19 py38_0": conda's fuzzy match.
    version = version.lstrip("=").strip()
    version = re.split(r"[=\s]", version, maxsplit=1)[0]
    if any(ch in version for ch in "<>!,|"):
        return version
    if version.endswith("*"):
        version = version.rstrip("*").rstrip(".")
    return f"=={version}.*" if version else ""


def translate(specs: list[str]) -> CondaTranslation:
    """Sort conda ``specs`` into PyPI requirements, the python pin, skipped tooling and
    conda-only names."""
    out = CondaTranslation()
    for spec in specs:
        match = _SPEC.match(str(spec))
        if match is None:
            raise ValueError(f"conda_packages: {spec!r} is not a package spec")
        name, version = match.group("name").lower(), match.group("version")
        if name == "python":
            out.python_version = version.lstrip("=<>~! ").split("=")[0].strip() or None
            continue
        if name in INSTALLER_PACKAGES:
            out.ignored.append(str(spec))
            continue
        if is_conda_only(name):
            out.conda_only.append(str(spec))
            continue
        out.requirements.append(CONDA_TO_PYPI.get(name, name) + pip_version(version))
    return out


def conda_only_error(names: list[str]) -> str:
    """The message for conda packages that no PyPI project provides."""
    return (
        f"conda_packages: {', '.join(names)} "
        f"{'is a conda-only package' if len(names) == 1 else 'are conda-only packages'} "
        "with no PyPI project, and trainforge builds environments from PyPI. Remove "
        f"{'it' if len(names) == 1 else 'them'} from the environment, or install "
        f"{'it' if len(names) == 1 else 'them'} on the nodes and set "
        "environment.python.user_managed_dependencies = True."
    )
