"""The team stack on one machine (``python -m churn_assets.team``, ``make team-up``): Postgres,
an S3 server, the MLflow server, ``dagster-daemon`` and the Dagster UI from the lock file, and
the helpers that queue runs on it and read their results back (docs/deployment.md)."""
