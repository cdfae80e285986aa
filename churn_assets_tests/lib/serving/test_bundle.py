"""The serving bundle: what ``write_bundle`` writes is what the service reads back, and the
example request is plain JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.privacy import pseudonym
from churn_assets.lib.serving.bundle import (
    BACKGROUND_FILE,
    CONTRACT_FILE,
    ModelSlot,
    ServingMeta,
    example_record,
    json_value,
    load_model,
    read_meta,
    write_bundle,
)
from churn_assets_tests.lib.serving.test_request_model import CUSTOMER


def _meta(shadow: ModelSlot | None) -> ServingMeta:
    champion = ModelSlot("3", "logreg", 0.3, "sigmoid", mlflow_run_id="abc")
    return ServingMeta("churn-model", champion, "telco", 0.15, shadow=shadow, example=CUSTOMER)


def test_a_bundle_round_trips(tmp_path: Path, contract: DataContract) -> None:
    meta = _meta(ModelSlot("4", "xgboost", 0.5, "isotonic"))
    background = pd.DataFrame([CUSTOMER])
    write_bundle(
        tmp_path, meta, contract.path, {"m": "champion"}, {"m": "shadow"}, background=background
    )
    assert read_meta(tmp_path) == meta
    assert load_model(tmp_path, "champion") == {"m": "champion"}
    assert load_model(tmp_path, "shadow") == {"m": "shadow"}
    assert DataContract.load(tmp_path / CONTRACT_FILE).feature_columns == contract.feature_columns
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / BACKGROUND_FILE), background)


def test_bento_versions_name_both_slots(tmp_path: Path, contract: DataContract) -> None:
    alone = _meta(None)
    write_bundle(tmp_path, alone, contract.path, {"m": "champion"})
    assert read_meta(tmp_path).shadow is None and not (tmp_path / "shadow").exists()
    assert alone.bento_version == "v3"
    assert _meta(ModelSlot("4", "xgboost", 0.5, "none")).bento_version == "v3-shadow-v4"


def test_the_example_is_plain_json(contract: DataContract) -> None:
    frame = pd.DataFrame([CUSTOMER]).astype({"tenure": "int64", "MonthlyCharges": "float64"})
    frame["TotalCharges"] = np.nan
    record = example_record(frame, contract)
    # The id is published in the OpenAPI document: a pseudonym, never the customer's.
    assert record == {
        **CUSTOMER,
        "customerID": pseudonym(CUSTOMER["customerID"]),
        "TotalCharges": None,
    }
    assert type(record["tenure"]) is int  # not numpy.int64
    # A NaN read from a frame is a NumPy float: null too, so serving.json stays valid JSON.
    json.dumps(record, allow_nan=False)
    assert json_value(np.float32("nan")) is None and json_value(np.bool_(True)) is True
