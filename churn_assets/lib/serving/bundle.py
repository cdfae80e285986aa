"""Everything the BentoML service needs that is not BentoML: the packaged model bundle, the
request model generated from the data contract, risk tiers and the prediction log.

A *bundle* is a folder (the content of one BentoML model, ``churn_model:<version>``)::

    serving.json           model name/version/family, threshold, tiers, lineage, an example
    contract.yaml          the data contract the model was trained under
    champion/model.joblib  the fitted sklearn model exactly as registered in MLflow
    shadow/model.joblib    optional: the challenger scored in shadow
    background.parquet     a sample of training rows, the reference for SHAP explanations

The service compiles ``model.joblib`` into a
:class:`~churn_assets.lib.serving.scorer.CompiledScorer` at start-up, so what is packaged is
the registered model itself, never a re-implementation.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
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
RiskTier = Literal["low", "medium", "high"]

# Request limits. The batch limit bounds memory and latency per request; larger jobs belong
# to batch scoring (a Dagster asset), not the request path.
MAX_BATCH_ROWS = 5000
MAX_EXPLAIN_ROWS = 100


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


def risk_tier(p: float, threshold: float, medium_threshold: float) -> RiskTier:
    """``high`` where an offer pays (p >= threshold), ``medium`` on the watch list below it."""
    if p >= threshold:
        return "high"
    if p >= medium_threshold:
        return "medium"
    return "low"


def risk_tiers(p: np.ndarray, threshold: float, medium_threshold: float) -> np.ndarray:
    """Vectorised :func:`risk_tier`."""
    return np.where(p >= threshold, "high", np.where(p >= medium_threshold, "medium", "low"))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def example_record(frame: pd.DataFrame, contract: DataContract) -> dict[str, Any]:
    """The first row of ``frame`` as a request body (contract id + feature fields)."""
    row = frame.iloc[0]
    record = {contract.id_column: str(row[contract.id_column])} if contract.id_column in row else {}
    for column in contract.feature_columns:
        record[column] = _plain(row[column])
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


# --------------------------------------------------------------------------- request model
def customer_model(
    contract: DataContract, example: dict[str, Any] | None = None, name: str = "Customer"
) -> type:
    """A pydantic model of one customer, generated from the data contract.

    Every feature field of the contract with its type, allowed values (a ``Literal``) and
    range; nullable fields may be null or omitted (the contract's null policy fills them, as
    in training), every other field is required. The id field is optional and echoed back.
    Unknown fields are rejected and types are strict (``"12"`` is not an integer), so a
    request is validated exactly as strictly as a training row.
    """
    from pydantic import ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    id_info = contract.column_info(contract.id_column)
    fields[contract.id_column] = (
        str | None,
        Field(None, min_length=1, max_length=128, description=id_info.description),
    )
    for column in contract.feature_columns:
        info = contract.column_info(column)
        if info.allowed_values:
            annotation: Any = Literal[tuple(info.allowed_values)]  # type: ignore[valid-type]
        elif info.kind == "numeric" and info.dtype.startswith(("int", "uint")):
            annotation = int
        elif info.kind == "numeric":
            annotation = float
        else:
            annotation = str
        constraints: dict[str, Any] = {"description": info.description}
        if info.kind == "numeric" and not info.allowed_values:
            if info.min_value is not None:
                constraints["ge"] = info.min_value
            if info.max_value is not None:
                constraints["le"] = info.max_value
            if annotation is float:
                constraints["allow_inf_nan"] = False
        if info.nullable:
            fields[column] = (annotation | None, Field(None, **constraints))
        else:
            fields[column] = (annotation, Field(..., **constraints))
    config = ConfigDict(
        extra="forbid",
        strict=True,
        title=name,
        # OpenAPI 3.0 (what BentoML serves) has a single `example`, shown by the docs UI.
        json_schema_extra={"example": example} if example else None,
    )
    return create_model(name, __config__=config, **fields)


# --------------------------------------------------------------------------- prediction log
class PredictionLog:
    """Append-only JSON lines of served predictions under ``CHURN_HOME/predictions``.

    One file per worker process (``predictions-<worker>.jsonl``), rotated by size, so
    workers never interleave writes and :func:`read_prediction_logs` can read every file. Each line:
    time, request id, model version, score, label, tier, the shadow's version and score when
    one ran, and the request's fields.

    Not ``logging.handlers.RotatingFileHandler``: it formats, flushes and checks the size per
    record, 44 ms per 1,000-row request here (more than scoring them); this encodes and
    writes a request's lines in one call (~2 ms per 1,000 rows). Rotation renames like it does:
    ``.jsonl`` -> ``.jsonl.1`` -> ... -> ``.jsonl.<backups>`` (the oldest is dropped).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        worker: int | str = 0,
        max_bytes: int = 50_000_000,
        backups: int = 10,
    ):
        import threading

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"predictions-{worker}.jsonl"
        self.max_bytes = max_bytes
        self.backups = backups
        import msgspec

        # msgspec writes all of a request's lines in one call (~1 µs a line; json.dumps ~10).
        self._encoder = msgspec.json.Encoder(enc_hook=_plain)
        self._lock = threading.Lock()  # sync endpoints run in a thread pool
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, records: list[dict[str, Any]]) -> None:
        text = self._encoder.encode_lines(records).decode("utf-8")
        with self._lock:
            self._handle.write(text)
            self._handle.flush()
            if self._handle.tell() >= self.max_bytes:
                self._rotate()

    def _rotate(self) -> None:
        self._handle.close()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            self._handle.close()


def read_prediction_logs(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """Every logged prediction under ``folder`` (all workers, rotated files included)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(folder).glob("predictions-*.jsonl*")):
        with open(path, encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    if not rows:
        return pd.DataFrame()
    frame = pd.json_normalize(rows)
    frame.columns = [c.removeprefix("features.") for c in frame.columns]
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def new_request_id() -> str:
    return uuid.uuid4().hex


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def in_sample(key: str, share: float) -> bool:
    """Deterministic sampling by a key (customer or request id): a key is always in or out,
    so an A/B customer keeps seeing the same model."""
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    import hashlib

    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 0xFFFFFFFF < share


# --------------------------------------------------------------------------- routing
@dataclass
class Scored:
    """One scored row: what the client gets, plus the shadow's score for the log."""

    customer_id: str | None
    probability: float
    label: bool
    tier: RiskTier
    slot: ModelSlot
    shadow_probability: float | None = None
    shadow_label: bool | None = None


class Predictor:
    """Champion scoring with an optional challenger in shadow or in an A/B split.

    The service wraps this (HTTP, metrics); batch scoring and tests use it directly.

    Args:
        meta: the bundle's ``serving.json``.
        champion: compiled scorer of the champion.
        shadow: compiled scorer of the challenger, if packaged.
        id_column: the contract's id field (echoed back; the A/B key).
        shadow_share / ab_share: override the bundle's split (``None`` keeps it).
    """

    def __init__(
        self,
        meta: ServingMeta,
        champion: Any,
        shadow: Any | None = None,
        id_column: str = "customerID",
        shadow_share: float | None = None,
        ab_share: float | None = None,
    ):
        if (shadow is None) != (meta.shadow is None):
            raise ValueError("a shadow scorer needs a shadow slot in the bundle and vice versa")
        self.meta = meta
        self.champion = champion
        self.shadow = shadow
        self.id_column = id_column
        self.shadow_share = meta.shadow_share if shadow_share is None else shadow_share
        self.ab_share = (meta.ab_share if ab_share is None else ab_share) if shadow else 0.0
        for name, value in (("shadow_share", self.shadow_share), ("ab_share", self.ab_share)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    def score(self, records: list[dict[str, Any]], request_id: str) -> list[Scored]:
        """Score records of raw fields; the A/B split is by customer id (else row)."""
        p = self.champion.predict_proba(records)
        shadow_p = None
        # An A/B split needs the challenger's score for its customers, whatever the shadow
        # share says.
        if self.shadow is not None and (
            self.ab_share > 0 or in_sample(request_id, self.shadow_share)
        ):
            shadow_p = self.shadow.predict_proba(records)
        champion_slot, shadow_slot = self.meta.champion, self.meta.shadow
        medium = self.meta.medium_threshold
        out = []
        for i, record in enumerate(records):
            customer = record.get(self.id_column)
            slot, prob = champion_slot, float(p[i])
            other: float | None = None
            if shadow_p is not None:
                other = float(shadow_p[i])
                if self.ab_share > 0 and in_sample(customer or f"{request_id}-{i}", self.ab_share):
                    slot, prob, other = shadow_slot, other, prob
            label = prob >= slot.threshold
            other_slot = shadow_slot if slot is champion_slot else champion_slot
            out.append(
                Scored(
                    customer_id=customer,
                    probability=prob,
                    label=label,
                    tier=risk_tier(prob, slot.threshold, medium),
                    slot=slot,
                    shadow_probability=other,
                    shadow_label=None if other is None else other >= other_slot.threshold,
                )
            )
        return out

    def log_entries(
        self, records: list[dict[str, Any]], scored: list[Scored], request_id: str
    ) -> list[dict[str, Any]]:
        """Prediction-log lines (see :class:`PredictionLog`)."""
        stamp = now_iso()
        entries = []
        for record, row in zip(records, scored, strict=True):
            entry = {
                "time": stamp,
                "request_id": request_id,
                "model_version": row.slot.version,
                "score": row.probability,
                "label": bool(row.label),
                "risk_tier": row.tier,
                "features": record,
            }
            if row.shadow_probability is not None:
                shadow = self.meta.shadow if row.slot is self.meta.champion else self.meta.champion
                entry["shadow_version"] = shadow.version
                entry["shadow_score"] = row.shadow_probability
            entries.append(entry)
        return entries


def load_predictor(
    folder: str | os.PathLike[str],
    shadow_share: float | None = None,
    ab_share: float | None = None,
    meta: ServingMeta | None = None,
    contract: DataContract | None = None,
) -> tuple[Predictor, DataContract]:
    """A :class:`Predictor` (and the contract) from a bundle folder; pass ``meta`` and
    ``contract`` when they are already loaded."""
    from churn_assets.lib.serving.scorer import CompiledScorer

    meta = meta or read_meta(folder)
    contract = contract or DataContract.load(Path(folder) / CONTRACT_FILE)
    champion = CompiledScorer.compile(
        load_model(folder, "champion"), contract, meta.champion.family
    )
    shadow = None
    if meta.shadow is not None:
        shadow = CompiledScorer.compile(load_model(folder, "shadow"), contract, meta.shadow.family)
    predictor = Predictor(
        meta, champion, shadow, contract.id_column, shadow_share=shadow_share, ab_share=ab_share
    )
    return predictor, contract
