"""The MLflow Model Registry (aliases, promotion, rollback) and the promotion gate.

Wired by ``churn_assets/defs/registry/``."""
