"""Who the customers are: month-0 profiles and tenures, and the newcomers who replace churners.

Month 0 holds ``n_customers`` customers whose profiles follow the real Telco marginals
(contract 55 % month-to-month / 21 % one year / 24 % two year; internet 44 % fibre, 34 % DSL,
22 % none; 34 % pay by electronic check; 16 % seniors, ...). Each customer's tenure (0..72) is
drawn from that customer's own survival curve under the unshifted ground truth, i.e. the
tenure distribution of a company that has been acquiring such customers at a constant rate
for six years.

Newcomer profiles are drawn from the same mix re-weighted by ``1 / expected lifetime`` (mostly
month-to-month), which keeps the mix and the monthly churn rate roughly stationary when there
is no drift.

A customer's bill is the list price of the services taken times a customer-level price factor
``exp(e)``, ``e ~ N(0, 0.06)`` clipped to +-0.15 (18-120 $ like the real data).

Profiles are dicts of integer-code arrays (:mod:`.schema`) plus ``_log_premium``, the log
price factor.
"""

from __future__ import annotations

import numpy as np

from churn_assets.lib.features.telco import ADD_ONS
from churn_assets.lib.ingestion.simulator.ground_truth import (
    CONTRACT_LEVEL,
    CONTRACT_TENURE_SLOPE,
    eta_static,
    list_price_codes,
    sigmoid,
)
from churn_assets.lib.ingestion.simulator.schema import DSL, FIBER, M2M, NO_INTERNET

_MAX_BASE_TENURE = 72
_PREMIUM_SD, _PREMIUM_CLIP = 0.06, 0.15
_BASE_CONTRACT_MIX = np.array([0.55, 0.21, 0.24])
_NEWCOMER_POOL_FACTOR = 3

# Conditional tables by contract (rows: M2M, one year, two year), tuned so the base
# marginals match the real Telco data.
_INTERNET_BY_CONTRACT = np.array([[0.33, 0.55, 0.12], [0.36, 0.39, 0.25], [0.35, 0.26, 0.39]])
_PAYMENT_BY_CONTRACT = np.array(
    [[0.49, 0.20, 0.155, 0.155], [0.19, 0.22, 0.30, 0.29], [0.08, 0.27, 0.33, 0.32]]
)
_PARTNER_BY_CONTRACT = np.array([0.36, 0.60, 0.70])
_PAPERLESS_BY_CONTRACT = np.array([0.67, 0.55, 0.45])
# Add-on take-up among internet customers (DSL, fibre), in ``ADD_ONS`` order (security,
# backup, device protection, tech support, TV, movies), which is also the draw order;
# ``strict`` fails at import if the add-ons change without a rate.
_ADDON_RATE = dict(
    zip(
        ADD_ONS,
        ((0.48, 0.28), (0.42, 0.45), (0.40, 0.47), (0.47, 0.30), (0.35, 0.58), (0.35, 0.59)),
        strict=True,
    )
)

_CHUNK = 65_536  # rows per (rows x 73) survival matrix, about 38 MB of float64


def _bernoulli(rng: np.random.Generator, prob: np.ndarray | float, n: int) -> np.ndarray:
    """``n`` draws of 0/1 (``int8``) with success probability ``prob``."""
    return (rng.random(n) < prob).astype(np.int8)


def _categorical(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per row from ``table[rows]`` (rows of class probabilities)."""
    cdf = np.cumsum(table, axis=1)[rows]
    u = rng.random(rows.size)[:, None]
    return np.minimum((u > cdf).sum(axis=1), table.shape[1] - 1).astype(np.int8)


def _draw_profiles(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Customer profiles (integer codes plus the log price factor) from the base mix."""
    contract = _categorical(rng, _BASE_CONTRACT_MIX[None, :], np.zeros(n, dtype=np.int64))
    rows = contract.astype(np.int64)
    codes: dict[str, np.ndarray] = {"Contract": contract}
    codes["gender"] = _bernoulli(rng, 0.505, n)
    codes["SeniorCitizen"] = _bernoulli(rng, 0.16 + 0.04 * (contract == M2M), n)
    codes["Partner"] = _bernoulli(rng, _PARTNER_BY_CONTRACT[rows], n)
    codes["Dependents"] = _bernoulli(rng, np.where(codes["Partner"] == 1, 0.52, 0.10), n)
    internet = _categorical(rng, _INTERNET_BY_CONTRACT, rows)
    codes["InternetService"] = internet
    # Phone is optional only for DSL customers, as in the real data.
    phone = np.where(internet == DSL, _bernoulli(rng, 0.72, n), 1).astype(np.int8)
    codes["PhoneService"] = phone
    extra = _bernoulli(rng, np.where(internet == FIBER, 0.60, 0.35), n)
    codes["MultipleLines"] = np.where(phone == 1, extra, 2).astype(np.int8)
    is_fiber = (internet == FIBER).astype(np.int64)
    for name, (rate_dsl, rate_fiber) in _ADDON_RATE.items():
        take = _bernoulli(rng, np.where(is_fiber == 1, rate_fiber, rate_dsl), n)
        codes[name] = np.where(internet == NO_INTERNET, 2, take).astype(np.int8)
    codes["PaperlessBilling"] = _bernoulli(
        rng, _PAPERLESS_BY_CONTRACT[rows] - 0.25 * (internet == NO_INTERNET), n
    )
    codes["PaymentMethod"] = _categorical(rng, _PAYMENT_BY_CONTRACT, rows)
    premium = np.clip(rng.normal(0.0, _PREMIUM_SD, n), -_PREMIUM_CLIP, _PREMIUM_CLIP)
    codes["_log_premium"] = premium
    return codes


def base_charge(codes: dict[str, np.ndarray]) -> np.ndarray:
    """Each profile's monthly bill before any price rise (not rounded)."""
    return list_price_codes(codes) * np.exp(codes["_log_premium"])


def _survival(codes: dict[str, np.ndarray], charge: np.ndarray) -> np.ndarray:
    """Survival curves S(k), k = 0..72, of each profile under the unshifted ground truth."""
    price = list_price_codes(codes)
    monthly = np.round(charge, 2)
    eta = eta_static(codes, monthly, price, 0.0)
    tenures = np.arange(_MAX_BASE_TENURE + 1, dtype=np.float64)
    level = CONTRACT_LEVEL[codes["Contract"]][:, None]
    slope = CONTRACT_TENURE_SLOPE[codes["Contract"]][:, None]
    hazard = sigmoid(eta[:, None] + level - slope * np.log1p(tenures)[None, :])
    survival = np.empty_like(hazard)
    survival[:, 0] = 1.0
    np.cumprod(1.0 - hazard[:, :-1], axis=1, out=survival[:, 1:])
    return survival


def _chunks(n: int) -> list[slice]:
    return [slice(start, min(start + _CHUNK, n)) for start in range(0, n, _CHUNK)]


def initial_base(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Month-0 profiles and tenures drawn from each profile's own survival curve."""
    codes = _draw_profiles(rng, n)
    charge = base_charge(codes)
    tenure = np.empty(n, dtype=np.int64)
    for part in _chunks(n):
        sub = {key: value[part] for key, value in codes.items()}
        cdf = np.cumsum(_survival(sub, charge[part]), axis=1)
        u = rng.random(cdf.shape[0]) * cdf[:, -1]
        tenure[part] = np.minimum((u[:, None] > cdf).sum(axis=1), _MAX_BASE_TENURE)
    return codes, tenure


def draw_newcomers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Newcomer profiles: base mix re-weighted by 1 / expected lifetime (stationary inflow)."""
    pool_size = max(_NEWCOMER_POOL_FACTOR * n, 64)
    pool = _draw_profiles(rng, pool_size)
    charge = base_charge(pool)
    lifetime = np.empty(pool_size)
    for part in _chunks(pool_size):
        sub = {key: value[part] for key, value in pool.items()}
        lifetime[part] = _survival(sub, charge[part]).sum(axis=1)
    weights = 1.0 / lifetime
    pick = rng.choice(pool_size, size=n, replace=True, p=weights / weights.sum())
    return {key: value[pick] for key, value in pool.items()}
