"""Dirty rows: realistic defects for the validation and quarantine path to catch.

``dirty_rate`` gives that share of rows one defect each: a negative ``MonthlyCharges``, an
unknown category spelling, a null in a required categorical column, a ``customerID``
duplicated within its snapshot, or an out-of-range tenure. Dirty rows stay aligned with the
truth, which keeps the true id.
"""

from __future__ import annotations

import numpy as np

from churn_assets.lib.features.telco import ADD_ONS

_SPELLINGS: tuple[tuple[str, str], ...] = (
    ("InternetService", "Fibre"),
    ("InternetService", "fiber optic"),
    ("Contract", "month-to-month"),
    ("Contract", "1 year"),
    ("PaymentMethod", "E-check"),
    ("gender", "F"),
    ("Partner", "Y"),
)
_NULLABLE = (
    "gender",
    "Partner",
    "Dependents",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    *ADD_ONS,
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
)
_TENURE = 999


def make_dirty(
    rng: np.random.Generator,
    columns: dict[str, np.ndarray],
    month: np.ndarray,
    rate: float,
) -> None:
    """Give ``rate`` of the rows one defect each, in place (object columns copied first).

    Args:
        rng: The simulation's generator (drawn from last, so clean rows are unaffected).
        columns: The output columns by name, row-aligned.
        month: Each row's month index (a duplicated id stays within its snapshot).
        rate: Share of rows to spoil.
    """
    n_rows = month.size
    n_dirty = round(rate * n_rows)
    if n_dirty == 0:
        return
    rows = np.sort(rng.choice(n_rows, size=n_dirty, replace=False))
    kind = rng.integers(0, 5, size=n_dirty)
    dirty = np.zeros(n_rows, dtype=bool)
    dirty[rows] = True
    # A duplicate copies the id of the clean row just above in the same month, so the
    # dirty row is the second occurrence; fall back to a negative charge otherwise.
    prev = np.maximum(rows - 1, 0)
    dup_ok = (rows > 0) & (month[prev] == month[rows]) & ~dirty[prev]
    kind = np.where((kind == 3) & ~dup_ok, 0, kind)

    def pick(k: int) -> np.ndarray:
        return rows[kind == k]

    columns["MonthlyCharges"] = columns["MonthlyCharges"].copy()
    neg = pick(0)
    columns["MonthlyCharges"][neg] = -np.abs(columns["MonthlyCharges"][neg]) - 0.01

    spell_rows = pick(1)
    choice = rng.integers(0, len(_SPELLINGS), size=spell_rows.size)
    for index, (name, value) in enumerate(_SPELLINGS):
        target = spell_rows[choice == index]
        if target.size:
            columns[name] = columns[name].copy()
            columns[name][target] = value

    null_rows = pick(2)
    choice = rng.integers(0, len(_NULLABLE), size=null_rows.size)
    for index, name in enumerate(_NULLABLE):
        target = null_rows[choice == index]
        if target.size:
            columns[name] = columns[name].copy()
            columns[name][target] = None

    dup_rows = pick(3)
    columns["customerID"] = columns["customerID"].copy()
    columns["customerID"][dup_rows] = columns["customerID"][dup_rows - 1]

    columns["tenure"] = columns["tenure"].copy()
    columns["tenure"][pick(4)] = _TENURE
