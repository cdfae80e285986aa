"""The family registry: every registered spec is complete and consistent end to end (it tunes,
refits behind the preprocessing, compiles to the pipeline's own scores, and explains them),
the registry matches the family modules, and the modules stay import-light."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.evaluation.explain import FieldExplainer, logit
from churn_assets.lib.evaluation.scores import score_metrics
from churn_assets.lib.features.engineering import TARGET_COL
from churn_assets.lib.serving.scorer import CompiledScorer
from churn_assets.lib.tracking import model_requirements
from churn_assets.lib.training import families
from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.champion import _calibrator
from churn_assets.lib.training.families import FAMILIES, spec, spec_of
from churn_assets.lib.training.families.base import FamilySpec
from churn_assets.lib.training.studies import study_storage
from churn_assets.lib.training.tuning import fit_final, tune

TWO_TRIALS = TuningBudget(n_trials=2, timeout_s=60, cv_folds=2, max_boosting_rounds=200)


def test_registry_lists_every_family_module() -> None:
    # Adding a family is a module here plus its name in `Family`: forgetting either fails.
    folder = Path(families.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "base"}
    assert modules == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_spec_declares_everything(family: str) -> None:
    family_spec = spec(family)
    assert isinstance(family_spec, FamilySpec)
    assert family_spec.name == family
    assert family_spec.kinds and all(isinstance(k, str) and k for k in family_spec.kinds)
    assert family_spec.estimator_class
    pinned = model_requirements()
    for package in family_spec.requirements:
        assert importlib.metadata.version(package)  # installed
        assert any(pin.startswith(f"{package}==") for pin in pinned)  # logged with models


def test_unknown_families_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown model family"):
        spec("svm")
    with pytest.raises(LookupError, match="DummyClassifier"):
        from sklearn.dummy import DummyClassifier

        spec_of(DummyClassifier())


@pytest.mark.parametrize("family", FAMILIES)
def test_family_tunes_compiles_and_explains(
    family: str, prepared, splits: dict[str, pd.DataFrame], contract: DataContract, tmp_path
) -> None:
    family_spec = spec(family)
    preprocessor, columns, X, y = prepared
    result = tune(family, X, y, TWO_TRIALS, study_storage(None, tmp_path), f"t-{family}", seed=1)
    assert result.n_complete + result.n_pruned == 2
    assert 0.6 < result.best_cv_auc <= 1.0
    if family_spec.early_stopping:
        assert result.final_rounds is not None and 1 <= result.final_rounds <= 200
    else:
        assert result.final_rounds is None

    # One pipeline, contract fields in: what is tuned is what is served.
    pipeline = fit_final(result, preprocessor, splits["train"][columns], y)
    estimator = pipeline.named_steps["model"]
    assert type(estimator).__name__ == family_spec.estimator_class
    assert spec_of(estimator) is family_spec
    valid = splits["validation"]
    expected = pipeline.predict_proba(valid[columns])[:, 1]
    assert score_metrics(valid[TARGET_COL].to_numpy(), expected)["roc_auc"] > 0.7

    # The compiled scorer gives the pipeline's scores, plain and calibrated, on every path.
    sigmoid = _calibrator(pipeline, "sigmoid").fit(valid[columns], valid[TARGET_COL])
    for model in (pipeline, sigmoid):
        want = model.predict_proba(valid[columns])[:, 1]
        scorer = CompiledScorer.compile(model, contract, family)
        assert scorer.family == family
        np.testing.assert_allclose(scorer.predict_proba(valid[columns]), want, atol=1e-9)
        records = valid[columns].head(5).to_dict("records")
        singles = [scorer.predict_proba([r])[0] for r in records]
        np.testing.assert_allclose(singles, want[:5], atol=1e-9)

    # The explainer explains the model's own output in one unit for every family: from its
    # base value, contributions add up to the log-odds of P(churn) (clipped where a forest is
    # certain; XGBoost computes in float32).
    explainer = FieldExplainer(pipeline, splits["train"][columns], max_background=100)
    rows = valid[columns].head(30)
    contributions = explainer.contributions(rows)
    assert list(contributions.columns) == explainer.fields
    total = contributions.sum(axis=1).to_numpy() + explainer.base_value
    log_odds = logit(pipeline.predict_proba(rows)[:, 1])
    atol = 2e-5 if family == "xgboost" else 1e-6
    np.testing.assert_allclose(total, log_odds, rtol=0, atol=atol)


def test_family_modules_are_import_light() -> None:
    # The definitions read every spec's kinds when they load (issue #10: no ML stack then).
    probe = (
        "import sys; from churn_assets.lib.training.families import FAMILIES, spec;"
        "[spec(f).kinds for f in FAMILIES];"
        "heavy = ['numpy', 'pandas', 'sklearn', 'scipy', 'xgboost', 'lightgbm', 'shap'];"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
