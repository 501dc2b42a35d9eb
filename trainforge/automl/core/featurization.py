"""``FeaturizationConfig``: how AutoML featurizes each column (the SDK's
``azureml.automl.core.featurization.FeaturizationConfig``)."""

from __future__ import annotations

from typing import Any

# The column purposes the SDK names (``FeatureType``) that featurization acts on here.
FEATURE_TYPES = ("Numeric", "Categorical", "CategoricalHash", "DateTime", "Text", "Ignore")
# The transformers whose parameters may be set, and the parameters each takes.
TRANSFORMER_PARAMS = {
    "Imputer": ("strategy", "fill_value"),
    "HashOneHotEncoder": ("number_of_bits",),
}
IMPUTER_STRATEGIES = ("mean", "median", "most_frequent", "constant")


class FeaturizationConfig:
    """Customized featurization for ``AutoMLConfig(featurization=...)``.

    :param blocked_transformers: transformers not to use (recorded; of this version's
        transformers only ``OneHotEncoder`` can be blocked: categorical columns are then
        hashed).
    :param column_purposes: ``{column: feature type}``: 'Numeric', 'Categorical',
        'CategoricalHash', 'DateTime', 'Text' or 'Ignore'.
    :param transformer_params: ``{transformer: [(columns, params)]}``, as
        ``add_transformer_params`` builds it.
    :param drop_columns: columns not to featurize at all.
    """

    def __init__(
        self,
        blocked_transformers: list[str] | None = None,
        column_purposes: dict[str, str] | None = None,
        transformer_params: dict[str, list[tuple[list[str], dict[str, Any]]]] | None = None,
        drop_columns: list[str] | None = None,
        dataset_language: str | None = None,
        prediction_transform_type: dict[str, str] | None = None,
    ) -> None:
        self.blocked_transformers = list(blocked_transformers or [])
        self.column_purposes = dict(column_purposes or {})
        self.transformer_params = {k: list(v) for k, v in (transformer_params or {}).items()}
        self.drop_columns = list(drop_columns or [])
        self.dataset_language = dataset_language
        self.prediction_transform_type = prediction_transform_type

    def add_column_purpose(self, column_name: str, feature_type: str) -> None:
        """Featurize ``column_name`` as ``feature_type`` instead of the detected type."""
        self.column_purposes[column_name] = feature_type

    def add_transformer_params(
        self, transformer: str, cols: list[str], params: dict[str, Any]
    ) -> None:
        """Parameters of ``transformer`` for the columns ``cols`` (e.g. 'Imputer',
        ``["age"]``, ``{"strategy": "median"}``)."""
        self.transformer_params.setdefault(transformer, []).append((list(cols), dict(params)))

    def add_blocked_transformers(self, transformers: str | list[str]) -> None:
        """Transformers not to use."""
        names = [transformers] if isinstance(transformers, str) else transformers
        self.blocked_transformers += [n for n in names if n not in self.blocked_transformers]

    def add_drop_columns(self, drop_columns: str | list[str]) -> None:
        """Columns to leave out of featurization."""
        names = [drop_columns] if isinstance(drop_columns, str) else drop_columns
        self.drop_columns += [n for n in names if n not in self.drop_columns]

    def problems(self, columns: list[str] | None) -> list[tuple[str, str, str]]:
        """What is wrong, as (argument, value, what is allowed); ``columns`` None: a
        dataset not read yet, so column names go unchecked."""
        found: list[tuple[str, str, str]] = []
        known = set(columns) if columns is not None else None
        for column, purpose in self.column_purposes.items():
            if purpose not in FEATURE_TYPES:
                found.append(("column_purposes", f"{column}: {purpose}", str(list(FEATURE_TYPES))))
            if known is not None and column not in known:
                found.append(("column_purposes", column, str(sorted(known))))
        for column in self.drop_columns:
            if known is not None and column not in known:
                found.append(("drop_columns", column, str(sorted(known))))
        for transformer, entries in self.transformer_params.items():
            allowed = TRANSFORMER_PARAMS.get(transformer)
            if allowed is None:
                found.append(("transformer_params", transformer, str(list(TRANSFORMER_PARAMS))))
                continue
            for cols, params in entries:
                for key in params:
                    if key not in allowed:
                        found.append(
                            ("transformer_params", f"{transformer}.{key}", str(list(allowed)))
                        )
                strategy = params.get("strategy")
                if (
                    transformer == "Imputer"
                    and strategy is not None
                    and strategy not in IMPUTER_STRATEGIES
                ):
                    found.append(
                        (
                            "transformer_params",
                            f"Imputer.strategy={strategy}",
                            str(list(IMPUTER_STRATEGIES)),
                        )
                    )
                bits = params.get("number_of_bits")
                if bits is not None and (not isinstance(bits, int) or not 1 <= bits <= 16):
                    found.append(
                        (
                            "transformer_params",
                            f"HashOneHotEncoder.number_of_bits={bits}",
                            "an integer from 1 to 16",
                        )
                    )
                for column in cols:
                    if known is not None and column not in known:
                        found.append(("transformer_params", column, str(sorted(known))))
        return found  # fmt: skip

    def settings(self) -> dict[str, Any]:
        """What an iteration needs of this config (JSON)."""
        params: dict[str, dict[str, Any]] = {}
        for transformer, entries in self.transformer_params.items():
            for cols, values in entries:
                for column in cols:
                    params.setdefault(transformer, {})[column] = values
        return {
            "column_purposes": self.column_purposes,
            "drop_columns": self.drop_columns,
            "blocked_transformers": self.blocked_transformers,
            "transformer_params": params,
        }
