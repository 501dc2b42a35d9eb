"""TabularDataset: delimited files read as a table (``azureml.data.TabularDataset``)."""

from __future__ import annotations

import copy
from typing import Any

from trainforge.data.abstract_dataset import AbstractDataset
from trainforge.exceptions import UserErrorException
from trainforge.storage.dataset_files import read_table


class TabularDataset(AbstractDataset):
    """Rows parsed from delimited files, read with pandas. ``take``, ``skip``,
    ``drop_columns`` and ``keep_columns`` give a new, unregistered dataset whose rows are
    cut where it is read (``to_pandas_dataframe``): a preview, or the training data of an
    AutoMLConfig. Such a dataset is not registered or given to a run here (its
    transformations are not stored with a definition yet): that is refused, naming them."""

    _dataset_type = "Tabular"
    # (transformation, argument) in the order given; applied by to_pandas_dataframe.
    _transformations: tuple[tuple[str, Any], ...] = ()

    def _then(self, transformation: str, argument: Any) -> TabularDataset:
        clone = copy.copy(self)
        clone._transformations = (*self._transformations, (transformation, argument))
        clone.id = clone.name = clone.version = None
        return clone

    def take(self, count: int) -> TabularDataset:
        """The first ``count`` rows."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise UserErrorException(f"count: expected a whole number >= 0, got {count!r}")
        return self._then("take", count)

    def skip(self, count: int) -> TabularDataset:
        """All rows but the first ``count``."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise UserErrorException(f"count: expected a whole number >= 0, got {count!r}")
        return self._then("skip", count)

    def drop_columns(self, columns: str | list[str]) -> TabularDataset:
        """Without the columns named (a name or a list of names)."""
        return self._then("drop_columns", [columns] if isinstance(columns, str) else list(columns))

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> TabularDataset:
        """Only the columns named (a name or a list of names)."""
        return self._then("keep_columns", [columns] if isinstance(columns, str) else list(columns))

    def _stored(self, use: str) -> None:
        if self._transformations:
            names = ", ".join(sorted({t for t, _ in self._transformations}))
            raise UserErrorException(
                f"{names}: a TabularDataset after {names} is read where it is made; it cannot "
                f"be {use} here yet (register or pass the dataset it came from)"
            )

    def register(self, workspace: Any, name: str, *args: Any, **kwargs: Any) -> AbstractDataset:
        self._stored("registered")
        return super().register(workspace, name, *args, **kwargs)

    def as_named_input(self, name: str) -> Any:
        self._stored("given to a run")
        return super().as_named_input(name)

    def _transformed(self, frame: Any) -> Any:
        for transformation, argument in self._transformations:
            if transformation == "take":
                frame = frame.iloc[:argument]
            elif transformation == "skip":
                frame = frame.iloc[argument:]
            else:
                missing = [c for c in argument if c not in frame.columns]
                if missing:
                    raise UserErrorException(
                        f"columns: {missing} not in the dataset; its columns are "
                        f"{[str(c) for c in frame.columns]}"
                    )
                frame = (
                    frame.drop(columns=argument)
                    if transformation == "drop_columns"
                    else frame[argument]
                )
        return frame.reset_index(drop=True)

    def to_pandas_dataframe(
        self, on_error: str = "null", out_of_range_datetime: str = "null"
    ) -> Any:
        """All files' rows in one pandas DataFrame (a ``Path`` column when ``include_path``)."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise UserErrorException(
                "to_pandas_dataframe needs pandas: pip install 'trainforge[data]'"
            ) from None
        files, filesystems = self._files()
        return self._transformed(read_table(self._definition, files, filesystems))
