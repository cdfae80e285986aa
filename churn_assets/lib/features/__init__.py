"""Engineered features and the feature table (``engineering``), the contract's declared
features (``declared``: parsing and validation; ``kinds``: how each kind is computed, for
columns and for one record), rare-category capping (``capping``), identifier-like columns
(``identifiers``), the preprocessing pipeline (``preprocessing``), the train/validation/test
split (``split``), and the Telco-specific column names (``telco``).

Wired by ``churn_assets/defs/features/``."""
