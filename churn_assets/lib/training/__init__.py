"""Model families and their search, the champion candidate, behavioural tests.

``families/`` (one spec per model family), ``training_data`` (checks), ``budget`` /
``studies`` / ``objective`` / ``tuning`` (the Optuna search), ``tuned`` (one family's tuned
model, tracked in MLflow), ``champion`` and ``candidate`` (selection, calibration,
threshold), ``behaviour``.

Wired by ``churn_assets/defs/training/``."""
