"""The SDK's offline run: what ``Run.get_context()`` returns outside a submitted run.

It prints what it is asked to track and never fails, so a training script runs the
same with ``python train.py`` as it does when submitted.
"""

from __future__ import annotations

import uuid
from typing import Any

from trainforge.core._tags import sanitize


class OfflineRun:
    """A run with no service behind it: logging prints, completing does nothing."""

    def __init__(self, run_id: str | None = None) -> None:
        self.id = run_id or f"OfflineRun_{uuid.uuid4()}"
        self.status = "Running"
        self.tags: dict[str, Any] = {}
        self.properties: dict[str, Any] = {}

    def _print(self, kind: str, name: str, value: Any) -> None:
        print(f"Attempted to log {kind} metric {name}:\n{value}")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        self._print("scalar", name, value)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        self._print("list", name, value)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        self._print("row", name, kwargs)

    def log_table(self, name: str, value: Any, description: str = "") -> None:
        self._print("table", name, value)

    def log_image(
        self, name: str, path: str | None = None, plot: Any = None, description: str = ""
    ) -> None:
        self._print("image", name, path if path is not None else plot)

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        self._print("confusion_matrix", name, value)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        self._print("accuracy_table", name, value)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        self._print("residuals", name, value)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        self._print("predictions", name, value)

    def upload_file(
        self, name: str, path_or_stream: Any, datastore_name: str | None = None
    ) -> None:
        print(f"Attempted to track file {name} at {path_or_stream}")

    def upload_files(self, names: list[str], paths: list[str], **kwargs: Any) -> None:
        print(f"Attempted to track files {names} at {paths}")

    def upload_folder(self, name: str, path: str, datastore_name: str | None = None) -> None:
        print(f"Attempted to track folder {name} at {path}")

    def tag(self, key: str, value: Any = None) -> None:
        print(f"Attempted to tag {key} with {value}")
        self.tags.update(sanitize({key: value}))

    def set_tags(self, tags: dict[str, Any]) -> None:
        print(f"Attempted to set tags {tags}")
        self.tags.update(sanitize(tags))

    def get_tags(self) -> dict[str, Any]:
        return dict(self.tags)

    def add_properties(self, properties: dict[str, Any]) -> None:
        print(f"Attempted to add properties {properties}")
        self.properties.update(properties)

    def get_status(self) -> str:
        return self.status

    def complete(self, _set_status: bool = True) -> None:
        pass

    def cancel(self) -> None:
        pass

    def fail(
        self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True
    ) -> None:
        print(f"Attempted to fail the run with error: {error_details}")

    def flush(self, timeout_seconds: int = 300) -> None:
        pass

    def child_run(
        self, name: str | None = None, run_id: str | None = None, outputs: str | None = None
    ) -> OfflineRun:
        return OfflineRun(f"{self.id}.{name or run_id or uuid.uuid4()}")

    def __enter__(self) -> OfflineRun:
        print(f"[START] Run {self.id} context")
        return self

    def __exit__(self, *exc: Any) -> None:
        print(f"[STOP] Run {self.id} context")

    def __repr__(self) -> str:
        return f"_OfflineRun(Id: {self.id})"


_OfflineRun = OfflineRun
