"""Column names specific to the IBM Telco schema, declared once.

The built-in contract (``churn_assets/contracts/telco.yaml``) lists these columns like any
other, and its declared ``service_count`` feature counts the six of them that are the
internet add-ons. The simulator, which writes the Telco schema, needs the group as a name in
code: its schema, price list and take-up rates are keyed by these names, so the group is
declared here once (``test_declared.py`` holds the contract's declaration to the same six).

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
