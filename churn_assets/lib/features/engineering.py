"""Engineered features and the model-ready feature table.

Engineered features are declared here, next to the contract, each with the columns it needs;
a feature whose inputs a contract does not declare is simply not built, so a dataset of
another shape gets the subset that makes sense for it.

The engineered features are computed by a stateless sklearn transformer
(:class:`FeatureBuilder`) that is also the first step of the preprocessing pipeline
(:mod:`churn_assets.lib.features.preprocessing`), so the pipeline that is fitted on training
rows and later served takes the contract's raw fields as input: training and serving cannot
disagree on a formula.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.telco import ADD_ONS

TARGET_COL = "_target"  # the contract's target encoded as 1 (positive label) / 0

_TENURE_EDGES = (6, 12, 24, 48)
_TENURE_LABELS = ("0-6", "7-12", "13-24", "25-48", "49+")


Columns = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class EngineeredFeature:
    """A derived column: its name, the contract columns it needs, and how to compute it.

    ``compute`` takes plain NumPy columns (float64 for numeric fields, object arrays of
    strings for categorical ones) and returns one array; it serves the pandas pipeline
    (:class:`FeatureBuilder`) and batch scoring. ``compute_row`` is the same formula on one
    record of Python values, for the service's single-customer path, where NumPy's per-call
    overhead on 1-element arrays costs more than the arithmetic (54 µs vs ~5 µs per record).
    ``test_scorer.py`` holds the two to identical results on thousands of rows and edges.
    """

    name: str
    requires: tuple[str, ...]
    kind: Literal["numeric", "categorical"]
    description: str
    compute: Callable[[Columns], np.ndarray]
    compute_row: Callable[[Mapping[str, Any]], Any]


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _avg_monthly_spend(cols: Columns) -> np.ndarray:
    months = np.maximum(cols["tenure"], 1.0)
    total = cols["TotalCharges"]
    return np.where(np.isnan(total), 0.0, total) / months


def _price_change_ratio(cols: Columns) -> np.ndarray:
    # Current bill over the historical average: > 1 after a price rise or an upsell.
    avg = _avg_monthly_spend(cols)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = cols["MonthlyCharges"] / np.where(avg > 0, avg, np.nan)
    ratio = np.where(cols["tenure"] > 0, ratio, 1.0)
    return np.clip(np.where(np.isnan(ratio), 1.0, ratio), 0.0, 10.0)


def _service_count(cols: Columns) -> np.ndarray:
    count = (cols["PhoneService"] == "Yes").astype(float) + (
        cols["InternetService"] != "No"
    ).astype(float)
    for col in ADD_ONS:
        count += cols[col] == "Yes"
    return count


def _tenure_band(cols: Columns) -> np.ndarray:
    # Right-closed bands, like pandas.cut: 6 -> "0-6", 7 -> "7-12"; a missing tenure -> "nan".
    tenure = cols["tenure"]
    index = np.searchsorted(np.asarray(_TENURE_EDGES), tenure, side="left")
    bands = np.asarray(_TENURE_LABELS, dtype=object)[np.minimum(index, len(_TENURE_LABELS) - 1)]
    return np.where(np.isnan(tenure), "nan", bands).astype(object)


def _auto_payment(cols: Columns) -> np.ndarray:
    automatic = np.char.find(cols["PaymentMethod"].astype(str), "(automatic)") >= 0
    return np.where(automatic, "Yes", "No").astype(object)


def _avg_monthly_spend_row(row: Mapping[str, Any]) -> float:
    tenure, total = _float(row["tenure"]), _float(row["TotalCharges"])
    months = tenure if tenure != tenure or tenure >= 1.0 else 1.0  # np.maximum keeps NaN
    return (0.0 if total != total else total) / months


def _price_change_ratio_row(row: Mapping[str, Any]) -> float:
    avg = _avg_monthly_spend_row(row)
    if not _float(row["tenure"]) > 0:
        return 1.0
    ratio = _float(row["MonthlyCharges"]) / avg if avg > 0 else float("nan")
    return 1.0 if ratio != ratio else min(max(ratio, 0.0), 10.0)


def _service_count_row(row: Mapping[str, Any]) -> float:
    count = (row["PhoneService"] == "Yes") + (row["InternetService"] != "No")
    return float(count + sum(row[col] == "Yes" for col in ADD_ONS))


def _tenure_band_row(row: Mapping[str, Any]) -> str:
    tenure = _float(row["tenure"])
    if tenure != tenure:
        return "nan"
    return _TENURE_LABELS[min(bisect.bisect_left(_TENURE_EDGES, tenure), len(_TENURE_LABELS) - 1)]


def _auto_payment_row(row: Mapping[str, Any]) -> str:
    return "Yes" if "(automatic)" in str(row["PaymentMethod"]) else "No"


ENGINEERED_FEATURES: tuple[EngineeredFeature, ...] = (
    EngineeredFeature(
        "avg_monthly_spend",
        ("TotalCharges", "tenure"),
        "numeric",
        "TotalCharges / max(tenure, 1): what the customer has paid per month on average.",
        _avg_monthly_spend,
        _avg_monthly_spend_row,
    ),
    EngineeredFeature(
        "price_change_ratio",
        ("MonthlyCharges", "TotalCharges", "tenure"),
        "numeric",
        "MonthlyCharges / avg_monthly_spend (1 for new customers): a recent price rise or upsell.",
        _price_change_ratio,
        _price_change_ratio_row,
    ),
    EngineeredFeature(
        "service_count",
        ("PhoneService", "InternetService", *ADD_ONS),
        "numeric",
        "Number of services taken (phone, internet and the six add-ons): engagement.",
        _service_count,
        _service_count_row,
    ),
    EngineeredFeature(
        "tenure_band",
        ("tenure",),
        "categorical",
        "Tenure in bands 0-6, 7-12, 13-24, 25-48, 49+ months (churn risk is not linear in it).",
        _tenure_band,
        _tenure_band_row,
    ),
    EngineeredFeature(
        "auto_payment",
        ("PaymentMethod",),
        "categorical",
        "Yes when the payment method is automatic (bank transfer or credit card).",
        _auto_payment,
        _auto_payment_row,
    ),
)


def available_features(contract: DataContract) -> list[EngineeredFeature]:
    """The engineered features whose inputs are all features of this contract."""
    inputs = set(contract.feature_columns)
    return [f for f in ENGINEERED_FEATURES if set(f.requires) <= inputs]


def describe_features(contract: DataContract) -> pd.DataFrame:
    """The engineered features this contract gets: name, kind and description, one row each."""
    return pd.DataFrame(
        [
            {"feature": f.name, "kind": f.kind, "description": f.description}
            for f in available_features(contract)
        ],
        columns=["feature", "kind", "description"],
    )


def feature_column(values: pd.Series) -> np.ndarray:
    """A frame column as :attr:`EngineeredFeature.compute` expects it: float64 with NaN for
    numeric data, an object array otherwise."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return values.to_numpy(dtype=object)


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Adds engineered features to a frame of contract fields (stateless, so leak-free).

    Args:
        features: names from :data:`ENGINEERED_FEATURES` to add.
    """

    def __init__(self, features: tuple[str, ...] = ()):
        self.features = features

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureBuilder:
        """Record the input columns (nothing is learned)."""
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``X`` with the engineered columns appended."""
        by_name = {f.name: f for f in ENGINEERED_FEATURES}
        needed = dict.fromkeys(c for name in self.features for c in by_name[name].requires)
        columns = {c: feature_column(X[c]) for c in needed}
        out = X.copy()
        for name in self.features:
            out[name] = by_name[name].compute(columns)
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Input columns followed by the engineered ones."""
        return np.asarray([*self.feature_names_in_, *self.features], dtype=object)


def build_feature_table(validated: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """The model-ready table: id, snapshot time, feature fields, engineered features, target.

    The target column is replaced by ``_target`` (1 for the contract's positive label).
    """
    keep = [contract.id_column]
    if contract.event_time and contract.event_time in validated:
        keep.append(contract.event_time)
    inputs = [c for c in contract.feature_columns if c in validated]
    builder = FeatureBuilder(tuple(f.name for f in available_features(contract)))
    table = builder.fit_transform(validated[inputs])
    table.insert(0, contract.id_column, validated[contract.id_column].to_numpy())
    if len(keep) > 1:
        table.insert(1, contract.event_time, validated[contract.event_time].to_numpy())
    table[TARGET_COL] = contract.target.encode(validated[contract.target.column]).to_numpy()
    return table
