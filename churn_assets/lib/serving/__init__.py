"""What the BentoML service needs that is not BentoML: the bundle, the compiled scorer, packaging.

Wired by ``churn_assets/defs/serving/``."""
