"""What the BentoML service needs that is not BentoML: the bundle (``bundle``), the request
model (``request_model``), risk tiers, the predictor with its shadow/A-B routing
(``predictor``), the compiled scorer (``scorer``) and the stacked ensemble's
(``ensemble_scorer``), the prediction log and the service's
metrics. Its build side, used by the ``churn_bento`` asset and not packaged into the bento:
``packaging`` (registry -> bundle -> bento) and ``bento_build`` (the BentoML store and build).

Wired by ``churn_assets/defs/serving/``."""
