"""Engineered features and the model-ready feature table.

Engineered features are declared in the contract (``features``, parsed and validated by
:mod:`churn_assets.lib.features.declared`, computed by :mod:`churn_assets.lib.features.kinds`).
They are computed by a stateless sklearn transformer (:class:`FeatureBuilder`) that is also
the first step of the preprocessing pipeline (:mod:`churn_assets.lib.features.preprocessing`),
so the pipeline that is fitted on training rows and later served takes the contract's raw
fields as input; the builder keeps the declarations themselves, so a pickled model computes
its features without the contract file, and the compiled scorer computes the same
declarations on one record.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from churn_assets.lib.contract import BUILTIN_CONTRACT, DataContract
from churn_assets.lib.features.declared import FeatureSpec, describe_spec
from churn_assets.lib.features.kinds import CompiledFeature, compile_feature

TARGET_COL = "_target"  # the contract's target encoded as 1 (positive label) / 0


def available_features(contract: DataContract) -> tuple[FeatureSpec, ...]:
    """The engineered features the contract declares, in the order they are computed."""
    return contract.engineered_features


def describe_features(contract: DataContract) -> pd.DataFrame:
    """The contract's engineered features: name, kind, output type and description."""
    return pd.DataFrame(
        [
            {
                "feature": f.name,
                "kind": f.kind,
                "output": f.output,
                "description": f.description or describe_spec(f),
            }
            for f in available_features(contract)
        ],
        columns=["feature", "kind", "output", "description"],
    )


def feature_column(values: pd.Series) -> np.ndarray:
    """A frame column as :attr:`CompiledFeature.compute` expects it: float64 with NaN for
    numeric data, an object array otherwise."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return values.to_numpy(dtype=object)


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Adds engineered features to a frame of contract fields (stateless, so leak-free).

    Args:
        features: the declared features to add (:class:`FeatureSpec`, dependency-ordered, as
            :attr:`DataContract.engineered_features` returns them). They are stored in the
            fitted (pickled) pipeline, so scoring needs no contract file.
    """

    def __init__(self, features: tuple[FeatureSpec, ...] = ()):
        self.features = features

    def compiled(self) -> list[CompiledFeature]:
        """The features' column and row functions (rebuilt on demand: closures do not pickle)."""
        return [compile_feature(_resolve(f)) for f in self.features]

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureBuilder:
        """Record the input columns (nothing is learned)."""
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``X`` with the engineered columns appended, a missing string
        value always as NaN."""
        specs = [_resolve(f) for f in self.features]
        declared = {f.name for f in specs}
        needed = dict.fromkeys(c for f in specs for c in f.inputs if c not in declared)
        columns = {c: feature_column(X[c]) for c in needed}
        out = X.copy()
        # A parquet round trip (every stored table) turns NaN in a string column into None,
        # which the most-frequent imputer takes for a category while the compiled scorer
        # imputes it: one missing marker keeps training, batch and serving on one verdict.
        for col in out.select_dtypes(include="object").columns:
            if out[col].isna().any():
                out[col] = out[col].where(out[col].notna(), np.nan)
        for spec in specs:
            columns[spec.name] = out[spec.name] = compile_feature(spec).compute(columns)
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Input columns followed by the engineered ones."""
        names = [_resolve(f).name for f in self.features]
        return np.asarray([*self.feature_names_in_, *names], dtype=object)


def _resolve(feature: FeatureSpec | str) -> FeatureSpec:
    """A spec; a bare name is a model pickled before features were declared, whose builder
    stored names of the built-in Telco features: they are now the built-in contract's."""
    if isinstance(feature, FeatureSpec):
        return feature
    return _builtin_features()[feature]


@cache
def _builtin_features() -> dict[str, FeatureSpec]:
    return {f.name: f for f in DataContract.load(BUILTIN_CONTRACT).engineered_features}


def build_feature_table(validated: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """The model-ready table: id, snapshot time, feature fields, engineered features, target.

    The target column is replaced by ``_target`` (1 for the contract's positive label).

    Raises:
        ContractError: the contract declares ``history`` features, which training cannot
            use yet (rather than train silently without them).
    """
    if contract.history_features:
        from churn_assets.lib.contract import ContractError

        names = ", ".join(spec.name for spec in contract.history_features)
        raise ContractError(
            f"{contract.path}: `history` declares {names}, but training, batch scoring and "
            "serving do not compute history features yet (docs/configuration.md#history-"
            "features, issue #14): remove the `history` list to train"
        )
    keep = [contract.id_column]
    if contract.event_time and contract.event_time in validated:
        keep.append(contract.event_time)
    inputs = [c for c in contract.feature_columns if c in validated]
    builder = FeatureBuilder(available_features(contract))
    table = builder.fit_transform(validated[inputs])
    table.insert(0, contract.id_column, validated[contract.id_column].to_numpy())
    if len(keep) > 1:
        table.insert(1, contract.event_time, validated[contract.event_time].to_numpy())
    table[TARGET_COL] = contract.target.encode(validated[contract.target.column]).to_numpy()
    return table
