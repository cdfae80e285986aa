"""The ground truth: the price list and the churn model every simulated label is drawn from.

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
the row has that value and 0 otherwise. ``list_price`` is the price list (phone 20, extra lines
5, DSL 25, fibre 50, security/backup/device protection/tech support 5 each, TV and movie
streaming 10 each, in $ per month) applied to the row's services (:func:`list_price`), so a
price rise (:attr:`DriftSpec.price_rise`) raises churn through the relative-price term.
Month-to-month risk is high in the first months and falls with log tenure; two-year contracts
are low and flat.

With ``s = 0`` the default configuration has a mean monthly churn probability of about
10 % in month 0 and a Bayes-optimal ROC-AUC of about 0.85. At ``s = 1`` tech support stops
protecting fibre customers, electronic check stops mattering, relative-price sensitivity
triples, the absolute price term doubles and contract and tenure protect 60 % less: the mean
churn probability barely moves (about 10 % -> 11 %), but the month-0 probabilities used as a
frozen model's scores fall from an expected AUC of about 0.85 to about 0.80 on the shifted
labels, while the new Bayes-optimal AUC is about 0.855.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_assets.lib.features.telco import ADD_ONS
from churn_assets.lib.ingestion.simulator.schema import DSL, ECHECK, FIBER, LABELS, M2M, NO_INTERNET

# Price list in $ per month.
_PRICE_PHONE, _PRICE_EXTRA_LINES = 20.0, 5.0
_PRICE_DSL, _PRICE_FIBER = 25.0, 50.0
# One price per add-on, in ``ADD_ONS`` order (security, backup, device protection, tech
# support, TV, movies); ``strict`` fails at import if the add-ons change without a price.
_PRICE_ADDON = dict(zip(ADD_ONS, (5.0, 5.0, 5.0, 5.0, 10.0, 10.0), strict=True))

# Coefficients (documented in the module docstring; keep both in sync).
_B0 = -3.0
CONTRACT_LEVEL = np.array([1.00, -0.30, -1.60])
CONTRACT_TENURE_SLOPE = np.array([0.35, 0.15, 0.0])
_SHIFT_TENURE, _SHIFT_CONTRACT, _SHIFT_ECHECK = 0.6, 0.6, 1.0
_B_FIBER, _B_FIBER_NO_TS, _B_NO_INTERNET = 0.25, 0.70, -0.60
_B_SECURITY, _B_ECHECK = -0.30, 0.50
_B_RATIO, _SHIFT_RATIO = 5.0, 2.0
_B_PRICE, _SHIFT_PRICE, _PRICE_CENTER = 0.10, 1.0, 70.0
_B_SENIOR, _B_PARTNER, _B_DEPENDENTS, _B_PAPERLESS = 0.35, -0.20, -0.30, 0.25


def list_price_codes(codes: dict[str, np.ndarray]) -> np.ndarray:
    """List price of each coded profile's services (before the customer price factor)."""
    price = _PRICE_PHONE * (codes["PhoneService"] == 1)
    price = price + _PRICE_EXTRA_LINES * (codes["MultipleLines"] == 1)
    internet = codes["InternetService"]
    price = price + _PRICE_DSL * (internet == DSL) + _PRICE_FIBER * (internet == FIBER)
    for name, value in _PRICE_ADDON.items():
        price = price + value * (codes[name] == 1)
    return price.astype(np.float64)


def eta_static(
    codes: dict[str, np.ndarray], monthly: np.ndarray, price: np.ndarray, shift: float
) -> np.ndarray:
    """The logit without the contract x tenure term."""
    internet = codes["InternetService"]
    fiber = internet == FIBER
    tech_yes = codes["TechSupport"] == 1
    eta = np.full(monthly.shape, _B0)
    eta += _B_FIBER * fiber
    eta += _B_FIBER_NO_TS * fiber * (1.0 - tech_yes * (1.0 - shift))
    eta += _B_NO_INTERNET * (internet == NO_INTERNET)
    eta += _B_SECURITY * (codes["OnlineSecurity"] == 1)
    eta += _B_ECHECK * (1.0 - _SHIFT_ECHECK * shift) * (codes["PaymentMethod"] == ECHECK)
    ratio = np.log(np.clip(monthly, 1e-6, None) / np.clip(price, 1e-6, None))
    eta += _B_RATIO * (1.0 + _SHIFT_RATIO * shift) * ratio
    eta += _B_PRICE * (1.0 + _SHIFT_PRICE * shift) * (monthly - _PRICE_CENTER) / 10.0
    eta += _B_SENIOR * (codes["SeniorCitizen"] == 1)
    eta += _B_PARTNER * (codes["Partner"] == 1)
    eta += _B_DEPENDENTS * (codes["Dependents"] == 1)
    eta += _B_PAPERLESS * (codes["PaperlessBilling"] == 1)
    return eta


def _contract_tenure_term(contract: np.ndarray, tenure: np.ndarray, shift: float) -> np.ndarray:
    slope = CONTRACT_TENURE_SLOPE[contract] * (1.0 - _SHIFT_TENURE * shift)
    level = CONTRACT_LEVEL[contract] * (1.0 - _SHIFT_CONTRACT * shift)
    return level - slope * np.log1p(tenure)


def sigmoid(eta: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-eta))


def probability_codes(
    codes: dict[str, np.ndarray], tenure: np.ndarray, monthly: np.ndarray, shift: float
) -> np.ndarray:
    """The churn probability of coded profiles at the given tenures and bills."""
    eta = eta_static(codes, monthly, list_price_codes(codes), shift)
    eta += _contract_tenure_term(codes["Contract"], tenure, shift)
    return sigmoid(eta)


def _frame_codes(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Map the label columns of a frame to the internal integer codes (unknown -> -1)."""
    codes: dict[str, np.ndarray] = {}
    for name, labels in LABELS.items():
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
    return list_price_codes(_frame_codes(frame))


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
    codes["Contract"] = np.where(codes["Contract"] < 0, M2M, codes["Contract"])
    tenure = frame["tenure"].to_numpy(dtype=np.float64)
    monthly = frame["MonthlyCharges"].to_numpy(dtype=np.float64)
    return probability_codes(codes, tenure, monthly, float(concept_shift))
