"""History features: point-in-time correct (a later snapshot never changes an earlier row),
first snapshots get nulls, the frame and record paths agree exactly, and bad declarations
are contract errors naming the file, the entry and what is allowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import ContractError, DataContract
from churn_assets.lib.features.history import (
    COUNT_INPUT,
    add_history,
    compile_history,
    history_inputs,
    parse_history,
)

BASE = """\
schema_type: dataframe
api: pandas
name: toy
columns:
  id: {dtype: str}
  month: {dtype: "datetime64[ns]"}
  plan: {dtype: str, isin: [basic, premium]}
  fee: {dtype: float64}
  tickets: {dtype: int64}
  gone: {dtype: str, isin: ["Y", "N"]}
metadata:
  churn_contract:
    id: id
    target: {column: gone, positive: "Y", negative: "N"}
    event_time: month
    history:
"""
GOOD = """\
      - {name: fee_prev, kind: lag, column: fee}
      - {name: fee_lag2, kind: lag, column: fee, lag: 2}
      - {name: fee_delta, kind: delta, column: fee}
      - {name: fee_trend, kind: trend, column: fee, window: 3}
      - {name: tickets_trend, kind: trend, column: tickets, window: 4}
      - {name: seen, kind: count}
"""


def load(tmp_path: Path, history: str, base: str = BASE) -> DataContract:
    path = tmp_path / "toy.yaml"
    path.write_text(base + history)
    return DataContract.load(path)


def snapshots(n_customers: int = 60, months: int = 6, seed: int = 3) -> pd.DataFrame:
    """Shuffled snapshots, some customers joining late and some months missing."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        first = int(rng.integers(0, 3))
        for m in range(first, months):
            if rng.random() < 0.15:
                continue
            fee = float(rng.normal(60, 20)) if rng.random() > 0.05 else np.nan
            rows.append(
                {
                    "id": f"c{c}",
                    "month": pd.Timestamp("2026-01-01") + pd.DateOffset(months=m),
                    "plan": "basic",
                    "fee": fee,
                    "tickets": int(rng.integers(0, 5)),
                }
            )
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def features(contract: DataContract, frame: pd.DataFrame) -> pd.DataFrame:
    return add_history(frame, "id", "month", parse_history(contract))


def test_a_later_snapshot_never_changes_an_earlier_row(tmp_path):
    contract = load(tmp_path, GOOD)
    frame = snapshots()
    before = features(contract, frame)
    cutoff = pd.Timestamp("2026-04-01")
    later = frame["month"] >= cutoff
    changed = frame.copy()
    changed.loc[later, "fee"] = changed.loc[later, "fee"] * 10 + 1000
    changed.loc[later, "tickets"] = 99
    after = features(contract, changed)
    names = [*history_inputs(parse_history(contract)), *(s.name for s in parse_history(contract))]
    earlier = ~later
    pd.testing.assert_frame_equal(before.loc[earlier, names], after.loc[earlier, names])
    # ...and the history does use earlier snapshots: the changed rows' successors moved.
    assert not before.loc[later, "fee_prev"].equals(after.loc[later, "fee_prev"])


def test_values_come_from_strictly_earlier_snapshots_of_the_same_customer(tmp_path):
    contract = load(tmp_path, GOOD)
    frame = snapshots()
    out = features(contract, frame)
    for _, rows in out.groupby("id"):
        rows = rows.sort_values("month")
        fee = rows["fee"].to_numpy()
        np.testing.assert_array_equal(rows["fee_prev1"], np.r_[np.nan, fee[:-1]])
        np.testing.assert_array_equal(
            rows["fee_prev2"], np.r_[np.nan, np.nan, fee[:-2]][: len(fee)]
        )
        np.testing.assert_array_equal(rows[COUNT_INPUT], np.arange(len(rows), dtype=float))
        np.testing.assert_array_equal(rows["fee_delta"], fee - rows["fee_prev1"].to_numpy())
        last = rows.iloc[-1]
        window = [last["fee"], last["fee_prev1"], last["fee_prev2"]]
        points = [(-k, y) for k, y in enumerate(window) if not np.isnan(y)]
        if len(points) >= 2:
            x, y = np.array(points).T
            assert last["fee_trend"] == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-9)


def test_first_snapshots_get_nulls_and_count_zero(tmp_path):
    contract = load(tmp_path, GOOD)
    out = features(contract, snapshots())
    first = out.groupby("id")["month"].transform("min") == out["month"]
    for name in ("fee_prev", "fee_lag2", "fee_delta", "fee_trend", "tickets_trend"):
        assert out.loc[first, name].isna().all(), name
    assert (out.loc[first, "seen"] == 0).all()
    assert out.loc[~first, "fee_prev"].notna().any()


def test_frame_and_record_paths_agree_exactly(tmp_path):
    specs = parse_history(load(tmp_path, GOOD))
    out = add_history(snapshots(n_customers=300), "id", "month", specs)
    records = out.astype(object).where(out.notna(), None).to_dict("records")
    for spec in specs:
        row_fn = compile_history(spec).compute_row
        by_row = np.array([row_fn(r) for r in records], dtype=np.float64)
        np.testing.assert_array_equal(by_row, out[spec.name].to_numpy(dtype=np.float64))


def test_repeated_snapshots_are_refused(tmp_path):
    specs = parse_history(load(tmp_path, GOOD))
    frame = snapshots()
    with pytest.raises(ValueError, match="one row per"):
        add_history(pd.concat([frame, frame.head(1)]), "id", "month", specs)


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ("      - {name: x, kind: lead, column: fee}\n", "unknown kind 'lead'; use one of"),
        ("      - {name: x, kind: lag, column: plan}\n", "`column` 'plan' is not a numeric"),
        ("      - {name: x, kind: lag, column: nope}\n", "not a numeric feature column"),
        ("      - {name: x, kind: lag, column: fee, lag: 0}\n", "`lag` must be a whole number"),
        ("      - {name: x, kind: trend, column: fee, window: 1}\n", "`window` must be"),
        ("      - {name: x, kind: lag, column: fee, window: 3}\n", "unknown key(s) ['window']"),
        ("      - {name: x, kind: delta}\n", "missing ['column']"),
        ("      - {name: fee, kind: count}\n", "already a column or feature"),
        (
            "      - {name: fee_prev1, kind: count}\n      - {name: y, kind: lag, column: fee}\n",
            "clash with a history input",
        ),
    ],
)
def test_bad_declarations_name_file_entry_and_fix(tmp_path, history, message):
    with pytest.raises(ContractError) as err:
        parse_history(load(tmp_path, history))
    assert "toy.yaml: `history`" in str(err.value)
    assert message in str(err.value)


def test_history_needs_a_snapshot_column(tmp_path):
    base = BASE.replace("    event_time: month\n", "")
    with pytest.raises(ContractError, match="declare `event_time`"):
        parse_history(load(tmp_path, GOOD, base=base))


def test_training_refuses_history_it_cannot_use_yet(tmp_path: Path) -> None:
    """Declared history is not computed by training yet: the feature table says so instead
    of training silently without it."""
    from churn_assets.lib.features.engineering import build_feature_table

    contract = load(tmp_path, GOOD)
    frame = snapshots().assign(gone="N")
    with pytest.raises(ContractError, match=r"`history` declares fee_prev, .*remove the `history`"):
        build_feature_table(frame, contract)
