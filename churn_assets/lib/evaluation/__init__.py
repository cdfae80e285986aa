"""Evaluation of a candidate on held-out rows: metrics with intervals, SHAP explanations,
fairness, the model card, and the drift reference it is monitored against.

Wired by ``churn_assets/defs/evaluation/``."""
