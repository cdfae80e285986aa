"""Evaluation of a candidate on held-out rows: the policies (``policy``), the one set of
metrics and bootstrap (``scores``), the evaluation report (``report``, ``figures``), fairness
(``fairness``; the contract's choices ``fairness_policy``; ``fairness_frontier``), SHAP
explanations (``explain``, ``shap_report``) and the model card.

Wired by ``churn_assets/defs/evaluation/``."""
