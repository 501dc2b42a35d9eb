"""A run's files with each attempt's logs kept apart.

Outputs and uploads are the run's, whatever attempt wrote them (a requeued attempt
resumes from its checkpoints). Logs are the attempt's: attempt 1 writes them among the
run's files, a later attempt ``k`` in a folder of its own, and a read without an attempt
gets the newest attempt's copy of each log.
"""

from __future__ import annotations

from trainforge.storage.artifacts import ArtifactStore


class RunFiles:
    def __init__(self, files: ArtifactStore, attempts_root: str, attempt: int) -> None:
        self.files = files
        self.attempts_root = attempts_root.rstrip("/")
        self.attempt = attempt  # the run's current attempt

    def of_attempt(self, attempt: int) -> ArtifactStore:
        """Where attempt ``attempt`` keeps its logs."""
        if attempt <= 1:
            return self.files
        return ArtifactStore(f"{self.attempts_root}/{attempt}")

    def _later(self) -> list[tuple[int, ArtifactStore]]:
        """The stores of attempts after the first, newest first, that exist."""
        found = []
        for attempt in range(self.attempt, 1, -1):
            root = f"{self.attempts_root}/{attempt}"
            if self.files.fs.isdir(root):
                found.append((attempt, ArtifactStore(root)))
        return found

    def newest(self, name: str) -> tuple[ArtifactStore, int]:
        """The store holding the newest attempt's copy of ``name``, and that attempt."""
        for attempt, store in self._later():
            if store.exists(name):
                return store, attempt
        return self.files, 1

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        """(name, size) of every file, each log as its newest attempt wrote it."""
        merged = dict(self.files.list(prefix))
        for _attempt, store in reversed(self._later()):
            merged.update(store.list(prefix))
        return sorted(merged.items())
