"""Engineered features and the feature table (``engineering``), the preprocessing pipeline
(``preprocessing``), the train/validation/test split (``split``), and the Telco-specific column
names (``telco``).

Wired by ``churn_assets/defs/features/``."""
