"""Model families, hyperparameter search, the champion candidate, behavioural tests.

Wired by ``churn_assets/defs/training/``."""
