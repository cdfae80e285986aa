"""Deterministic simulator of monthly Telco customer snapshots with a known churn truth.

The simulator produces monthly snapshots of a telecom customer base in the IBM Telco churn
schema (the built-in contract ``churn_assets/contracts/telco.yaml``), together with the
ground-truth churn probability of every row. Everything is driven by one
``numpy.random.default_rng(seed)``, so the same :class:`SimulatorConfig` always yields
identical frames.

Dynamics
--------
* Month 0 holds ``n_customers`` customers whose profiles follow the real Telco marginals
  (contract 55 % month-to-month / 21 % one year / 24 % two year; internet 44 % fibre,
  34 % DSL, 22 % none; 34 % pay by electronic check; 16 % seniors, ...). Each customer's
  tenure (0..72) is drawn from that customer's own survival curve under the ground truth
  below, i.e. the tenure distribution of a company that has been acquiring such customers
  at a constant rate for six years.
* Every month each active customer churns with the ground-truth probability of its row
  (``Churn == "Yes"`` means "left before the next snapshot"). Churned customers never
  reappear. Survivors age by one month and their ``TotalCharges`` grows by the month's
  ``MonthlyCharges``. As many new customers (tenure 0, ``TotalCharges`` blank) join as left,
  so the base stays at exactly ``n_customers`` rows per month. Newcomer profiles are drawn
  from the base mix re-weighted by ``1 / expected lifetime`` (mostly month-to-month), which
  keeps the mix and the monthly churn rate roughly stationary when there is no drift.
* ``MonthlyCharges`` is the list price of the services taken (phone 20, extra lines 5,
  DSL 25, fibre 50, security/backup/device protection/tech support 5 each, TV and movie
  streaming 10 each; 18-120 $ like the real data) times a customer-level price factor
  ``exp(e)``, ``e ~ N(0, 0.06)`` clipped to +-0.15, rounded to cents.

Ground truth (:func:`churn_probability`)
----------------------------------------
The monthly churn probability is ``p = sigmoid(eta)``, computed from contract columns only
(``s`` is ``concept_shift`` in [0, 1], ``ln`` the natural logarithm)::

    eta = -3.00
        + (1 - 0.6 s) * level[Contract] - (1 - 0.6 s) * slope[Contract] * ln(1 + tenure)
              level: Month-to-month 1.00, One year -0.30, Two year -1.60
              slope: Month-to-month 0.35, One year 0.15, Two year 0 (flat)
        + 0.25 * fibre
        + 0.70 * fibre * (1 - TechSupport_yes * (1 - s))  # fibre without tech support
        - 0.60 * no_internet
        - 0.30 * OnlineSecurity_yes
        + 0.50 * (1 - s) * electronic_check
        + 5.0 * (1 + 2 s) * ln(MonthlyCharges / list_price)  # paying above the list price
        + 0.10 * (1 + s) * (MonthlyCharges - 70) / 10        # absolute price level
        + 0.35 * senior - 0.20 * partner - 0.30 * dependents + 0.25 * paperless

The booleans (``fibre``, ``TechSupport_yes``, ``electronic_check``, ``senior``, ...) are 1 when
the row has that value and 0 otherwise. ``list_price`` is the price list above applied to the
row's services (:func:`list_price`), so a price rise (:attr:`DriftSpec.price_rise`) raises
churn through the relative-price term. Month-to-month risk is high in the first months and
falls with log tenure; two-year contracts are low and flat.

With ``s = 0`` the default configuration has a mean monthly churn probability of about
10 % in month 0 and a Bayes-optimal ROC-AUC of about 0.85. The base matures slowly (customers
older than 72 months accumulate), so without drift the churn rate drifts down by about
0.1 percentage point per month. At ``s = 1`` tech support stops protecting fibre customers,
electronic check stops mattering, relative-price sensitivity triples, the absolute price
term doubles and contract and tenure protect 60 % less: the mean churn probability barely
moves (about 10 % -> 11 %), but the month-0 probabilities used as a frozen model's scores
fall from an expected AUC of about 0.85 to about 0.80 on the shifted labels, while the new
Bayes-optimal AUC is about 0.855.

Bayes-optimal AUC
-----------------
:func:`expected_bayes_auc` is the yardstick for a model's test AUC on the same rows. The
labels are Bernoulli(p) draws, so even the true probability cannot reach AUC 1. The AUC counts
correctly ordered (positive, negative) pairs; a pair ``(i, j)`` ordered ``i`` above ``j``
contributes ``p_i (1 - p_j)`` in expectation and the reverse order ``p_j (1 - p_i)``, which is
smaller exactly when ``p_j < p_i``. Ranking by ``p`` therefore maximises the expected pair count,
and no score computed from the features can beat it on average. The closed form depends only on
the rows (their ``p``), not on one lucky or unlucky label draw, so ``expected_bayes_auc(p) -
model_auc`` measures how much signal a model leaves on the table, up to label noise of order
``1 / sqrt(#positives)``; :func:`realized_bayes_auc` is the ceiling on the one label draw at
hand and carries that noise.

Drift and dirty rows
--------------------
:class:`DriftSpec` switches on covariate shift (price rise, more month-to-month contracts)
and concept shift from a given month. ``dirty_rate`` gives that share of rows one realistic
defect each: a negative ``MonthlyCharges``, an unknown category spelling, a null in a
required categorical column, a ``customerID`` duplicated within its snapshot, or an
out-of-range tenure. Dirty rows stay aligned with ``truth``, which keeps the true id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "DriftSpec",
    "SimulationResult",
    "SimulatorConfig",
    "churn_probability",
    "expected_auc",
    "expected_bayes_auc",
    "list_price",
    "realized_bayes_auc",
    "simulate",
    "write_monthly_files",
]

COLUMNS: tuple[str, ...] = (
    "customerID",
    "snapshot_month",
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
    "Churn",
)

# Labels indexed by the integer codes used internally (object arrays so np.take yields str).
_YES_NO = np.array(["No", "Yes"], dtype=object)
_GENDER = np.array(["Female", "Male"], dtype=object)
_MULTI = np.array(["No", "Yes", "No phone service"], dtype=object)
_INTERNET = np.array(["DSL", "Fiber optic", "No"], dtype=object)
_ADDON = np.array(["No", "Yes", "No internet service"], dtype=object)
_CONTRACT = np.array(["Month-to-month", "One year", "Two year"], dtype=object)
_PAYMENT = np.array(
    ["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"],
    dtype=object,
)
_ADDONS = (
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
)
_LABELS: dict[str, np.ndarray] = {
    "gender": _GENDER,
    "Partner": _YES_NO,
    "Dependents": _YES_NO,
    "PhoneService": _YES_NO,
    "MultipleLines": _MULTI,
    "InternetService": _INTERNET,
    **{name: _ADDON for name in _ADDONS},
    "Contract": _CONTRACT,
    "PaperlessBilling": _YES_NO,
    "PaymentMethod": _PAYMENT,
}
_DSL, _FIBER, _NO_INTERNET = 0, 1, 2
_M2M, _ONE_YEAR, _TWO_YEAR = 0, 1, 2
_ECHECK = 0

# Price list in $ per month.
_PRICE_PHONE, _PRICE_EXTRA_LINES = 20.0, 5.0
_PRICE_DSL, _PRICE_FIBER = 25.0, 50.0
_PRICE_ADDON = {
    "OnlineSecurity": 5.0,
    "OnlineBackup": 5.0,
    "DeviceProtection": 5.0,
    "TechSupport": 5.0,
    "StreamingTV": 10.0,
    "StreamingMovies": 10.0,
}

# Ground-truth coefficients (documented in the module docstring; keep both in sync).
_B0 = -3.0
_CONTRACT_LEVEL = np.array([1.00, -0.30, -1.60])
_CONTRACT_TENURE_SLOPE = np.array([0.35, 0.15, 0.0])
_SHIFT_TENURE, _SHIFT_CONTRACT, _SHIFT_ECHECK = 0.6, 0.6, 1.0
_B_FIBER, _B_FIBER_NO_TS, _B_NO_INTERNET = 0.25, 0.70, -0.60
_B_SECURITY, _B_ECHECK = -0.30, 0.50
_B_RATIO, _SHIFT_RATIO = 5.0, 2.0
_B_PRICE, _SHIFT_PRICE, _PRICE_CENTER = 0.10, 1.0, 70.0
_B_SENIOR, _B_PARTNER, _B_DEPENDENTS, _B_PAPERLESS = 0.35, -0.20, -0.30, 0.25

_MAX_BASE_TENURE = 72
_PREMIUM_SD, _PREMIUM_CLIP = 0.06, 0.15
_BASE_CONTRACT_MIX = np.array([0.55, 0.21, 0.24])
_NEWCOMER_POOL_FACTOR = 3

# customerID "1234-ABCDE": an affine bijection of the internal integer id onto
# 10^4 * 26^5 codes keeps ids unique while looking random.
_ID_SPACE = 10_000 * 26**5
_ID_MULTIPLIER = 48_271_000_003  # coprime with _ID_SPACE (= 2^9 * 5^4 * 13^5)

_DIRTY_SPELLINGS: tuple[tuple[str, str], ...] = (
    ("InternetService", "Fibre"),
    ("InternetService", "fiber optic"),
    ("Contract", "month-to-month"),
    ("Contract", "1 year"),
    ("PaymentMethod", "E-check"),
    ("gender", "F"),
    ("Partner", "Y"),
)
_DIRTY_NULLABLE = (
    "gender",
    "Partner",
    "Dependents",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    *_ADDONS,
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
)
_DIRTY_TENURE = 999


@dataclass(frozen=True)
class DriftSpec:
    """Drift switched on from a given month.

    Attributes:
        start_month: 0-based month index from which the drift applies.
        price_rise: Relative ``MonthlyCharges`` increase for every customer, e.g. 0.15
            (covariate shift; churn reacts through the relative-price term).
        month_to_month_shift: Extra share of the base on month-to-month contracts. At
            ``start_month`` each customer on a longer contract is downgraded with probability
            ``month_to_month_shift / share_not_month_to_month``; newcomers from then on are
            moved to month-to-month with the same probability.
        concept_shift: Strength in [0, 1] passed to :func:`churn_probability`.
    """

    start_month: int
    price_rise: float = 0.0
    month_to_month_shift: float = 0.0
    concept_shift: float = 0.0

    def __post_init__(self) -> None:
        if self.start_month < 0:
            raise ValueError("start_month must be >= 0")
        if self.price_rise <= -1.0:
            raise ValueError("price_rise must be > -1")
        if not 0.0 <= self.month_to_month_shift <= 1.0:
            raise ValueError("month_to_month_shift must be in [0, 1]")
        if not 0.0 <= self.concept_shift <= 1.0:
            raise ValueError("concept_shift must be in [0, 1]")


@dataclass(frozen=True)
class SimulatorConfig:
    """Configuration of :func:`simulate`.

    Attributes:
        n_customers: Active customers in every monthly snapshot.
        months: Number of monthly snapshots.
        seed: Seed of the single ``numpy.random.default_rng`` driving everything.
        start_month: First snapshot month, ``YYYY-MM-DD`` (normalised to the 1st).
        dirty_rate: Share of rows given one realistic defect each.
        drift: Optional drift switched on from ``drift.start_month``.
    """

    n_customers: int = 5000
    months: int = 6
    seed: int = 42
    start_month: str = "2026-01-01"
    dirty_rate: float = 0.0
    drift: DriftSpec | None = None

    def __post_init__(self) -> None:
        if self.n_customers < 2:
            raise ValueError("n_customers must be >= 2")
        if self.months < 1:
            raise ValueError("months must be >= 1")
        if not 0.0 <= self.dirty_rate <= 1.0:
            raise ValueError("dirty_rate must be in [0, 1]")
        pd.Timestamp(self.start_month)  # fail early on an unparsable date


@dataclass
class SimulationResult:
    """Output of :func:`simulate`.

    Attributes:
        snapshots: One row per customer and month, columns :data:`COLUMNS`, RangeIndex.
        truth: Same index and row order: ``customerID`` (the true id, also for dirty rows),
            ``snapshot_month`` and ``churn_probability``.
    """

    snapshots: pd.DataFrame
    truth: pd.DataFrame


# --------------------------------------------------------------------------- ground truth


def _list_price_codes(
    phone: np.ndarray, multi: np.ndarray, internet: np.ndarray, addons: dict[str, np.ndarray]
) -> np.ndarray:
    price = _PRICE_PHONE * (phone == 1) + _PRICE_EXTRA_LINES * (multi == 1)
    price = price + _PRICE_DSL * (internet == _DSL) + _PRICE_FIBER * (internet == _FIBER)
    for name, value in _PRICE_ADDON.items():
        price = price + value * (addons[name] == 1)
    return price.astype(np.float64)


def _eta_static(
    codes: dict[str, np.ndarray], monthly: np.ndarray, price: np.ndarray, shift: float
) -> np.ndarray:
    """Logit without the contract x tenure term."""
    internet = codes["InternetService"]
    fiber = internet == _FIBER
    tech_yes = codes["TechSupport"] == 1
    eta = np.full(monthly.shape, _B0)
    eta += _B_FIBER * fiber
    eta += _B_FIBER_NO_TS * fiber * (1.0 - tech_yes * (1.0 - shift))
    eta += _B_NO_INTERNET * (internet == _NO_INTERNET)
    eta += _B_SECURITY * (codes["OnlineSecurity"] == 1)
    eta += _B_ECHECK * (1.0 - _SHIFT_ECHECK * shift) * (codes["PaymentMethod"] == _ECHECK)
    ratio = np.log(np.clip(monthly, 1e-6, None) / np.clip(price, 1e-6, None))
    eta += _B_RATIO * (1.0 + _SHIFT_RATIO * shift) * ratio
    eta += _B_PRICE * (1.0 + _SHIFT_PRICE * shift) * (monthly - _PRICE_CENTER) / 10.0
    eta += _B_SENIOR * (codes["SeniorCitizen"] == 1)
    eta += _B_PARTNER * (codes["Partner"] == 1)
    eta += _B_DEPENDENTS * (codes["Dependents"] == 1)
    eta += _B_PAPERLESS * (codes["PaperlessBilling"] == 1)
    return eta


def _contract_tenure_term(contract: np.ndarray, tenure: np.ndarray, shift: float) -> np.ndarray:
    slope = _CONTRACT_TENURE_SLOPE[contract] * (1.0 - _SHIFT_TENURE * shift)
    level = _CONTRACT_LEVEL[contract] * (1.0 - _SHIFT_CONTRACT * shift)
    return level - slope * np.log1p(tenure)


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-eta))


def _probability_codes(
    codes: dict[str, np.ndarray], tenure: np.ndarray, monthly: np.ndarray, shift: float
) -> np.ndarray:
    price = _list_price_codes(
        codes["PhoneService"], codes["MultipleLines"], codes["InternetService"], codes
    )
    eta = _eta_static(codes, monthly, price, shift)
    eta += _contract_tenure_term(codes["Contract"], tenure, shift)
    return _sigmoid(eta)


def _frame_codes(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Map the label columns of a frame to the internal integer codes (unknown -> -1)."""
    codes: dict[str, np.ndarray] = {}
    for name, labels in _LABELS.items():
        values = frame[name].to_numpy(dtype=object)
        out = np.full(len(values), -1, dtype=np.int8)
        for code, label in enumerate(labels):
            out[values == label] = code
        codes[name] = out
    codes["SeniorCitizen"] = frame["SeniorCitizen"].to_numpy(dtype=np.int64)
    return codes


def list_price(frame: pd.DataFrame) -> np.ndarray:
    """List price in $ per month of each row's services (before the customer price factor).

    Args:
        frame: Rows with the Telco service columns.

    Returns:
        Float array, one price per row.
    """
    codes = _frame_codes(frame)
    return _list_price_codes(
        codes["PhoneService"], codes["MultipleLines"], codes["InternetService"], codes
    )


def churn_probability(frame: pd.DataFrame, concept_shift: float = 0.0) -> np.ndarray:
    """Ground-truth probability that each row churns before the next snapshot.

    Vectorised implementation of the logistic model in the module docstring. Only contract
    columns are used; unknown category spellings count as none of the known levels.

    Args:
        frame: Rows in the Telco schema (clean values expected).
        concept_shift: Strength in [0, 1] of the concept shift.

    Returns:
        Float array of probabilities in (0, 1), one per row.

    Raises:
        ValueError: If ``concept_shift`` is outside [0, 1].
    """
    if not 0.0 <= concept_shift <= 1.0:
        raise ValueError("concept_shift must be in [0, 1]")
    codes = _frame_codes(frame)
    # Unknown contract codes (-1) would index the last level; treat them as month-to-month.
    codes["Contract"] = np.where(codes["Contract"] < 0, _M2M, codes["Contract"])
    tenure = frame["tenure"].to_numpy(dtype=np.float64)
    monthly = frame["MonthlyCharges"].to_numpy(dtype=np.float64)
    return _probability_codes(codes, tenure, monthly, float(concept_shift))


# --------------------------------------------------------------------------- Bayes AUC


def expected_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """Expected ROC-AUC of ``scores`` when the labels are independent Bernoulli(``p``).

    Closed form over ordered pairs ``i != j`` (ties count 1/2)::

        sum p_i (1 - p_j) ([s_i > s_j] + 0.5 [s_i == s_j]) / sum p_i (1 - p_j)

    computed in O(n log n) by sorting the scores.

    Args:
        scores: Any score, higher meaning more likely positive.
        p: True positive probability of each row.

    Returns:
        The expected AUC (ratio of expectations), NaN if undefined.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    prob = np.asarray(p, dtype=np.float64).ravel()
    if s.shape != prob.shape:
        raise ValueError("scores and p must have the same length")
    if s.size < 2:
        return float("nan")
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    p_sorted = prob[order]
    q_sorted = 1.0 - p_sorted
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    q_group = np.add.reduceat(q_sorted, starts)
    q_below = np.cumsum(q_group) - q_group  # negatives' weight in strictly lower groups
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, s.size]))
    # Within a tie group every other member counts 1/2; exclude the row itself.
    numerator = np.sum(p_sorted * (q_below[group] + 0.5 * (q_group[group] - q_sorted)))
    denominator = prob.sum() * (1.0 - prob).sum() - np.sum(prob * (1.0 - prob))
    if denominator <= 0:
        return float("nan")
    return float(numerator / denominator)


def expected_bayes_auc(p: np.ndarray) -> float:
    """Expected ROC-AUC of the true probability used as the score.

    This is the Bayes-optimal ceiling for any model's test AUC on the same rows: see the
    module docstring.

    Args:
        p: True positive probability of each row.

    Returns:
        ``expected_auc(p, p)``.
    """
    return expected_auc(p, p)


def realized_bayes_auc(p: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC of the true probability against one drawn set of labels.

    Args:
        p: True positive probability of each row.
        y: Labels: booleans, 0/1 or ``"Yes"``/``"No"``.

    Returns:
        ``sklearn.metrics.roc_auc_score(y, p)``.
    """
    from sklearn.metrics import roc_auc_score  # lazy: sklearn is slow to import

    labels = np.asarray(y)
    if labels.dtype.kind in "OUS":
        labels = labels == "Yes"
    return float(roc_auc_score(labels.astype(np.int64), np.asarray(p, dtype=np.float64)))


# --------------------------------------------------------------------------- profiles


def _bernoulli(rng: np.random.Generator, prob: np.ndarray | float, n: int) -> np.ndarray:
    return (rng.random(n) < prob).astype(np.int8)


def _categorical(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per row from ``table[rows]`` (rows of class probabilities)."""
    cdf = np.cumsum(table, axis=1)[rows]
    u = rng.random(rows.size)[:, None]
    return np.minimum((u > cdf).sum(axis=1), table.shape[1] - 1).astype(np.int8)


# Conditional tables by contract (rows: M2M, one year, two year), tuned so the base
# marginals match the real Telco data.
_INTERNET_BY_CONTRACT = np.array([[0.33, 0.55, 0.12], [0.36, 0.39, 0.25], [0.35, 0.26, 0.39]])
_PAYMENT_BY_CONTRACT = np.array(
    [[0.49, 0.20, 0.155, 0.155], [0.19, 0.22, 0.30, 0.29], [0.08, 0.27, 0.33, 0.32]]
)
_PARTNER_BY_CONTRACT = np.array([0.36, 0.60, 0.70])
_PAPERLESS_BY_CONTRACT = np.array([0.67, 0.55, 0.45])
# Add-on take-up among internet customers (rows: DSL, fibre).
_ADDON_RATE = {
    "OnlineSecurity": (0.48, 0.28),
    "OnlineBackup": (0.42, 0.45),
    "DeviceProtection": (0.40, 0.47),
    "TechSupport": (0.47, 0.30),
    "StreamingTV": (0.35, 0.58),
    "StreamingMovies": (0.35, 0.59),
}


def _draw_profiles(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Customer profiles (integer codes plus the log price factor) from the base mix."""
    contract = _categorical(rng, _BASE_CONTRACT_MIX[None, :], np.zeros(n, dtype=np.int64))
    rows = contract.astype(np.int64)
    codes: dict[str, np.ndarray] = {"Contract": contract}
    codes["gender"] = _bernoulli(rng, 0.505, n)
    codes["SeniorCitizen"] = _bernoulli(rng, 0.16 + 0.04 * (contract == _M2M), n)
    codes["Partner"] = _bernoulli(rng, _PARTNER_BY_CONTRACT[rows], n)
    codes["Dependents"] = _bernoulli(rng, np.where(codes["Partner"] == 1, 0.52, 0.10), n)
    internet = _categorical(rng, _INTERNET_BY_CONTRACT, rows)
    codes["InternetService"] = internet
    # Phone is optional only for DSL customers, as in the real data.
    phone = np.where(internet == _DSL, _bernoulli(rng, 0.72, n), 1).astype(np.int8)
    codes["PhoneService"] = phone
    extra = _bernoulli(rng, np.where(internet == _FIBER, 0.60, 0.35), n)
    codes["MultipleLines"] = np.where(phone == 1, extra, 2).astype(np.int8)
    is_fiber = (internet == _FIBER).astype(np.int64)
    for name, (rate_dsl, rate_fiber) in _ADDON_RATE.items():
        take = _bernoulli(rng, np.where(is_fiber == 1, rate_fiber, rate_dsl), n)
        codes[name] = np.where(internet == _NO_INTERNET, 2, take).astype(np.int8)
    codes["PaperlessBilling"] = _bernoulli(
        rng, _PAPERLESS_BY_CONTRACT[rows] - 0.25 * (internet == _NO_INTERNET), n
    )
    codes["PaymentMethod"] = _categorical(rng, _PAYMENT_BY_CONTRACT, rows)
    premium = np.clip(rng.normal(0.0, _PREMIUM_SD, n), -_PREMIUM_CLIP, _PREMIUM_CLIP)
    codes["_log_premium"] = premium
    return codes


_PROFILE_KEYS = (
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    *_ADDONS,
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
)


def _base_charge(codes: dict[str, np.ndarray]) -> np.ndarray:
    price = _list_price_codes(
        codes["PhoneService"], codes["MultipleLines"], codes["InternetService"], codes
    )
    return price * np.exp(codes["_log_premium"])


def _survival(codes: dict[str, np.ndarray], charge: np.ndarray) -> np.ndarray:
    """Survival curves S(k), k = 0..72, of each profile under the unshifted ground truth."""
    price = _list_price_codes(
        codes["PhoneService"], codes["MultipleLines"], codes["InternetService"], codes
    )
    monthly = np.round(charge, 2)
    eta_static = _eta_static(codes, monthly, price, 0.0)
    tenures = np.arange(_MAX_BASE_TENURE + 1, dtype=np.float64)
    level = _CONTRACT_LEVEL[codes["Contract"]][:, None]
    slope = _CONTRACT_TENURE_SLOPE[codes["Contract"]][:, None]
    hazard = _sigmoid(eta_static[:, None] + level - slope * np.log1p(tenures)[None, :])
    survival = np.empty_like(hazard)
    survival[:, 0] = 1.0
    np.cumprod(1.0 - hazard[:, :-1], axis=1, out=survival[:, 1:])
    return survival


_CHUNK = 65_536  # rows per (rows x 73) survival matrix, about 38 MB of float64


def _chunks(n: int) -> list[slice]:
    return [slice(start, min(start + _CHUNK, n)) for start in range(0, n, _CHUNK)]


def _initial_base(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Month-0 profiles and tenures drawn from each profile's own survival curve."""
    codes = _draw_profiles(rng, n)
    charge = _base_charge(codes)
    tenure = np.empty(n, dtype=np.int64)
    for part in _chunks(n):
        sub = {key: value[part] for key, value in codes.items()}
        cdf = np.cumsum(_survival(sub, charge[part]), axis=1)
        u = rng.random(cdf.shape[0]) * cdf[:, -1]
        tenure[part] = np.minimum((u[:, None] > cdf).sum(axis=1), _MAX_BASE_TENURE)
    return codes, tenure


def _draw_newcomers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Newcomer profiles: base mix re-weighted by 1 / expected lifetime (stationary inflow)."""
    pool_size = max(_NEWCOMER_POOL_FACTOR * n, 64)
    pool = _draw_profiles(rng, pool_size)
    charge = _base_charge(pool)
    lifetime = np.empty(pool_size)
    for part in _chunks(pool_size):
        sub = {key: value[part] for key, value in pool.items()}
        lifetime[part] = _survival(sub, charge[part]).sum(axis=1)
    weights = 1.0 / lifetime
    pick = rng.choice(pool_size, size=n, replace=True, p=weights / weights.sum())
    return {key: value[pick] for key, value in pool.items()}


# --------------------------------------------------------------------------- simulation


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
    moved = (contract != _M2M) & (rng.random(contract.size) < probability)
    return np.where(moved, _M2M, contract).astype(np.int8)


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

    codes, tenure = _initial_base(rng, n)
    charge = _base_charge(codes)
    ids = np.arange(n, dtype=np.int64)
    next_id = n
    # Historic bills differed a little from today's price, hence the jitter.
    history = tenure * charge * np.exp(rng.normal(0.0, 0.03, n))
    total = np.where(tenure > 0, history, np.nan)
    downgrade_probability = 0.0

    parts: dict[str, list[np.ndarray]] = {key: [] for key in (*_PROFILE_KEYS, "_id")}
    for key in ("_month", "tenure", "MonthlyCharges", "TotalCharges", "Churn", "_p"):
        parts[key] = []

    for month in range(config.months):
        active = drift if drift is not None and month >= drift.start_month else None
        shift = active.concept_shift if active is not None else 0.0
        price_factor = 1.0 + active.price_rise if active is not None else 1.0
        if drift is not None and month == drift.start_month and drift.month_to_month_shift:
            not_m2m = float(np.mean(codes["Contract"] != _M2M))
            if not_m2m > 0:
                downgrade_probability = min(1.0, drift.month_to_month_shift / not_m2m)
                codes["Contract"] = _downgrade(rng, codes["Contract"], downgrade_probability)

        monthly = np.round(charge * price_factor, 2)
        if month > 0:
            # Survivors were billed once more; first-month customers (NaN) start from 0.
            total = np.where(tenure > 0, np.nan_to_num(total) + monthly, np.nan)
        probability = _probability_codes(codes, tenure.astype(np.float64), monthly, shift)
        churn = rng.random(probability.size) < probability

        for key in _PROFILE_KEYS:
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
        newcomers = _draw_newcomers(rng, n_new)
        if downgrade_probability:  # set once the contract-mix drift has started
            newcomers["Contract"] = _downgrade(rng, newcomers["Contract"], downgrade_probability)
        codes = {key: np.concatenate([value[keep], newcomers[key]]) for key, value in codes.items()}
        charge = np.concatenate([charge[keep], _base_charge(newcomers)])
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
            columns[name] = _YES_NO[flat[name].astype(np.int8)]
        else:
            columns[name] = _LABELS[name][flat[name]]
    truth = pd.DataFrame(
        {
            "customerID": customer_id.copy(),
            "snapshot_month": snapshot_month,
            "churn_probability": flat["_p"],
        }
    )
    if config.dirty_rate > 0:
        _make_dirty(rng, columns, flat["_month"], config.dirty_rate)
    # copy=False skips block consolidation, which would transiently need several copies
    # of the object columns (hundreds of MB at a million rows).
    snapshots = pd.DataFrame({name: columns[name] for name in COLUMNS}, copy=False)
    return SimulationResult(snapshots=snapshots, truth=truth)


def _make_dirty(
    rng: np.random.Generator,
    columns: dict[str, np.ndarray],
    month: np.ndarray,
    rate: float,
) -> None:
    """Give ``rate`` of the rows one defect each, in place (object columns copied first)."""
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
    choice = rng.integers(0, len(_DIRTY_SPELLINGS), size=spell_rows.size)
    for index, (name, value) in enumerate(_DIRTY_SPELLINGS):
        target = spell_rows[choice == index]
        if target.size:
            columns[name] = columns[name].copy()
            columns[name][target] = value

    null_rows = pick(2)
    choice = rng.integers(0, len(_DIRTY_NULLABLE), size=null_rows.size)
    for index, name in enumerate(_DIRTY_NULLABLE):
        target = null_rows[choice == index]
        if target.size:
            columns[name] = columns[name].copy()
            columns[name][target] = None

    dup_rows = pick(3)
    columns["customerID"] = columns["customerID"].copy()
    columns["customerID"][dup_rows] = columns["customerID"][dup_rows - 1]

    columns["tenure"] = columns["tenure"].copy()
    columns["tenure"][pick(4)] = _DIRTY_TENURE


# --------------------------------------------------------------------------- output


def write_monthly_files(
    result: SimulationResult, folder: str | Path, fmt: str = "csv"
) -> list[Path]:
    """Write one file per snapshot month, ``customers_YYYY-MM.csv`` (or ``.parquet``).

    CSV files have no index and leave missing values blank, like the real Telco export.

    Args:
        result: Output of :func:`simulate`.
        folder: Destination folder, created if missing.
        fmt: ``"csv"`` or ``"parquet"``.

    Returns:
        The written paths, in month order.

    Raises:
        ValueError: If ``fmt`` is not supported.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unsupported format {fmt!r}; use 'csv' or 'parquet'")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    frame = result.snapshots
    paths: list[Path] = []
    for month, rows in frame.groupby("snapshot_month", sort=True):
        path = target / f"customers_{pd.Timestamp(month):%Y-%m}.{fmt}"
        part = rows.reset_index(drop=True)
        if fmt == "csv":
            part.to_csv(path, index=False, na_rep="")
        else:
            part.to_parquet(path, index=False)
        paths.append(path)
    return paths
