"""The compiled stacked ensemble gives the ensemble's probabilities (plain and calibrated) on
thousands of rows, on the batch, records and single-record paths; and a bundle whose champion
is an ensemble is served by the predictor (packaging, ``CompiledScorer.compile``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import TARGET_COL, build_feature_table
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets.lib.serving.ensemble_scorer import EnsembleScorer
from churn_assets.lib.training.champion import _calibrator
from churn_assets.lib.training.ensemble import ENSEMBLE, StackedEnsemble, fit_blender
from churn_assets_tests.lib.serving.test_scorer import edge_rows
from churn_assets_tests.lib.training.members import tuned_members


@pytest.fixture(scope="module")
def data(contract: DataContract) -> dict[str, pd.DataFrame]:
    snapshots = simulate(SimulatorConfig(n_customers=2500, months=2, seed=4)).snapshots
    table = build_feature_table(validate_frame(snapshots, contract).valid, contract)
    table = table.sample(frac=1.0, random_state=0)
    n = len(table)
    return {
        "train": table.iloc[: n // 3],
        "validation": table.iloc[n // 3 : n // 2],
        "score": table.iloc[n // 2 :],
    }


@pytest.fixture(scope="module")
def ensemble(data, contract: DataContract) -> StackedEnsemble:
    # The blend's weights from in-sample logits: parity does not care how they were fitted.
    members = tuned_members(data["train"], contract)
    probe = StackedEnsemble([(m.family, m.pipeline) for m in members], [1.0] * 4, 0.0)
    columns = contract.feature_columns
    coef, intercept = fit_blender(
        probe.member_logits(data["validation"][columns]), data["validation"][TARGET_COL].to_numpy()
    )
    return StackedEnsemble(probe.members, [float(w) for w in coef], intercept)


@pytest.mark.parametrize("method", ["none", "sigmoid", "isotonic"])
def test_compiled_ensemble_equals_the_ensemble(method, ensemble, data, contract) -> None:
    columns = contract.feature_columns
    validation = data["validation"]
    model = ensemble
    if method != "none":
        model = _calibrator(ensemble, method).fit(validation[columns], validation[TARGET_COL])
    rows = pd.concat([data["score"][columns], edge_rows(data["score"], contract)])
    filled = rows.fillna({"TotalCharges": 0.0})  # the contract's null policy, as in test_scorer
    assert len(rows) > 2000
    expected = model.predict_proba(filled)[:, 1]
    scorer = EnsembleScorer.compile(model, contract, ENSEMBLE)
    assert scorer.family == ENSEMBLE and len(scorer.members) == 4
    np.testing.assert_allclose(scorer.predict_proba(rows), expected, rtol=0, atol=1e-9)
    records = rows.to_dict("records")
    np.testing.assert_allclose(scorer.predict_proba(records), expected, rtol=0, atol=1e-9)
    singles = [scorer.predict_proba([r])[0] for r in records[:300]]
    np.testing.assert_allclose(singles, expected[:300], rtol=0, atol=1e-9)


def test_a_bundled_ensemble_champion_is_served(ensemble, data, contract, tmp_path) -> None:
    from churn_assets.lib.serving.bundle import ModelSlot, ServingMeta, write_bundle
    from churn_assets.lib.serving.predictor import load_predictor

    columns = contract.feature_columns
    validation = data["validation"]
    model = _calibrator(ensemble, "sigmoid").fit(validation[columns], validation[TARGET_COL])
    meta = ServingMeta(
        model_name="churn-model",
        champion=ModelSlot(version="1", family=ENSEMBLE, threshold=0.3, calibration="sigmoid"),
        contract_name=contract.name,
        medium_threshold=0.15,
        example=data["score"][columns].iloc[0].to_dict(),
    )
    folder = write_bundle(tmp_path / "bundle", meta, contract.path, model)
    predictor, _ = load_predictor(folder)
    assert isinstance(predictor.champion, EnsembleScorer)
    records = data["score"][columns].head(50).fillna({"TotalCharges": 0.0}).to_dict("records")
    scored = predictor.score(records, "request-1")
    want = model.predict_proba(pd.DataFrame(records))[:, 1]
    np.testing.assert_allclose([s.probability for s in scored], want, rtol=0, atol=1e-9)
