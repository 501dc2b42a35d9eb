"""The environment trainforge passes on, without what Ray put there.

Ray sets variables in its workers (``RAY_JOB_ID``, ``RAY_RAYLET_PID``, ``OMP_NUM_THREADS``
= the actor's CPUs, ``SPT_NOENV``, ``PYTHONBREAKPOINT`` = Ray's remote debugger) and in a
driver (``PYTHONBREAKPOINT``, and the token settings trainforge gives it). A node agent
started by a Ray actor, and anything the server starts after it joined a Ray cluster,
would hand those to training processes, which would then behave unlike on the local
backend (``OMP_NUM_THREADS`` in particular changes how fast a CPU job runs).
"""

from __future__ import annotations

from collections.abc import Mapping

# Set by Ray in every worker process it starts; meaningless outside one.
WORKER_ONLY = frozenset({"OMP_NUM_THREADS", "SPT_NOENV"})


def without_ray(environ: Mapping[str, str], in_ray_worker: bool = False) -> dict[str, str]:
    """A copy of ``environ`` without Ray's variables (and, ``in_ray_worker``, without those
    Ray sets in its workers)."""
    return {
        name: value
        for name, value in environ.items()
        if not name.startswith("RAY_")
        and not (name == "PYTHONBREAKPOINT" and value.startswith("ray."))
        and not (in_ray_worker and name in WORKER_ONLY)
    }
