"""Feature columns that look like identifiers (an account number, an e-mail, a row number).

A model can memorise an identifier and look excellent in training while learning nothing
that carries to new customers; the contract is the place to say so (``id`` or
``exclude_from_features``), so the features step only warns. A column looks like an
identifier when it takes a distinct value for (nearly) every customer:

- a string column with more than ``max_share`` distinct values per customer;
- an integer column as distinct, unique per row or constant for each customer across
  snapshots, whose values are also monotone in row order or dense (a range barely wider
  than the number of values: a counter), so an integer measure (bytes used, minutes) is not
  taken for one.

Customers, not rows, are counted: with monthly snapshots an account number repeats once per
month. The check reads a sample of rows, so it costs the same on any table size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.contract import DataContract

MAX_SHARE = 0.95
MIN_ROWS = 50  # fewer customers than this: too few to tell
SAMPLE_ROWS = 5_000
HINT = "looks like an identifier: exclude it with `exclude_from_features`"


def identifier_like_columns(
    frame: pd.DataFrame, contract: DataContract, max_share: float = MAX_SHARE
) -> dict[str, str]:
    """Feature columns of ``frame`` that look like identifiers, each with the evidence.

    Args:
        frame: rows of contract fields (the validated table).
        contract: says which columns are features and which one is the customer id.
        max_share: distinct values per customer above which a column is suspect.
    """
    if len(frame) > SAMPLE_ROWS:  # a sorted random sample keeps the row order
        rows = np.sort(np.random.default_rng(0).choice(len(frame), SAMPLE_ROWS, replace=False))
        frame = frame.iloc[rows]
    ids = frame.get(contract.id_column)
    customers = ids.nunique() if ids is not None else len(frame)
    if customers < MIN_ROWS:
        return {}
    found: dict[str, str] = {}
    for column in contract.feature_columns:
        if column not in frame:
            continue
        info = contract.column_info(column)
        if info.allowed_values is not None and len(info.allowed_values) <= max_share * customers:
            continue  # a declared short list of values cannot be unique per customer
        kind = info.kind
        values = frame[column].dropna()
        distinct = values.nunique()
        share = distinct / customers
        if share <= max_share:
            continue
        evidence = f"{distinct:,} distinct values for {customers:,} customers"
        if kind == "categorical":
            found[column] = evidence
        elif (
            kind == "numeric"
            and _counter_like(values.to_numpy(dtype=np.float64), distinct)
            and (
                distinct > max_share * len(values)  # unique per row
                or ids is None
                or frame.groupby(ids)[column].nunique().max() <= 1  # one value per customer
            )
        ):
            found[column] = f"{evidence}, integers in a near-contiguous or monotone run"
    return found


def _counter_like(values: np.ndarray, distinct: int) -> bool:
    if not len(values) or not np.all(values == np.round(values)):
        return False
    span = values.max() - values.min() + 1
    diffs = np.diff(values)
    return bool(span <= 2 * distinct or np.all(diffs > 0) or np.all(diffs < 0))


def identifier_warnings(frame: pd.DataFrame, contract: DataContract) -> list[str]:
    """One line per identifier-like feature column: name, evidence and the fix."""
    return [
        f"{column!r} {HINT} ({evidence})"
        for column, evidence in identifier_like_columns(frame, contract).items()
    ]
