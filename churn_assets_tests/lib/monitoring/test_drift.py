"""Drift monitoring: effect-size verdicts that mean the same on 5k rows and on a million."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churn_assets.lib.contract import DataContract
from churn_assets.lib.ingestion.simulator import DriftSpec, SimulatorConfig, simulate
from churn_assets.lib.monitoring.config import (
    DATA_DRIFT,
    PERFORMANCE_DROP,
    PREDICTION_DRIFT,
    DriftConfig,
)
from churn_assets.lib.monitoring.drift import DriftResult, drift_features, drift_report

N_CUSTOMERS = 5000
SIM_DRIFT = DriftSpec(start_month=2, price_rise=0.15, month_to_month_shift=0.2, concept_shift=0.5)


def _month(seed: int) -> pd.DataFrame:
    """One no-drift snapshot month, scored with the true churn probability."""
    result = simulate(SimulatorConfig(n_customers=N_CUSTOMERS, months=1, seed=seed))
    return result.snapshots.assign(score=result.truth["churn_probability"].to_numpy())


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _month(seed=1)


@pytest.fixture(scope="module")
def same_distribution() -> pd.DataFrame:
    return _month(seed=2)


@pytest.fixture(scope="module")
def drifted_months() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Months 0-1 (before) and 2-3 (after) of one customer base hit by the simulator's drift."""
    snapshots = simulate(
        SimulatorConfig(n_customers=N_CUSTOMERS, months=4, seed=3, drift=SIM_DRIFT)
    ).snapshots
    after = snapshots["snapshot_month"] >= snapshots["snapshot_month"].unique()[2]
    return snapshots[~after], snapshots[after]


@pytest.fixture(scope="module")
def drifted(
    drifted_months: tuple[pd.DataFrame, pd.DataFrame],
    contract: DataContract,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[DriftResult, Path]:
    html = tmp_path_factory.mktemp("drift") / "reports" / "drift.html"
    before, after = drifted_months
    return drift_report(before, after, contract, html_path=html), html


def _two_numeric_columns(rows: int, shift_in_std: float, seed: int) -> pd.DataFrame:
    """Skewed MonthlyCharges/TotalCharges-like columns, optionally shifted by a share of std."""
    rng = np.random.default_rng(seed)
    monthly = rng.gamma(4.0, 16.0, rows)
    total = rng.gamma(1.2, 2000.0, rows)
    return pd.DataFrame(
        {
            "MonthlyCharges": monthly + shift_in_std * 32.0,  # std of gamma(4, 16) is 32
            "TotalCharges": total + shift_in_std * 2191.0,  # std of gamma(1.2, 2000) is 2191
        }
    )


# --------------------------------------------------------------------------- features


def test_features_are_contract_features_in_both_frames(
    reference: pd.DataFrame, contract: DataContract
) -> None:
    current = reference.drop(columns=["gender"]).assign(_batch_id=1, _loaded_at="now")
    kinds = drift_features(reference.assign(_batch_id=0), current, contract)
    assert "gender" not in kinds
    assert not {"customerID", "snapshot_month", "Churn", "score", "_batch_id"} & set(kinds)
    assert kinds["MonthlyCharges"] == kinds["tenure"] == "numeric"
    assert kinds["Contract"] == "categorical"
    # A 0/1 code with declared allowed values is compared like the other yes/no columns.
    assert kinds["SeniorCitizen"] == "categorical"
    assert list(kinds) == [c for c in contract.feature_columns if c in kinds]


def test_no_shared_feature_is_an_error(contract: DataContract) -> None:
    with pytest.raises(ValueError, match="share none"):
        drift_report(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [2.0]}), contract)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"numeric_threshold": 0.0},
        {"drifted_share_limit": 0.0},
        {"drifted_share_limit": 1.5},
        {"performance_drop_limit": -0.1},
        {"min_rows": 0},
        {"min_rows": 5000, "max_rows": 1000},
    ],
)
def test_config_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DriftConfig(**kwargs)


def test_module_import_is_light() -> None:
    probe = (
        "import sys, churn_assets.lib.monitoring.drift;"
        "print(','.join(m for m in ('evidently', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------- data drift


def test_same_distribution_does_not_breach(
    reference: pd.DataFrame, same_distribution: pd.DataFrame, contract: DataContract
) -> None:
    result = drift_report(reference, same_distribution, contract, score_column="score")
    assert result.sufficient_sample and not result.sampled
    assert len(result.features) == len(contract.feature_columns)
    assert result.n_drifted == 0 and result.drifted_share == 0.0
    assert result.features["score"].max() < 0.05  # far below the 0.1 thresholds
    assert result.prediction_drifted is False
    assert result.performance is None  # no label column asked for
    assert result.breaches == {} and not result.breached


def test_simulated_drift_breaches_with_the_shifted_columns(
    drifted: tuple[DriftResult, Path], contract: DataContract
) -> None:
    result, _ = drifted
    assert {"MonthlyCharges", "Contract"} <= set(result.drifted_columns)
    # Only what the simulator moved: price (and bills), contract mix, tenure via churn.
    assert set(result.drifted_columns) <= {"MonthlyCharges", "TotalCharges", "Contract", "tenure"}
    assert result.n_drifted == len(result.drifted_columns)
    assert result.drifted_share == pytest.approx(result.n_drifted / len(contract.feature_columns))
    assert set(result.breaches) == {DATA_DRIFT}
    assert "MonthlyCharges" in result.breaches[DATA_DRIFT]
    row = result.features.set_index("column").loc["MonthlyCharges"]
    assert (row["kind"], row["method"], row["threshold"]) == ("numeric", "wasserstein", 0.1)
    assert row["score"] > 0.25  # a 15 % price rise moves the bill by ~0.3 std
    assert result.prediction_drift_score is None and result.prediction_drifted is None


def test_html_report_is_written(drifted: tuple[DriftResult, Path]) -> None:
    _, html = drifted
    assert html.is_file()
    text = html.read_text(encoding="utf-8")
    assert len(text) > 100_000  # Evidently inlines its JS and the per-column plots
    assert "MonthlyCharges" in text and "Contract" in text


def test_tiny_shift_on_a_million_rows_does_not_alarm(contract: DataContract) -> None:
    # 1 % of a standard deviation: a few cents on the bill. Harmless, but over a million rows
    # a p-value test is certain to call it significant.
    rows = 1_000_000
    reference = _two_numeric_columns(rows, shift_in_std=0.0, seed=10)
    current = _two_numeric_columns(rows, shift_in_std=0.01, seed=11)

    full = drift_report(reference, current, contract, DriftConfig(max_rows=None))
    assert not full.sampled and full.n_drifted == 0 and not full.breached
    assert full.features["score"].between(0.005, 0.02).all()

    # The same question asked with a p-value (KS, Evidently's pick below 1000 rows) alarms
    # on every column.
    ks = DriftConfig(numeric_method="ks", numeric_threshold=0.05, max_rows=None)
    p_values = drift_report(reference, current, contract, ks)
    assert p_values.features["drifted"].all() and p_values.features["score"].max() < 1e-4
    assert set(p_values.breaches) == {DATA_DRIFT}

    # Effect sizes are stable under the default row cap: same verdict, nearly the same score.
    capped = drift_report(reference, current, contract)
    assert capped.sampled and not capped.breached
    np.testing.assert_allclose(capped.features["score"], full.features["score"], atol=0.01)


# --------------------------------------------------------------------------- predictions


def test_prediction_drift_when_scores_shift(
    reference: pd.DataFrame, same_distribution: pd.DataFrame, contract: DataContract
) -> None:
    inflated = same_distribution.assign(score=(same_distribution["score"] * 1.5).clip(0, 1))
    result = drift_report(reference, inflated, contract, score_column="score")
    assert result.prediction_drifted is True
    assert result.prediction_drift_score is not None and result.prediction_drift_score > 0.3
    assert set(result.breaches) == {PREDICTION_DRIFT}  # features did not move


def test_missing_score_column_is_an_error(
    reference: pd.DataFrame, same_distribution: pd.DataFrame, contract: DataContract
) -> None:
    with pytest.raises(ValueError, match="not in the current frame"):
        drift_report(
            reference, same_distribution.drop(columns="score"), contract, score_column="score"
        )


def test_performance_drop_from_realised_labels(
    reference: pd.DataFrame, same_distribution: pd.DataFrame, contract: DataContract
) -> None:
    rng = np.random.default_rng(0)
    useless = same_distribution.assign(score=rng.random(len(same_distribution)))
    config = DriftConfig(prediction_threshold=10.0)  # isolate the performance limit
    result = drift_report(
        reference, useless, contract, config, score_column="score", label_column="Churn"
    )
    perf = result.performance
    assert perf is not None
    y_ref = (reference["Churn"] == "Yes").astype(int)
    y_cur = (useless["Churn"] == "Yes").astype(int)
    assert perf["reference_roc_auc"] == pytest.approx(roc_auc_score(y_ref, reference["score"]))
    assert perf["current_roc_auc"] == pytest.approx(roc_auc_score(y_cur, useless["score"]))
    assert perf["reference_roc_auc"] > 0.8 and abs(perf["current_roc_auc"] - 0.5) < 0.05
    assert perf["roc_auc_drop"] == pytest.approx(
        perf["reference_roc_auc"] - perf["current_roc_auc"]
    )
    assert perf["current_labelled_rows"] == perf["reference_labelled_rows"] == N_CUSTOMERS
    assert set(result.breaches) == {PERFORMANCE_DROP}

    metadata = result.to_metadata()
    assert all(isinstance(v, float) for v in metadata.values())
    json.dumps(metadata)
    assert metadata["roc_auc_drop"] == pytest.approx(perf["roc_auc_drop"])
    assert metadata["performance_drop_breached"] == 1.0 and metadata["breached"] == 1.0
    assert metadata["drift_score/MonthlyCharges"] < 0.1


def test_performance_uses_labelled_rows_only(
    reference: pd.DataFrame, same_distribution: pd.DataFrame, contract: DataContract
) -> None:
    # Labels arrive late: half the batch has none yet; 0/1 labels are accepted as they are.
    current = same_distribution.assign(label=(same_distribution["Churn"] == "Yes").astype(float))
    current.loc[current.index[: N_CUSTOMERS // 2], "label"] = np.nan
    result = drift_report(
        reference.assign(label=(reference["Churn"] == "Yes").astype(int)),
        current,
        contract,
        score_column="score",
        label_column="label",
    )
    perf = result.performance
    assert perf is not None and perf["current_labelled_rows"] == N_CUSTOMERS // 2
    labelled = current.dropna(subset=["label"])
    assert perf["current_roc_auc"] == pytest.approx(
        roc_auc_score(labelled["label"], labelled["score"])
    )
    assert abs(perf["roc_auc_drop"]) < 0.05 and not result.breached


def test_no_performance_block_without_labels(
    reference: pd.DataFrame, same_distribution: pd.DataFrame, contract: DataContract
) -> None:
    unlabelled = same_distribution.assign(Churn=None)
    result = drift_report(
        reference, unlabelled, contract, score_column="score", label_column="Churn"
    )
    assert result.performance is None
    assert "current_roc_auc" not in result.to_metadata()


# --------------------------------------------------------------------------- small batches


def test_small_batch_is_an_insufficient_sample(
    drifted_months: tuple[pd.DataFrame, pd.DataFrame], contract: DataContract
) -> None:
    before, after = drifted_months
    result = drift_report(before, after.head(500), contract)
    assert not result.sufficient_sample and result.current_rows == 500
    assert "MonthlyCharges" in result.drifted_columns  # still measured and shown ...
    assert result.breaches == {} and not result.breached  # ... but no verdict
    assert result.to_metadata()["sufficient_sample"] == 0.0


def test_entirely_null_column_is_skipped(
    reference: pd.DataFrame, same_distribution: pd.DataFrame, contract: DataContract
) -> None:
    current = same_distribution.head(500).assign(TotalCharges=np.nan)
    result = drift_report(reference.head(500), current, contract)
    assert result.skipped_columns == ["TotalCharges"]
    assert "TotalCharges" not in set(result.features["column"])
