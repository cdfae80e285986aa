"""Engineered features, the preprocessing pipeline and the train/validation/test split.

Wired by ``churn_assets/defs/features/``."""
