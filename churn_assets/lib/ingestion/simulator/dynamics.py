"""Month to month: who churns, who stays, who joins, and drift from a given month.

Every month each active customer churns with the ground-truth probability of its row
(``Churn == "Yes"`` means "left before the next snapshot"). Churned customers never reappear.
Survivors age by one month and their ``TotalCharges`` grows by the month's ``MonthlyCharges``.
As many new customers (tenure 0, ``TotalCharges`` blank) join as left, so the base stays at
exactly ``n_customers`` rows per month. The base matures slowly (customers older than 72
months accumulate), so without drift the churn rate drifts down by about 0.1 percentage point
per month.

:class:`~churn_assets.lib.ingestion.simulator.config.DriftSpec` switches on covariate shift
(a price rise, more month-to-month contracts) and concept shift from a given month.

Everything is drawn from one ``numpy.random.default_rng(seed)`` in a fixed order, so the same
configuration always yields identical frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_assets.lib.ingestion.simulator.config import SimulationResult, SimulatorConfig
from churn_assets.lib.ingestion.simulator.dirty import make_dirty
from churn_assets.lib.ingestion.simulator.ground_truth import probability_codes
from churn_assets.lib.ingestion.simulator.population import (
    base_charge,
    draw_newcomers,
    initial_base,
)
from churn_assets.lib.ingestion.simulator.schema import COLUMNS, LABELS, M2M, PROFILE_KEYS, YES_NO

# customerID "1234-ABCDE": an affine bijection of the internal integer id onto
# 10^4 * 26^5 codes keeps ids unique while looking random.
_ID_SPACE = 10_000 * 26**5
_ID_MULTIPLIER = 48_271_000_003  # coprime with _ID_SPACE (= 2^9 * 5^4 * 13^5)


def _format_ids(ids: np.ndarray, offset: int) -> np.ndarray:
    """Telco-style ids such as ``"7590-VHVEG"`` as an object array of str."""
    code = (ids.astype(np.int64) * _ID_MULTIPLIER + offset) % _ID_SPACE
    chars = np.empty((ids.size, 10), dtype=np.uint8)
    digits = code // 26**5
    letters = code % 26**5
    for pos in range(3, -1, -1):
        chars[:, pos] = ord("0") + digits % 10
        digits //= 10
    chars[:, 4] = ord("-")
    for pos in range(9, 4, -1):
        chars[:, pos] = ord("A") + letters % 26
        letters //= 26
    return chars.view("S10").ravel().astype("U10").astype(object)


def _downgrade(rng: np.random.Generator, contract: np.ndarray, probability: float) -> np.ndarray:
    moved = (contract != M2M) & (rng.random(contract.size) < probability)
    return np.where(moved, M2M, contract).astype(np.int8)


def simulate(config: SimulatorConfig) -> SimulationResult:
    """Simulate ``config.months`` monthly snapshots of ``config.n_customers`` customers.

    Args:
        config: Simulation settings.

    Returns:
        The snapshots (Telco schema, no probability column) and the aligned ground truth.
    """
    rng = np.random.default_rng(config.seed)
    drift = config.drift
    n = config.n_customers
    id_offset = int(rng.integers(_ID_SPACE))

    codes, tenure = initial_base(rng, n)
    charge = base_charge(codes)
    ids = np.arange(n, dtype=np.int64)
    next_id = n
    # Historic bills differed a little from today's price, hence the jitter.
    history = tenure * charge * np.exp(rng.normal(0.0, 0.03, n))
    total = np.where(tenure > 0, history, np.nan)
    downgrade_probability = 0.0

    parts: dict[str, list[np.ndarray]] = {key: [] for key in (*PROFILE_KEYS, "_id")}
    for key in ("_month", "tenure", "MonthlyCharges", "TotalCharges", "Churn", "_p"):
        parts[key] = []

    for month in range(config.months):
        active = drift if drift is not None and month >= drift.start_month else None
        shift = active.concept_shift if active is not None else 0.0
        price_factor = 1.0 + active.price_rise if active is not None else 1.0
        if drift is not None and month == drift.start_month and drift.month_to_month_shift:
            not_m2m = float(np.mean(codes["Contract"] != M2M))
            if not_m2m > 0:
                downgrade_probability = min(1.0, drift.month_to_month_shift / not_m2m)
                codes["Contract"] = _downgrade(rng, codes["Contract"], downgrade_probability)

        monthly = np.round(charge * price_factor, 2)
        if month > 0:
            # Survivors were billed once more; first-month customers (NaN) start from 0.
            total = np.where(tenure > 0, np.nan_to_num(total) + monthly, np.nan)
        probability = probability_codes(codes, tenure.astype(np.float64), monthly, shift)
        churn = rng.random(probability.size) < probability

        for key in PROFILE_KEYS:
            parts[key].append(codes[key])
        parts["_id"].append(ids)
        parts["_month"].append(np.full(ids.size, month, dtype=np.int64))
        parts["tenure"].append(tenure)
        parts["MonthlyCharges"].append(monthly)
        parts["TotalCharges"].append(np.round(total, 2))
        parts["Churn"].append(churn)
        parts["_p"].append(probability)

        if month == config.months - 1:
            break
        keep = ~churn
        n_new = n - int(keep.sum())
        newcomers = draw_newcomers(rng, n_new)
        if downgrade_probability:  # set once the contract-mix drift has started
            newcomers["Contract"] = _downgrade(rng, newcomers["Contract"], downgrade_probability)
        codes = {key: np.concatenate([value[keep], newcomers[key]]) for key, value in codes.items()}
        charge = np.concatenate([charge[keep], base_charge(newcomers)])
        tenure = np.concatenate([tenure[keep] + 1, np.zeros(n_new, dtype=np.int64)])
        total = np.concatenate([total[keep], np.full(n_new, np.nan)])
        ids = np.concatenate([ids[keep], np.arange(next_id, next_id + n_new, dtype=np.int64)])
        next_id += n_new

    return _assemble(rng, config, parts, id_offset)


def _assemble(
    rng: np.random.Generator,
    config: SimulatorConfig,
    parts: dict[str, list[np.ndarray]],
    id_offset: int,
) -> SimulationResult:
    # Pop the per-month pieces as they are joined so they can be freed early.
    flat = {key: np.concatenate(parts.pop(key)) for key in list(parts)}
    first_month = pd.Timestamp(config.start_month).to_period("M").to_timestamp()
    months = pd.date_range(first_month, periods=config.months, freq="MS")
    months = months.to_numpy(dtype="datetime64[ns]")
    snapshot_month = months[flat["_month"]]
    # Format each distinct customer once, then gather (far cheaper than per row).
    unique_ids, inverse = np.unique(flat["_id"], return_inverse=True)
    customer_id = _format_ids(unique_ids, id_offset)[inverse]

    columns: dict[str, np.ndarray] = {"customerID": customer_id, "snapshot_month": snapshot_month}
    for name in COLUMNS[2:]:
        if name in ("SeniorCitizen", "tenure"):
            columns[name] = flat[name].astype(np.int64)
        elif name in ("MonthlyCharges", "TotalCharges"):
            columns[name] = flat[name].astype(np.float64)
        elif name == "Churn":
            columns[name] = YES_NO[flat[name].astype(np.int8)]
        else:
            columns[name] = LABELS[name][flat[name]]
    truth = pd.DataFrame(
        {
            "customerID": customer_id.copy(),
            "snapshot_month": snapshot_month,
            "churn_probability": flat["_p"],
        }
    )
    if config.dirty_rate > 0:
        make_dirty(rng, columns, flat["_month"], config.dirty_rate)
    # copy=False skips block consolidation, which would transiently need several copies
    # of the object columns (hundreds of MB at a million rows).
    snapshots = pd.DataFrame({name: columns[name] for name in COLUMNS}, copy=False)
    return SimulationResult(snapshots=snapshots, truth=truth)
