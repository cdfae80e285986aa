"""model_card takes everything through its asset inputs (and MLflow): it runs on a machine
where no other step wrote anything, and it refuses reports of another candidate."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from churn_assets.defs.evaluation.assets import model_card
from churn_assets.defs.resources import ChurnPlatform, MlflowTracking
from churn_assets.lib.contract import DataContract
from churn_assets.lib.evaluation.fairness import assess_candidate
from churn_assets.lib.evaluation.model_card import PENDING, missing_sections
from churn_assets.lib.evaluation.policy import EvaluationPolicy, FairnessPolicy
from churn_assets.lib.evaluation.report import evaluate
from churn_assets.lib.features.engineering import TARGET_COL
from churn_assets.lib.training.champion import ChampionCandidate, CostModel, ThresholdChoice


class _TenureModel:
    """Short tenure, high risk: enough of a model for a card."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp((frame["tenure"].to_numpy() - 24) / 12))
        return np.column_stack([1 - p, p])


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    return pd.DataFrame(
        {
            "customerID": [f"c{seed}-{i}" for i in range(n)],
            "snapshot_month": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 2, n) * 31, "D"),
            "gender": rng.choice(["Female", "Male"], n),
            "SeniorCitizen": rng.choice([0, 1], n),
            "Contract": rng.choice(["Month-to-month", "One year", "Two year"], n),
            "tenure": tenure,
            TARGET_COL: (rng.uniform(size=n) < 1 / (1 + np.exp((tenure - 24) / 12))).astype(int),
        }
    )


def _candidate(run_id: str, model_uri: str) -> ChampionCandidate:
    choice = ThresholdChoice(0.3, "expected", 1.0, 1.0, 0.01, 0.4, 0.35, 0.6, 0.58)
    return ChampionCandidate(
        family="logreg",
        model=_TenureModel(),
        input_columns=["tenure"],
        threshold=0.3,
        calibration="none",
        costs=CostModel(),
        selection_metric="roc_auc",
        validation_metrics={"roc_auc": 0.8},
        threshold_choice=choice,
        leaderboard=pd.DataFrame(),
        calibration_table=pd.DataFrame(),
        mlflow_run_id=run_id,
        mlflow_model_uri=model_uri,
    )


@pytest.fixture
def inputs(churn_home: Path, contract: DataContract) -> dict:
    import mlflow

    from churn_assets.lib.tracking import default_tracking_uri, setup

    experiment = setup(default_tracking_uri(churn_home), "churn-platform", churn_home)
    with mlflow.start_run(experiment_id=experiment) as source:
        mlflow.log_param("best.C", 0.5)
    with mlflow.start_run(experiment_id=experiment, tags={"source_run_id": source.info.run_id}):
        run_id = mlflow.active_run().info.run_id
    champion = _candidate(run_id, f"runs:/{run_id}/model")
    splits = {"train": _frame(600, 1), "validation": _frame(200, 2), "test": _frame(400, 3)}
    test = splits["test"]
    return {
        "champion_candidate": champion,
        "validated_customers": pd.concat(splits.values(), ignore_index=True),
        "quarantined_customers": _frame(7, 4),
        "train_set": splits["train"],
        "validation_set": splits["validation"],
        "test_set": test,
        "evaluation_report": evaluate(
            champion, test, TARGET_COL, list(contract.slices), EvaluationPolicy(n_bootstrap=20)
        ),
        "fairness_report": assess_candidate(
            champion, test, TARGET_COL, list(contract.sensitive), FairnessPolicy()
        ),
        "explanations": pd.DataFrame({"feature": ["tenure"], "mean_abs_shap": [0.61234]}),
    }


def _resources(home: Path) -> dict:
    return {"platform": ChurnPlatform(home=str(home)), "mlflow": MlflowTracking(home=str(home))}


def test_the_card_needs_no_file_another_step_wrote(churn_home: Path, inputs: dict) -> None:
    from mlflow import MlflowClient

    # Nothing under the reports folder: as on a fresh machine running only this step.
    assert not (churn_home / "reports").exists()
    output = model_card(**_resources(churn_home), **inputs)
    card = output.value
    assert missing_sections(card) == [] and PENDING in card
    assert output.metadata["missing_sections"].value == []
    assert "Rows: 1,200 validated (7 quarantined)" in card
    assert "`C` = 0.5" in card  # best parameters from the source run in MLflow
    for name, value in inputs["evaluation_report"].mlflow_metrics().items():
        assert f"{round(value, 4)}" in card, name
    assert "0.6123" in card and "SeniorCitizen" in card
    run_id = inputs["champion_candidate"].mlflow_run_id
    logged = {a.path for a in MlflowClient().list_artifacts(run_id, "model_card")}
    assert logged == {"model_card/model_card.md", "model_card/model_card.html"}
    html = (churn_home / "reports" / "model_card" / run_id / "model_card.html").read_text()
    assert html.count("<h1>") == 1  # the card's own title, not a second page heading


def test_reports_of_another_candidate_are_refused(churn_home: Path, inputs: dict) -> None:
    import dataclasses

    other = dataclasses.replace(inputs["champion_candidate"], mlflow_model_uri="runs:/other/model")
    with pytest.raises(dg.Failure, match="evaluation_report and fairness_report measured another"):
        model_card(**_resources(churn_home), **{**inputs, "champion_candidate": other})
