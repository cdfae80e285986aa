"""Exploratory data analysis of the validated table.

Wired by ``churn_assets/defs/exploration/``."""
