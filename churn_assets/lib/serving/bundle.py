"""The serving bundle: the files one BentoML model (``churn_model:<version>``) holds, and
``serving.json``, the record of which registry versions it serves and how they decide::

    serving.json           model name/version/family, threshold, tiers, lineage, an example
    contract.yaml          the data contract the model was trained under
    champion/model.joblib  the fitted sklearn model exactly as registered in MLflow
    shadow/model.joblib    optional: the challenger scored in shadow
    background.parquet     a sample of training rows, the reference for SHAP explanations

The service compiles ``model.joblib`` into a
:class:`~churn_assets.lib.serving.scorer.CompiledScorer` at start-up
(:func:`churn_assets.lib.serving.predictor.load_predictor`), so what is packaged is the
registered model itself, never a re-implementation.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract

SERVING_FILE = "serving.json"
CONTRACT_FILE = "contract.yaml"
MODEL_FILE = "model.joblib"
BACKGROUND_FILE = "background.parquet"
CHAMPION_DIR = "champion"
SHADOW_DIR = "shadow"


@dataclass(frozen=True)
class ModelSlot:
    """One packaged model: which registry version it is and how it decides."""

    version: str
    family: str
    threshold: float
    calibration: str
    mlflow_run_id: str | None = None
    model_uri: str | None = None


@dataclass(frozen=True)
class ServingMeta:
    """What ``serving.json`` holds.

    Attributes:
        model_name: the registered model name (``churn-model``).
        champion: the served model.
        shadow: the challenger scored alongside (never returned), if packaged.
        medium_threshold: scores in ``[medium_threshold, threshold)`` are ``medium`` risk.
        shadow_share: share of requests (by request id) on which the shadow is also scored.
        ab_share: share of customers (by customer id, else request id) *answered* by the
            shadow model instead: an A/B test. 0 by default (pure shadow).
        example: one valid request (shown in the OpenAPI docs).
    """

    model_name: str
    champion: ModelSlot
    contract_name: str
    medium_threshold: float
    shadow: ModelSlot | None = None
    shadow_share: float = 1.0
    ab_share: float = 0.0
    example: dict[str, Any] = field(default_factory=dict)
    packaged_at: str = ""

    @property
    def bento_version(self) -> str:
        """The BentoML version tag: ``v<champion>`` (plus ``-shadow-v<challenger>``)."""
        version = f"v{self.champion.version}"
        if self.shadow is not None:
            version += f"-shadow-v{self.shadow.version}"
        return version

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    @classmethod
    def from_json(cls, text: str) -> ServingMeta:
        raw = json.loads(text)
        raw["champion"] = ModelSlot(**raw["champion"])
        raw["shadow"] = ModelSlot(**raw["shadow"]) if raw.get("shadow") else None
        return cls(**raw)


def json_value(value: Any) -> Any:
    """A NumPy scalar as its Python value, NaN as None (what JSON can hold)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def example_record(frame: pd.DataFrame, contract: DataContract) -> dict[str, Any]:
    """The first row of ``frame`` as a request body (contract id + feature fields).

    The id is the row's pseudonym, not the customer's id: the example is published in the
    service's OpenAPI document and Swagger UI.
    """
    from churn_assets.lib.privacy import pseudonym

    row = frame.iloc[0]
    record = (
        {contract.id_column: pseudonym(row[contract.id_column])}
        if contract.id_column in row
        else {}
    )
    for column in contract.feature_columns:
        record[column] = json_value(row[column])
    return record


def write_bundle(
    folder: str | os.PathLike[str],
    meta: ServingMeta,
    contract_path: str | os.PathLike[str],
    champion: Any,
    shadow: Any | None = None,
    background: pd.DataFrame | None = None,
) -> Path:
    """Write a bundle (see the module docstring) into ``folder``."""
    import joblib

    root = Path(folder)
    (root / CHAMPION_DIR).mkdir(parents=True, exist_ok=True)
    joblib.dump(champion, root / CHAMPION_DIR / MODEL_FILE)
    if shadow is not None:
        (root / SHADOW_DIR).mkdir(exist_ok=True)
        joblib.dump(shadow, root / SHADOW_DIR / MODEL_FILE)
    (root / CONTRACT_FILE).write_text(Path(contract_path).read_text())
    if background is not None:
        background.to_parquet(root / BACKGROUND_FILE, index=False)
    (root / SERVING_FILE).write_text(meta.to_json())
    return root


def read_meta(folder: str | os.PathLike[str]) -> ServingMeta:
    """The ``serving.json`` of a bundle."""
    return ServingMeta.from_json((Path(folder) / SERVING_FILE).read_text())


def load_model(folder: str | os.PathLike[str], slot: Literal["champion", "shadow"]) -> Any:
    """The packaged sklearn model of a slot (as registered in MLflow)."""
    import joblib

    return joblib.load(Path(folder) / slot / MODEL_FILE)
