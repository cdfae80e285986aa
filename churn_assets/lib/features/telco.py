"""Column names specific to the IBM Telco schema, declared once.

The built-in contract (``churn_assets/contracts/telco.yaml``) lists these columns like any
other; what it cannot say is that six of them are the internet add-ons, a group that the
``service_count`` feature counts and the simulator prices and draws together. Features own
the declaration because a feature is what gives the group a meaning; the simulator, which
writes the Telco schema, imports it from here: its schema, price list and take-up rates are
keyed by these names.

The order matters to the simulator: its add-on prices and take-up rates are listed in this
order (a length mismatch fails at import) and it draws the add-ons in this order, so
reordering the names changes the simulated frames.
"""

from __future__ import annotations

# Each takes "Yes", "No" or "No internet service".
ADD_ONS: tuple[str, ...] = (
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
)
