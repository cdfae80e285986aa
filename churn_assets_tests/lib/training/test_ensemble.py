"""The stacked ensemble: out-of-fold blend of the tuned families, a fifth candidate of
champion selection, and everything downstream of a champion working when it wins (MLflow,
evaluation, behaviour checks, SHAP). Its compiled scorer: ``lib/serving/test_ensemble_scorer``."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.evaluation.explain import FieldExplainer, logit
from churn_assets.lib.features.engineering import TARGET_COL
from churn_assets.lib.features.preprocessing import model_input_columns
from churn_assets.lib.training.candidate import select_candidate
from churn_assets.lib.training.champion import CostModel, _calibrator
from churn_assets.lib.training.ensemble import ENSEMBLE, StackedEnsemble, fit_blender, stack
from churn_assets.lib.training.policy import ChampionPolicy
from churn_assets_tests.lib.training.members import tuned_members


@pytest.fixture(scope="module")
def members(splits: dict[str, pd.DataFrame], contract: DataContract):
    return tuned_members(splits["train"], contract)


@pytest.fixture(scope="module")
def stacked(members, splits: dict[str, pd.DataFrame], contract: DataContract):
    return stack(members, splits["train"], contract, folds=3, seed=0)


def test_blender_weights_are_non_negative_and_fit_the_log_loss() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(size=3000)
    y = (signal + rng.normal(size=3000) > 0).astype(int)
    good, noise = signal * 1.7, rng.normal(size=3000)
    coef, _ = fit_blender(np.column_stack([good, noise, -good]), y)
    assert (coef >= 0).all()
    assert coef[0] > 0.5 and coef[1] < 0.05 and coef[2] == 0.0  # the anti-member gets none
    from sklearn.linear_model import LogisticRegression

    free = LogisticRegression(C=1e6).fit(good[:, None], y)
    single, b = fit_blender(good[:, None], y, l2=0.0)
    assert single[0] == pytest.approx(free.coef_[0, 0], rel=1e-3)
    assert b == pytest.approx(free.intercept_[0], abs=1e-3)


def test_stack_blends_out_of_fold_and_costs_folds_times_members(
    stacked, members, splits, contract: DataContract
) -> None:
    ensemble = stacked.ensemble
    # Members in the order given; a family the blender gives no weight is left out.
    names = [name for name, _ in ensemble.members]
    assert sorted(names + stacked.dropped) == sorted(m.family for m in members)
    assert names == [m.family for m in members if m.family in names]
    assert all(w > 0 for w in ensemble.coef) and len(names) >= 2
    assert stacked.fits == 3 * len(members)
    assert stacked.oof_roc_auc > 0.75
    assert set(stacked.member_oof_roc_auc) == {m.family for m in members}
    assert "12 out-of-fold fits" in stacked.describe()["refit_cost"]
    # The raw contract frame in, a blend of the members' logits out; picklable.
    rows = splits["validation"][model_input_columns(contract)]
    p = ensemble.predict_proba(rows)
    kept = [m for m in members if m.family in names]
    members_logits = np.column_stack([logit(m.pipeline.predict_proba(rows)[:, 1]) for m in kept])
    from scipy.special import expit

    want = expit(members_logits @ np.array(ensemble.coef) + ensemble.intercept)
    np.testing.assert_allclose(p[:, 1], want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    again = pickle.loads(pickle.dumps(ensemble))
    np.testing.assert_array_equal(again.predict_proba(rows), p)


def test_the_ensemble_competes_on_the_leaderboard(members, splits, contract) -> None:
    assert ChampionPolicy().ensemble is True and ChampionPolicy().ensemble_folds == 3
    members = [m for m in members if m.family in ("logreg", "xgboost")]  # the two fast ones
    costs = CostModel()
    kwargs = {"seed": 0, "train_set": splits["train"], "ensemble_folds": 2}
    selection = select_candidate(
        members, splits["validation"], contract, costs, "roc_auc", ensemble=True, **kwargs
    )
    board = selection.leaderboard
    assert ENSEMBLE in set(board["family"]) and len(board) == len(members) + 1
    assert selection.family == board.loc[0, "family"]
    assert selection.stack is not None and selection.stack.folds == 2
    off = select_candidate(
        members, splits["validation"], contract, costs, "roc_auc", ensemble=False, **kwargs
    )
    assert ENSEMBLE not in set(off.leaderboard["family"]) and off.stack is None
    # Selected by the metric it is ranked on: a selection of the ensemble alone when it
    # beats every family, with every member's tuning run as its lineage.
    best_family = off.leaderboard.loc[0, "roc_auc"]
    if board.loc[board["family"] == ENSEMBLE, "roc_auc"].item() > best_family:
        assert selection.family == ENSEMBLE
        tags = selection.run_tags(contract)
        assert tags["family"] == ENSEMBLE and "run-logreg" in tags["member_run_ids"]


@pytest.mark.parametrize(
    ("metric", "ensemble", "xgboost", "min_gain", "chosen"),
    [
        ("roc_auc", 0.8510, 0.8500, 0.002, "xgboost"),  # +0.0010: not worth a blend
        ("roc_auc", 0.8530, 0.8500, 0.002, "ensemble"),  # +0.0030: it earns it
        ("roc_auc", 0.8510, 0.8500, 0.0, "ensemble"),
        ("brier", 0.1340, 0.1350, 0.002, "xgboost"),  # lower is better: -0.0010
        ("brier", 0.1320, 0.1350, 0.002, "ensemble"),
    ],
)
def test_the_ensemble_must_beat_the_best_family_by_the_required_gain(
    metric: str, ensemble: float, xgboost: float, min_gain: float, chosen: str
) -> None:
    from churn_assets.lib.training.candidate import choose
    from churn_assets.lib.training.champion import leaderboard

    worse = 0.80 if metric == "roc_auc" else 0.20
    board = leaderboard(
        {
            ENSEMBLE: {metric: ensemble},
            "xgboost": {metric: xgboost},
            "logreg": {metric: worse},
        },
        metric,
    )
    assert board.loc[0, "family"] == ENSEMBLE
    family, note = choose(board, metric, min_gain)
    assert family == chosen
    assert ("ensemble_min_gain" in note) == (chosen != ENSEMBLE)


@pytest.mark.parametrize("method", ["none", "sigmoid"])
def test_downstream_of_an_ensemble_champion(
    method: str, stacked, splits, contract: DataContract, tmp_path
) -> None:
    """What consumes a champion candidate works on the ensemble: SHAP (exact sums), the
    behaviour checks' scorer, the evaluation report, MLflow's sklearn flavour."""
    from churn_assets.lib.evaluation.policy import EvaluationPolicy
    from churn_assets.lib.evaluation.report import evaluate
    from churn_assets.lib.training.behaviour import batch_invariance
    from churn_assets.lib.training.champion import ChampionCandidate, choose_threshold

    columns = model_input_columns(contract)
    valid, test = splits["validation"], splits["test"]
    ensemble: StackedEnsemble = stacked.ensemble
    model = ensemble
    if method != "none":
        model = _calibrator(ensemble, method).fit(valid[columns], valid[TARGET_COL])

    # SHAP in log-odds adds up to the ensemble's own log-odds (XGBoost computes in float32).
    explainer = FieldExplainer(model, splits["train"][columns], max_background=60)
    assert explainer.kind == ENSEMBLE
    rows = test[columns].head(25)
    contributions = explainer.contributions(rows)
    total = contributions.sum(axis=1).to_numpy() + explainer.base_value
    np.testing.assert_allclose(total, logit(ensemble.predict_proba(rows)[:, 1]), rtol=0, atol=5e-5)
    assert len(explainer.top_reasons(rows, k=2)[0]) == 2

    if method == "none":
        return
    y_valid = valid[TARGET_COL].to_numpy()
    choice = choose_threshold(y_valid, model.predict_proba(valid[columns])[:, 1], CostModel())
    candidate = ChampionCandidate(
        family=ENSEMBLE,
        model=model,
        input_columns=columns,
        threshold=choice.threshold,
        calibration=method,
        costs=CostModel(),
        selection_metric="roc_auc",
        validation_metrics={},
        threshold_choice=choice,
        leaderboard=pd.DataFrame(),
        calibration_table=pd.DataFrame(),
    )
    assert batch_invariance(candidate.predict_proba, test.head(200), sample_rows=5).passed
    report = evaluate(candidate, test, TARGET_COL, ["Contract"], EvaluationPolicy(n_bootstrap=20))
    assert report.family == ENSEMBLE and not report.metrics.empty

    import mlflow

    from churn_assets.lib.tracking import log_model

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        logged = log_model(candidate.model, valid[columns], contract)
    pyfunc = mlflow.pyfunc.load_model(logged.model_uri)
    via_mlflow = np.asarray(pyfunc.predict(test[columns]))[:, 1]
    np.testing.assert_allclose(via_mlflow, candidate.predict_proba(test), rtol=0, atol=1e-12)
