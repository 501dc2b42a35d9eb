"""``ForecastingParameters``: what a forecasting task's series look like (the SDK's
``azureml.automl.core.forecasting_parameters``)."""

from __future__ import annotations

from typing import Any


class ForecastingParameters:
    """The series of an ``AutoMLConfig(task='forecasting')``.

    :param time_column_name: the column holding each row's time (dates or datetimes).
    :param forecast_horizon: how many periods ahead to forecast (an integer of at least 1).
    :param time_series_id_column_names: the columns that tell apart the series of a frame
        holding several (``grain_column_names`` in older code); none for one series.
    :param freq: the series' frequency (a pandas offset alias such as 'D'); inferred when
        not given.

    The SDK's other parameters (lags, rolling windows, holidays, seasonality, short-series
    handling, ...) are accepted and kept in ``other``; this version's featurization does
    not use them (see docs/automl.md).
    """

    def __init__(
        self,
        time_column_name: str | None = None,
        forecast_horizon: int = 1,
        time_series_id_column_names: str | list[str] | None = None,
        group_column_names: str | list[str] | None = None,
        target_lags: Any = None,
        feature_lags: Any = None,
        target_rolling_window_size: Any = None,
        freq: str | None = None,
        **other: Any,
    ) -> None:
        self.time_column_name = time_column_name
        self.forecast_horizon = forecast_horizon
        ids = time_series_id_column_names
        self.time_series_id_column_names = [ids] if isinstance(ids, str) else list(ids or [])
        self.group_column_names = group_column_names
        self.freq = freq
        self.other = {
            "target_lags": target_lags,
            "feature_lags": feature_lags,
            "target_rolling_window_size": target_rolling_window_size,
            **other,
        }
