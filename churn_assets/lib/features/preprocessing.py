"""The preprocessing pipeline: engineered features, imputation, scaling, rare-category capping
and one-hot encoding.

Fitted on training rows only, it travels with every model into serving, so a model (and the
service) takes the contract's raw fields (:func:`model_input_columns`) as input.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.capping import CategoryCapper
from churn_assets.lib.features.engineering import FeatureBuilder, available_features


def model_input_columns(contract: DataContract) -> list[str]:
    """The raw fields a model (and the service) takes: the contract's feature columns."""
    return contract.feature_columns


def build_preprocessor(contract: DataContract) -> Pipeline:
    """An unfitted preprocessing pipeline for the contract's features.

    Engineered features, then median imputation + scaling for numeric columns and
    most-frequent imputation, capping of rare categories in high-cardinality fields
    (:mod:`churn_assets.lib.features.capping`) and one-hot encoding (unknown categories
    ignored, or counted as the capped field's ``__other__``) for categorical columns. Output
    is a dense float matrix.
    """
    engineered = available_features(contract)
    numeric = contract.numeric_features + [f.name for f in engineered if f.output == "numeric"]
    categorical = contract.categorical_features + [
        f.name for f in engineered if f.output == "categorical"
    ]
    transformers = []
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("cap", CategoryCapper()),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="ignore", sparse_output=False, dtype=np.float32
                            ),
                        ),
                    ]
                ),
                categorical,
            )
        )
    return Pipeline(
        [
            ("engineer", FeatureBuilder(engineered)),
            ("encode", ColumnTransformer(transformers, remainder="drop")),
        ]
    )
