"""The preprocessing pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.features.split import split_frame


def test_preprocessor_learns_from_training_rows_only(
    table: pd.DataFrame, contract: DataContract
) -> None:
    parts = split_frame(table, contract)
    columns = model_input_columns(contract)
    train = parts["train"][columns].copy()
    pipeline = build_preprocessor(contract).fit(train)
    scaler = pipeline.named_steps["encode"].named_transformers_["numeric"].named_steps["scale"]
    numeric = pipeline.named_steps["encode"].transformers_[0][2]
    engineered = pipeline.named_steps["engineer"].transform(train)
    np.testing.assert_allclose(scaler.mean_, engineered[numeric].astype(float).mean().to_numpy())
    # Unknown categories at serving time are ignored, not an error.
    odd = parts["test"][columns].head(3).assign(Contract="Lifetime")
    assert pipeline.transform(odd).shape == (3, len(pipeline.get_feature_names_out()))
    # Raw contract fields in, numbers out: the same pipeline serves requests later.
    assert np.isfinite(pipeline.transform(parts["test"][columns])).all()
