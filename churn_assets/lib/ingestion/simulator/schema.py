"""The Telco schema as the simulator writes it, and the integer codes it computes with.

Categorical columns are held internally as small integer codes (``int8``); each column's
labels array maps a code back to the value written (object arrays, so ``np.take`` yields str).
"""

from __future__ import annotations

import numpy as np

from churn_assets.lib.features.telco import ADD_ONS

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
    *ADD_ONS,
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
    "Churn",
)

YES_NO = np.array(["No", "Yes"], dtype=object)
_GENDER = np.array(["Female", "Male"], dtype=object)
_MULTI = np.array(["No", "Yes", "No phone service"], dtype=object)
_INTERNET = np.array(["DSL", "Fiber optic", "No"], dtype=object)
_ADDON = np.array(["No", "Yes", "No internet service"], dtype=object)
_CONTRACT = np.array(["Month-to-month", "One year", "Two year"], dtype=object)
_PAYMENT = np.array(
    ["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"],
    dtype=object,
)
LABELS: dict[str, np.ndarray] = {
    "gender": _GENDER,
    "Partner": YES_NO,
    "Dependents": YES_NO,
    "PhoneService": YES_NO,
    "MultipleLines": _MULTI,
    "InternetService": _INTERNET,
    **{name: _ADDON for name in ADD_ONS},
    "Contract": _CONTRACT,
    "PaperlessBilling": YES_NO,
    "PaymentMethod": _PAYMENT,
}
# Codes the ground truth and the dynamics refer to by name.
DSL, FIBER, NO_INTERNET = 0, 1, 2
M2M, ONE_YEAR, TWO_YEAR = 0, 1, 2
ECHECK = 0

# The per-customer columns that describe a profile (the rest is tenure, billing and churn).
PROFILE_KEYS = (
    "gender",
    "SeniorCitizen",
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
