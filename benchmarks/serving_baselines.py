"""Baseline BentoML services for ``benchmarks/serving.py`` (never deployed).

- :class:`EmptyService`: the framework floor. An async ``/predict`` with the same signature
  as ``churn_service``'s: the root input is the same pydantic ``Customer`` model, generated
  from the contract packaged with the same BentoML model (so BentoML parses and validates
  the body exactly as ours does), and the output a ``Prediction`` model of the same fields,
  returned as a constant. Same service config as ``churn_service``: workers from
  ``CHURN_SERVICE_WORKERS``, access log off, 30 s timeout. The difference to ours is our
  handler: scoring, metrics, prediction log.
- :class:`EmptyDictService`: the same with a root ``dict[str, Any]`` in and out (no schema).
  For reference: BentoML handles the untyped dict *more slowly* than the typed model.
- :class:`NaiveService`: what most tutorials do. Loads the same ``champion/model.joblib``
  from the same BentoML model, and per request builds a one-row ``pandas.DataFrame`` from the
  body (a root ``dict[str, Any]``, not validated) and calls ``model.predict_proba(df)[:, 1]``.
  A sync endpoint (BentoML runs it in its thread pool), as in BentoML's own examples.

The model is ``CHURN_BENTO_MODEL`` (default ``churn_model:latest``) in ``BENTOML_HOME``.
Run from the repository root (``benchmarks`` is a namespace package)::

    BENTOML_HOME=$CHURN_HOME/bentoml bentoml serve benchmarks.serving_baselines:EmptyService \
        --working-dir .
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import bentoml
import pandas as pd
from pydantic import BaseModel

from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving.bundle import CONTRACT_FILE, load_model, read_meta
from churn_assets.lib.serving.request_model import customer_model

_MODEL = bentoml.models.BentoModel(os.environ.get("CHURN_BENTO_MODEL", "churn_model:latest"))

_CONFIG: dict[str, Any] = {
    "workers": int(os.environ.get("CHURN_SERVICE_WORKERS", "1")),
    "traffic": {"timeout": 30},
    "logging": {"access": {"enabled": os.environ.get("CHURN_ACCESS_LOG", "0") == "1"}},
}


def _customer_model() -> type:
    """churn_service's request model: generated from the model's own contract."""
    if _MODEL.stored is None:
        raise RuntimeError(f"no BentoML model {_MODEL.tag} in BENTOML_HOME: run `make demo`")
    folder = Path(_MODEL.stored.path)
    contract = DataContract.load(folder / CONTRACT_FILE)
    return customer_model(contract, example=read_meta(folder).example)


Customer = _customer_model()


class Prediction(BaseModel):
    """The fields and types of churn_service's Prediction."""

    customer_id: str | None
    churn_probability: float
    churn: bool
    risk_tier: Literal["low", "medium", "high"]
    threshold: float
    model_name: str
    model_version: str
    request_id: str


# churn_service's Prediction, with constant values.
_CONSTANT: dict[str, Any] = {
    "customer_id": "7527-HCIUW",
    "churn_probability": 0.5,
    "churn": True,
    "risk_tier": "high",
    "threshold": 0.2777,
    "model_name": "churn-model",
    "model_version": "1",
    "request_id": "0" * 32,
}
_CONSTANT_PREDICTION = Prediction(**_CONSTANT)


@bentoml.service(name="empty_service", **_CONFIG)
class EmptyService:
    @bentoml.api(route="/predict")
    async def predict(self, customer: Customer, /) -> Prediction:  # type: ignore[valid-type]
        """Return a constant prediction (the framework's cost, validation included)."""
        return _CONSTANT_PREDICTION


@bentoml.service(name="empty_dict_service", **_CONFIG)
class EmptyDictService:
    @bentoml.api(route="/predict")
    async def predict(self, customer: dict[str, Any], /) -> dict[str, Any]:
        """Return a constant prediction, without a schema on either side."""
        return _CONSTANT


@bentoml.service(name="naive_service", **_CONFIG)
class NaiveService:
    model_ref = _MODEL

    def __init__(self) -> None:
        folder = Path(self.model_ref.path)
        self.meta = read_meta(folder)
        self.model = load_model(folder, "champion")

    @bentoml.api(route="/predict")
    def predict(self, customer: dict[str, Any], /) -> dict[str, Any]:
        """Score one customer the tutorial way: a one-row DataFrame into predict_proba."""
        probability = float(self.model.predict_proba(pd.DataFrame([customer]))[:, 1][0])
        threshold = self.meta.champion.threshold
        return {
            "customer_id": customer.get("customerID"),
            "churn_probability": probability,
            "churn": probability >= threshold,
            "risk_tier": "high" if probability >= threshold else "low",
            "threshold": threshold,
            "model_name": self.meta.model_name,
            "model_version": self.meta.champion.version,
            "request_id": "0" * 32,
        }
