"""TabularDataset: delimited files read as a table (``azureml.data.TabularDataset``)."""

from __future__ import annotations

from typing import Any

from trainforge.data.abstract_dataset import AbstractDataset
from trainforge.exceptions import UserErrorException


class TabularDataset(AbstractDataset):
    """Rows parsed from delimited files, read with pandas."""

    _dataset_type = "Tabular"

    def to_pandas_dataframe(
        self, on_error: str = "null", out_of_range_datetime: str = "null"
    ) -> Any:
        """All files' rows in one pandas DataFrame (a ``Path`` column when ``include_path``)."""
        try:
            import pandas as pd
        except ImportError:
            raise UserErrorException(
                "to_pandas_dataframe needs pandas: pip install 'trainforge[data]'"
            ) from None
        definition = self._definition
        files, filesystems = self._files()
        frames = []
        for f in files:
            with filesystems[f.datastore_name or ""].open(f.remote, "rb") as handle:
                frame = pd.read_csv(
                    handle,
                    sep=definition.separator,
                    header=0 if definition.header else None,
                    encoding=definition.encoding,
                )
            if definition.include_path:
                frame.insert(0, "Path", f"/{f.relative}")
            frames.append(frame)
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)
