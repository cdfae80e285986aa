"""Declared features: the contract's `features` list is validated with errors that say what
to fix, the built-in Telco declarations reproduce the formulas they replaced exactly, and a
fitted pipeline carries its declarations (no contract file needed to score)."""

from __future__ import annotations

import bisect
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import ContractError, DataContract
from churn_assets.lib.features.engineering import FeatureBuilder, feature_column
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.features.telco import ADD_ONS
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate

BASE = """\
schema_type: dataframe
api: pandas
name: toy
columns:
  id: {dtype: str}
  plan: {dtype: str, isin: [basic, premium]}
  region: {dtype: str}
  fee: {dtype: float64}
  tickets: {dtype: int64}
  gone: {dtype: str, isin: ["Y", "N"]}
metadata:
  churn_contract:
    id: id
    target: {column: gone, positive: "Y", negative: "N"}
    features:
"""


def load(tmp_path: Path, features: str) -> DataContract:
    path = tmp_path / "toy.yaml"
    path.write_text(BASE + features)
    return DataContract.load(path)


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ("      - {name: f, kind: sqrt, column: fee}", "unknown kind 'sqrt'; use one of"),
        ("      - {name: f, kind: log1p, column: feee}", "unknown column 'feee'; use a feature"),
        ("      - {name: f, kind: log1p, column: id}", "not a model feature (its role: id)"),
        ("      - {name: f, kind: log1p, column: plan}", "'plan' is categorical, this needs a "),
        ("      - {name: f, kind: flag, column: region, gt: 3}", "needs a numeric column"),
        ("      - {name: fee, kind: log1p, column: tickets}", "clashes with a contract column"),
        ("      - {name: f, kind: log1p, colum: fee}", "missing ['column']"),
        ("      - {name: f, kind: flag, column: plan, equals: gold}", "not among 'plan'"),
        ("      - {name: f, kind: interaction, columns: [fee, plan]}", "bucket the numeric one"),
        ("      - {name: f, kind: bucket, column: fee, edges: [5, 1]}", "increase strictly"),
        (
            "      - {name: a, kind: ratio, numerator: fee, denominator: b}\n"
            "      - {name: b, kind: difference, columns: [a, fee]}",
            "depends on itself (a -> b -> a)",
        ),
        (
            "      - {name: a, kind: log1p, column: fee}\n"
            "      - {name: a, kind: log1p, column: fee}",
            "declares ['a'] twice",
        ),
    ],
)
def test_invalid_declarations_name_file_feature_and_fix(
    tmp_path: Path, features: str, expected: str
) -> None:
    with pytest.raises(ContractError, match=r"toy\.yaml: `features`") as caught:
        load(tmp_path, features + "\n")
    assert expected in str(caught.value)


def test_features_may_read_later_declared_features(tmp_path: Path) -> None:
    contract = load(
        tmp_path,
        "      - {name: fee_band, kind: bucket, column: log_fee, edges: [1, 2]}\n"
        "      - {name: log_fee, kind: log1p, column: fee}\n",
    )
    assert [f.name for f in contract.engineered_features] == ["log_fee", "fee_band"]
    assert contract.engineered_features[1].output == "categorical"


# ---------------------------------------------------------------------- Telco reference
# The formulas the declarations replaced (churn_assets/lib/features/engineering.py before
# #14), kept here verbatim as the reference the built-in contract must reproduce.
_EDGES, _LABELS = (6, 12, 24, 48), ("0-6", "7-12", "13-24", "25-48", "49+")
_ADD_ONS = ("OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport")
_ADD_ONS += ("StreamingTV", "StreamingMovies")


def reference_columns(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    months = np.maximum(cols["tenure"], 1.0)
    total = cols["TotalCharges"]
    avg = np.where(np.isnan(total), 0.0, total) / months
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = cols["MonthlyCharges"] / np.where(avg > 0, avg, np.nan)
    ratio = np.where(cols["tenure"] > 0, ratio, 1.0)
    ratio = np.clip(np.where(np.isnan(ratio), 1.0, ratio), 0.0, 10.0)
    count = (cols["PhoneService"] == "Yes").astype(float) + (
        cols["InternetService"] != "No"
    ).astype(float)
    for col in _ADD_ONS:
        count += cols[col] == "Yes"
    index = np.searchsorted(np.asarray(_EDGES), cols["tenure"], side="left")
    bands = np.asarray(_LABELS, dtype=object)[np.minimum(index, len(_LABELS) - 1)]
    automatic = np.char.find(cols["PaymentMethod"].astype(str), "(automatic)") >= 0
    return {
        "avg_monthly_spend": avg,
        "price_change_ratio": ratio,
        "service_count": count,
        "tenure_band": np.where(np.isnan(cols["tenure"]), "nan", bands).astype(object),
        "auto_payment": np.where(automatic, "Yes", "No").astype(object),
    }


def reference_row(row: dict) -> dict:
    def f(v: object) -> float:
        return float("nan") if v is None else float(v)

    tenure, total = f(row["tenure"]), f(row["TotalCharges"])
    months = tenure if tenure != tenure or tenure >= 1.0 else 1.0
    avg = (0.0 if total != total else total) / months
    if not tenure > 0:
        ratio = 1.0
    else:
        ratio = f(row["MonthlyCharges"]) / avg if avg > 0 else float("nan")
        ratio = 1.0 if ratio != ratio else min(max(ratio, 0.0), 10.0)
    count = (row["PhoneService"] == "Yes") + (row["InternetService"] != "No")
    band = "nan" if tenure != tenure else _LABELS[min(bisect.bisect_left(_EDGES, tenure), 4)]
    return {
        "avg_monthly_spend": avg,
        "price_change_ratio": ratio,
        "service_count": float(count + sum(row[c] == "Yes" for c in _ADD_ONS)),
        "tenure_band": band,
        "auto_payment": "Yes" if "(automatic)" in str(row["PaymentMethod"]) else "No",
    }


def with_edges(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy().reset_index(drop=True)
    frame.loc[:9, "tenure"] = [0, 0, 1, 6, 7, 12, 13, 48, 49, 600]
    frame.loc[0, "TotalCharges"] = 25.0  # billed in month 0: still "no history"
    frame.loc[10:14, "TotalCharges"] = np.nan
    frame.loc[15:16, "TotalCharges"] = [0.0, 1e5]
    frame.loc[17:20, "PaymentMethod"] = ["Cheque (automatic)", "Bitcoin", None, np.nan]
    frame.loc[21:22, "InternetService"] = ["Satellite", None]
    return frame


def test_telco_declarations_reproduce_the_replaced_formulas(
    contract: DataContract, telco_csv: Path
) -> None:
    real = pd.read_csv(telco_csv)
    real["TotalCharges"] = pd.to_numeric(real["TotalCharges"], errors="coerce")  # blanks
    simulated = simulate(SimulatorConfig(n_customers=1500, months=2, seed=5)).snapshots
    builder = FeatureBuilder(contract.engineered_features)
    compiled = builder.compiled()
    for frame in (with_edges(real), with_edges(simulated)):
        built = builder.fit_transform(frame[contract.feature_columns])
        cols = {c: feature_column(frame[c]) for c in contract.feature_columns}
        for name, want in reference_columns(cols).items():
            got = built[name].to_numpy()
            assert got.dtype == want.dtype, name
            np.testing.assert_array_equal(got, want, err_msg=name)
        for record in frame[contract.feature_columns].to_dict("records"):
            want = reference_row(record)
            for feature in compiled:
                record[feature.name] = feature.compute_row(record)
                assert record[feature.name] == want[feature.name], (feature.name, record)


def test_service_count_counts_the_add_ons_the_simulator_draws(contract: DataContract) -> None:
    spec = next(f for f in contract.engineered_features if f.name == "service_count")
    assert tuple(c.column for c in spec.conditions[2:]) == ADD_ONS == _ADD_ONS


# ---------------------------------------------------------------------- self-contained
def test_a_fitted_pipeline_scores_without_its_contract_file(tmp_path: Path) -> None:
    contract = load(
        tmp_path,
        "      - {name: fee_per_ticket, kind: ratio, numerator: fee, denominator: tickets,"
        " min_denominator: 1}\n"
        "      - {name: premium, kind: flag, column: plan, equals: premium}\n",
    )
    rows = pd.DataFrame(
        {"plan": ["basic", "premium"], "region": ["n", "s"], "fee": [9.0, 20.0], "tickets": [0, 4]}
    )
    pipeline = build_preprocessor(contract).fit(rows[model_input_columns(contract)])
    blob = pickle.dumps(pipeline)
    Path(contract.path).unlink()
    restored = pickle.loads(blob)
    engineered = restored.named_steps["engineer"].transform(rows)
    assert engineered["fee_per_ticket"].tolist() == [9.0, 5.0]
    assert engineered["premium"].tolist() == [0.0, 1.0]
    np.testing.assert_array_equal(restored.transform(rows), pipeline.transform(rows))


def test_a_builder_pickled_with_feature_names_still_computes(contract: DataContract) -> None:
    # Models registered before #14 stored the names of the built-in features.
    frame = simulate(SimulatorConfig(n_customers=50, months=1, seed=2)).snapshots
    by_names = FeatureBuilder(tuple(f.name for f in contract.engineered_features))
    by_specs = FeatureBuilder(contract.engineered_features)
    pd.testing.assert_frame_equal(by_names.fit_transform(frame), by_specs.fit_transform(frame))
