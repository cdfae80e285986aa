"""What the BentoML service needs that is not BentoML: the bundle (``bundle``), the request
model (``request_model``), risk tiers, the predictor with its shadow/A-B routing
(``predictor``), the compiled scorer (``scorer``), the prediction log, the service's metrics,
and packaging into a bento (``packaging``, used by the ``churn_bento`` asset, not the service).

Wired by ``churn_assets/defs/serving/``."""
