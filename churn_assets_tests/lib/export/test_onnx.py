"""The exported ONNX model scores raw contract fields as the sklearn pipeline does (within
1e-5), for every family and calibration it accepts, on thousands of rows with edge values;
and what it cannot export exactly is refused with the reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from churn_assets.lib.contract import DataContract
from churn_assets.lib.export.onnx import (
    TOLERANCE,
    ExportError,
    check_parity,
    export_onnx,
    onnx_feeds,
    session,
)
from churn_assets.lib.features.engineering import TARGET_COL
from churn_assets.lib.features.preprocessing import build_preprocessor
from churn_assets.lib.serving.ensemble_scorer import StackedEnsemble
from churn_assets.lib.training.champion import _calibrator
from churn_assets.lib.training.families import spec
from churn_assets_tests.lib.serving.test_scorer import PARAMS, data, edge_rows  # noqa: F401

FAMILIES = list(PARAMS)
# Float64 throughout (trees rebuilt from the fitted models): equal up to rounding.
EXACT = ["logreg", "lightgbm", "random_forest"]


@pytest.fixture(scope="module")
def pipelines(data: dict[str, pd.DataFrame], contract: DataContract) -> dict[str, Pipeline]:  # noqa: F811
    columns = contract.feature_columns
    train = data["train"]
    out = {}
    for family in FAMILIES:
        preprocess = build_preprocessor(contract).fit(train[columns])
        estimator = spec(family).make_estimator(PARAMS[family], n_estimators=150)
        estimator.fit(preprocess.transform(train[columns]), train[TARGET_COL])
        out[family] = Pipeline([("preprocess", preprocess), ("model", estimator)])
    return out


@pytest.fixture(scope="module")
def rows(data: dict[str, pd.DataFrame], contract: DataContract) -> pd.DataFrame:  # noqa: F811
    columns = contract.feature_columns
    odd = data["score"][columns].head(6).copy()
    odd["Contract"] = "Ten year"  # unseen category: all zeros
    odd.loc[odd.index[:3], "PaymentMethod"] = None  # a null categorical: imputed
    odd.loc[odd.index[3:], "MonthlyCharges"] = np.nan  # a null numeric: the median
    frame = pd.concat(
        [data["validation"][columns], data["score"][columns], edge_rows(data["score"], contract)]
    )
    return pd.concat([frame, odd], ignore_index=True)


def _model(pipeline: Pipeline, method: str, splits: dict, contract: DataContract) -> object:
    if method == "none":
        return pipeline
    validation = splits["validation"]
    columns = contract.feature_columns
    return _calibrator(pipeline, method).fit(validation[columns], validation[TARGET_COL])


@pytest.mark.parametrize("method", ["none", "sigmoid", "isotonic"])
@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_scores_equal_the_pipeline(
    family: str,
    method: str,
    pipelines: dict[str, Pipeline],
    rows: pd.DataFrame,
    data: dict,  # noqa: F811
    contract: DataContract,
) -> None:
    model = _model(pipelines[family], method, data, contract)
    if method == "isotonic" and family == "xgboost":  # float32 sums under a steep step
        with pytest.raises(ExportError, match="isotonic calibration is not exported"):
            export_onnx(model, contract, 0.4, family=family)
        return
    result = export_onnx(model, contract, 0.4, family=family, model_version="7")
    assert len(rows) > 2000
    diff = check_parity(model, result.onnx_bytes, rows, contract)
    assert diff <= (1e-12 if family in EXACT else TOLERANCE), (family, method, diff)
    # The decision is the slot's threshold applied to that probability.
    sess = session(result.onnx_bytes)
    numeric = {i.name for i in sess.get_inputs() if i.type == "tensor(double)"}
    proba, label = sess.run(None, onnx_feeds(rows, result.inputs, numeric))
    np.testing.assert_array_equal(label[:, 0], (proba[:, 0] >= 0.4).astype(np.int64))
    assert 0 < label.sum() < len(rows)
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["threshold"] == "0.4" and meta["family"] == family
    assert meta["calibration"] == method and meta["model_version"] == "7"


def test_inputs_are_the_raw_contract_fields(
    pipelines: dict[str, Pipeline], contract: DataContract
) -> None:
    result = export_onnx(pipelines["logreg"], contract, 0.5, family="logreg")
    sess = session(result.onnx_bytes)
    types = {i.name: i.type for i in sess.get_inputs()}
    assert list(types) == contract.feature_columns
    assert {c for c, t in types.items() if t == "tensor(string)"} == set(
        contract.categorical_features
    )


def test_parity_gate_refuses_a_model_that_differs(
    pipelines: dict[str, Pipeline], rows: pd.DataFrame, contract: DataContract
) -> None:
    with pytest.raises(ExportError, match="differs from the pipeline"):
        export_onnx(
            pipelines["xgboost"], contract, 0.5, family="xgboost", check_rows=rows, tolerance=1e-12
        )
    export_onnx(pipelines["xgboost"], contract, 0.5, family="xgboost", check_rows=rows)


def test_a_stacked_ensemble_is_refused(
    pipelines: dict[str, Pipeline], contract: DataContract
) -> None:
    ensemble = StackedEnsemble([(f, pipelines[f]) for f in FAMILIES[:2]], [0.5, 0.5], 0.0)
    with pytest.raises(ExportError, match="stacked ensemble is not exported"):
        export_onnx(ensemble, contract, 0.5, family="ensemble")


def _with_feature(pipeline: Pipeline, feature: object) -> Pipeline:
    import copy

    changed = copy.deepcopy(pipeline)
    builder = changed.named_steps["preprocess"].named_steps["engineer"]
    builder.features = (*builder.features, feature)
    return changed


def test_features_onnx_cannot_express_are_refused(
    pipelines: dict[str, Pipeline], contract: DataContract
) -> None:
    base = contract.engineered_features[0]
    cross = dataclasses.replace(
        base,
        name="tenure_x_contract",
        kind="interaction",
        output="categorical",
        inputs=("tenure", "Contract"),
        params={"columns": ("tenure", "Contract")},
        conditions=(),
    )
    with pytest.raises(ExportError, match=r"kind `interaction`.*numeric field 'tenure'"):
        export_onnx(_with_feature(pipelines["logreg"], cross), contract, 0.5, family="logreg")
    hostile = dataclasses.replace(base, name="evil", kind="python_eval", params={})
    with pytest.raises(ExportError, match="kind 'python_eval' has no ONNX translation"):
        export_onnx(_with_feature(pipelines["logreg"], hostile), contract, 0.5, family="logreg")


def test_trees_that_are_one_leaf_are_exported(
    pipelines: dict[str, Pipeline],
    rows: pd.DataFrame,
    data: dict,  # noqa: F811
    contract: DataContract,
) -> None:
    """TreeEnsemble's roots are splits: a tree that never split (LightGBM's first tree holds
    the initial score) still counts once."""
    columns = contract.feature_columns
    preprocess = pipelines["lightgbm"].named_steps["preprocess"]
    stump = spec("lightgbm").make_estimator(PARAMS["lightgbm"], n_estimators=3)
    stump.set_params(min_child_samples=10**6)  # no split is allowed
    stump.fit(preprocess.transform(data["train"][columns]), data["train"][TARGET_COL])
    assert stump.booster_.dump_model()["tree_info"][0]["num_leaves"] == 1
    model = Pipeline([("preprocess", preprocess), ("model", stump)])
    result = export_onnx(model, contract, 0.5, family="lightgbm")
    assert check_parity(model, result.onnx_bytes, rows, contract) <= 1e-12
