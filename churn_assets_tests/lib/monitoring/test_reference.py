"""The drift reference logged with each model version: which rows, which labels, and the
round trip through MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.monitoring.reference import (
    SPLIT_COLUMN,
    has_reference,
    load_reference,
    log_reference,
    reference_frame,
)
from churn_assets.lib.serving.bundle import ModelSlot


def _splits(sizes: dict[str, int]) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    return {
        name: pd.DataFrame(
            {
                "tenure": rng.integers(0, 72, n),
                "Contract": rng.choice(["Month-to-month", "One year"], n),
                "_target": rng.integers(0, 2, n),
                "not_a_feature": 1,
            }
        )
        for name, n in sizes.items()
    }


def test_every_split_is_kept_and_only_held_out_rows_are_labelled() -> None:
    splits = _splits({"train": 600, "validation": 200, "test": 200})
    frame = reference_frame(splits, ["tenure", "Contract"], "_target", max_rows=10_000)
    assert list(frame.columns) == ["tenure", "Contract", "_target", SPLIT_COLUMN]
    assert frame[SPLIT_COLUMN].value_counts().to_dict() == {
        "train": 600,
        "validation": 200,
        "test": 200,
    }
    labelled = frame[frame["_target"].notna()]
    assert (labelled[SPLIT_COLUMN] == "test").all() and len(labelled) == 200
    assert labelled["_target"].tolist() == splits["test"]["_target"].tolist()


def test_a_cap_keeps_the_test_rows_and_samples_the_rest_evenly() -> None:
    splits = _splits({"train": 6000, "validation": 2000, "test": 2000})
    frame = reference_frame(splits, ["tenure"], "_target", max_rows=3000, seed=1)
    counts = frame[SPLIT_COLUMN].value_counts()
    assert counts.to_dict() == {"test": 2000, "train": 750, "validation": 250}
    test_rows = frame[frame[SPLIT_COLUMN] == "test"]
    assert test_rows["_target"].tolist() == splits["test"]["_target"].tolist()
    again = reference_frame(splits, ["tenure"], "_target", max_rows=3000, seed=1)
    pd.testing.assert_frame_equal(frame, again)  # reproducible
    # A cap below the test split: test rows only, never more than the cap.
    small = reference_frame(splits, ["tenure"], "_target", max_rows=500, seed=1)
    assert small[SPLIT_COLUMN].value_counts().to_dict() == {"test": 500}
    tiny = reference_frame(_splits({"train": 1, "validation": 1, "test": 1}), [], "_target", 2)
    assert tiny[SPLIT_COLUMN].tolist() == ["test"]  # shares round down: never above the cap


def test_a_reference_needs_held_out_rows_and_the_columns() -> None:
    splits = _splits({"train": 10, "validation": 10})
    with pytest.raises(ValueError, match="held-out 'test'"):
        reference_frame(splits, ["tenure"], "_target", max_rows=100)
    splits = _splits({"train": 10, "test": 10})
    with pytest.raises(ValueError, match=r"lacks columns \['MonthlyCharges'\]"):
        reference_frame(splits, ["MonthlyCharges"], "_target", max_rows=100)
    with pytest.raises(ValueError, match="max_rows must be >= 1"):
        reference_frame(splits, ["tenure"], "_target", max_rows=0)


def test_logged_with_the_model_run_and_read_back(tmp_path: Path) -> None:
    import mlflow

    from churn_assets.lib.tracking import setup

    experiment = setup(f"sqlite:///{tmp_path / 'mlflow.db'}", "reference-test", tmp_path)
    frame = reference_frame(
        _splits({"train": 50, "validation": 20, "test": 30}), ["tenure", "Contract"], "_target", 100
    )
    with mlflow.start_run(experiment_id=experiment) as run:
        pass
    with mlflow.start_run(experiment_id=experiment) as bare:
        pass
    uri = log_reference(frame, run.info.run_id)
    assert uri == f"runs:/{run.info.run_id}/monitoring_reference/reference.parquet"
    assert has_reference(run.info.run_id) and not has_reference(bare.info.run_id)
    slot = ModelSlot("3", "logreg", 0.4, "none", mlflow_run_id=run.info.run_id)
    pd.testing.assert_frame_equal(load_reference(slot), frame)

    without = ModelSlot("2", "logreg", 0.4, "none", mlflow_run_id=bare.info.run_id)
    with pytest.raises(LookupError, match=r"model version 2 .* has no monitoring_reference"):
        load_reference(without)
    with pytest.raises(LookupError, match="no MLflow run"):
        load_reference(ModelSlot("1", "logreg", 0.4, "none"))
