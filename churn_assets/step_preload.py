"""Imported once per run by the multiprocess executor's forkserver (``preload_modules``).

Every step's process is forked from that server, so it starts with the platform's definitions
and the libraries the steps use already imported, instead of importing them again: about 4 s
of imports per step (evidently alone takes 3.7 s here), which on small data was more than half
of a ``churn_pipeline`` run (benchmarks/executors.py). Importing none of them starts a thread,
so the fork is safe. A library missing here only costs its step the import.
"""

import importlib

# The libraries the steps import inside their functions (definitions load without them).
LIBRARIES = (
    "pandas",
    "pyarrow.parquet",
    "pandera.pandas",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "xgboost",
    "lightgbm",
    "optuna",
    "mlflow",
    "shap",
    "fairlearn.metrics",
    "evidently",
)

for _name in LIBRARIES:
    importlib.import_module(_name)

from churn_assets.definitions import defs  # noqa: E402  (after the libraries, as steps do)

defs()  # imports every module under churn_assets/defs
