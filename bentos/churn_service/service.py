"""The churn model served by BentoML: the champion the promotion gate chose, validated by the
same data contract as training.

Endpoints (all ``POST``, JSON):

- ``/predict``        one customer -> churn probability, label at the champion's decision
  threshold, risk tier, model name and version.
- ``/predict_batch``  a list of customers (adaptive batching merges concurrent requests).
- ``/explain``        per customer, the fields that push the score up most (SHAP, per contract
  field, the same function the ``explanations`` asset uses).
- ``/model_info``     which model versions are loaded and how they decide.
- ``/bulk/predict``   up to 100,000 rows as Arrow, Parquet, CSV or JSON, answered in the same
  format, bad rows rejected with their reasons while the rest are scored (bulk.py).

Swagger UI at ``/``, the OpenAPI document at ``/docs.json``.

BentoML adds ``/livez``, ``/readyz`` (not ready until the model is loaded and warmed up) and
``/metrics`` (Prometheus: BentoML's request metrics plus the ``churn_*`` ones of
:mod:`churn_assets.lib.serving.metrics`). ``/readyz`` stays ready while the prediction log
cannot be written (predictions are still right; pulling the worker would turn a logging fault
into an outage): ``churn_prediction_log_ok`` on ``/metrics`` and ``prediction_log`` in
``/model_info`` show it.

In front of every route, :mod:`churn_assets.lib.serving.guard`: optional API-key auth, the
body-size and in-flight limits, and 4xx for malformed bodies (docs/serving.md lists the status
codes and settings).

Run it with ``make serve``, or ``bentoml serve churn_service:latest`` (the bento the
``churn_bento`` asset built), or ``bentoml serve bentos.churn_service.service:ChurnService``
from the repository root (the newest ``churn_model`` in the store). ``BENTOML_HOME`` must be
``$CHURN_HOME/bentoml``. Environment knobs: ``CHURN_SERVICE_WORKERS`` (default 1),
``CHURN_BENTO_MODEL`` (model tag, default ``churn_model:latest``), ``CHURN_SHADOW_SHARE`` and
``CHURN_AB_SHARE`` (override the packaged shadow/A-B split), ``CHURN_PREDICTION_LOG_DIR``,
and the guard's ``CHURN_SERVICE_*`` settings. Bind to loopback (``--host 127.0.0.1``, what
``make serve`` does) unless auth is on and the port is meant to be reachable.
"""

import gc
import logging
import os
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import BaseModel, Field

from bentos.churn_service.bulk import bulk_app
from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving.bundle import BACKGROUND_FILE, CONTRACT_FILE, read_meta
from churn_assets.lib.serving.guard import Guard, quiet_client_errors
from churn_assets.lib.serving.metrics import ServiceMetrics
from churn_assets.lib.serving.prediction_log import TABLE_MIN_ROWS, PredictionLog
from churn_assets.lib.serving.predictor import load_predictor, new_request_id
from churn_assets.lib.serving.request_model import (
    MAX_BATCH_ROWS,
    MAX_EXPLAIN_ROWS,
    customer_model,
)
from churn_assets.lib.serving.risk_tiers import RiskTier, risk_tier
from churn_assets.lib.settings import predictions_dir

MODEL_TAG = os.environ.get("CHURN_BENTO_MODEL", "churn_model:latest")
EXPLAINER_RETRY_S = 5  # SHAP's import and the explainer's set-up take a few seconds
_MODEL = bentoml.models.BentoModel(MODEL_TAG)


def _bundle_folder() -> Path:
    stored = _MODEL.stored
    if stored is None:
        raise RuntimeError(
            f"no BentoML model {MODEL_TAG!r} in the store at "
            f"{os.environ.get('BENTOML_HOME', '~/bentoml')}: materialize the `churn_bento` "
            "asset first (`make demo`), set BENTOML_HOME=$CHURN_HOME/bentoml, or point "
            "CHURN_BENTO_MODEL at an existing tag"
        )
    return Path(stored.path)


# The request model is generated at import time from the contract packaged with the model,
# so the service validates exactly what training validated for *this* model.
_BUNDLE = _bundle_folder()
_META = read_meta(_BUNDLE)
_CONTRACT = DataContract.load(_BUNDLE / CONTRACT_FILE)
Customer = customer_model(_CONTRACT, example=_META.example)
CustomerBatch = Annotated[
    list[Customer],  # type: ignore[valid-type]
    Field(min_length=1, max_length=MAX_BATCH_ROWS),
]


class Prediction(BaseModel):
    """One customer's churn prediction."""

    customer_id: str | None = Field(description="The request's id field, echoed back.")
    churn_probability: float = Field(description="Calibrated P(churn before next month).")
    churn: bool = Field(description="True when churn_probability >= threshold.")
    risk_tier: RiskTier = Field(
        description="high: >= threshold (an offer pays); medium: the watch list below it."
    )
    threshold: float
    model_name: str
    model_version: str
    request_id: str


class Reason(BaseModel):
    """A contract field and how much it raises the churn log-odds for this customer."""

    feature: str
    value: Any
    contribution: float


class Explanation(BaseModel):
    customer_id: str | None
    churn_probability: float
    risk_tier: RiskTier
    model_version: str
    reasons: list[Reason]


class ModelInfo(BaseModel):
    model_name: str
    champion: dict[str, Any]
    shadow: dict[str, Any] | None
    shadow_share: float
    ab_share: float
    contract: str
    packaged_at: str
    explainer_ready: bool
    prediction_log: dict[str, Any] = Field(
        description="This worker's prediction log: ok (false while writes fail), "
        "failed_writes, lost_lines, last_error, retention_days."
    )


def _share(env: str) -> float | None:
    """An override of the packaged traffic split from the environment (None: keep it)."""
    return float(os.environ[env]) if os.environ.get(env) else None


# Bulk scoring with columnar bodies (Arrow, Parquet, CSV, JSON), partial success: bulk.py.
@bentoml.mount_asgi_app(bulk_app(_CONTRACT), path="/bulk")
@bentoml.service(
    name="churn_service",
    workers=int(os.environ.get("CHURN_SERVICE_WORKERS", "1")),
    # BentoML 1.4.39 keeps each request's timeout timer (and its span) alive until the
    # timeout expires, ~5 KB a request: at ~1,000 req/s a 30 s timeout holds ~150 MB per
    # worker and stretches garbage-collection pauses. A full 5,000-row batch takes < 0.5 s,
    # so 10 s is ample and holds a third as much.
    traffic={"timeout": 10},
    # Access logs cost throughput on the request path; the request metrics cover them.
    logging={"access": {"enabled": os.environ.get("CHURN_ACCESS_LOG", "0") == "1"}},
)
class ChurnService:
    # A class attribute, so `bentoml build` packages the model into the bento.
    model = _MODEL

    def __init__(self) -> None:
        started = time.perf_counter()
        self.predictor, _ = load_predictor(
            _BUNDLE,
            shadow_share=_share("CHURN_SHADOW_SHARE"),
            ab_share=_share("CHURN_AB_SHARE"),
            meta=_META,
            contract=_CONTRACT,
        )
        self.meta = _META
        self.champion = self.meta.champion
        self.shadow = self.meta.shadow
        worker = bentoml.server_context.worker_index or os.getpid()
        self.metrics = ServiceMetrics(self.meta)  # here, not at import: see ServiceMetrics
        self.log = PredictionLog(
            predictions_dir(),
            worker=worker,
            retention_days=_CONTRACT.privacy.prediction_log.retention_days,
            on_error=self.metrics.log_error,
        )
        self._log_ok = True

        # Warm up: the first call of each library path pays one-off costs.
        if _META.example:
            self.predictor.score([_META.example], "warm-up")
        self._explainer: Any = None
        self._explainer_error: str | None = None
        threading.Thread(target=self._load_explainer, daemon=True).start()
        # Everything loaded so far lives as long as the worker: move it out of the garbage
        # collector's sight, so full collections stop walking the model. With the shorter
        # timeout above, p99 of 1,000-row requests fell from ~250 to ~140 ms
        # (benchmarks/serving.py).
        gc.collect()
        gc.freeze()
        self.ready = True
        logging.getLogger("churn_service").info(
            "churn model %s v%s (%s) loaded in %.2f s",
            self.meta.model_name,
            self.champion.version,
            self.champion.family,
            time.perf_counter() - started,
        )

    def __is_ready__(self) -> bool:
        return getattr(self, "ready", False)

    def _load_explainer(self) -> None:
        # SHAP's import takes seconds; predictions do not wait for it.
        try:
            import pandas as pd

            from churn_assets.lib.evaluation.explain import FieldExplainer

            background = pd.read_parquet(_BUNDLE / BACKGROUND_FILE)
            self._explainer = FieldExplainer(self.predictor.champion.source, background)
        except Exception as exc:  # reported by /explain and /model_info
            self._explainer_error = f"{type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ scoring
    def _score(self, records: list[dict[str, Any]]) -> list[Prediction]:
        request_id = new_request_id()
        scored = self.predictor.score(records, request_id)
        # model_construct: the values come from the scorer, not from the client, and
        # validating them again costs 4 ms per 1,000 rows.
        out = [
            Prediction.model_construct(
                customer_id=row.customer_id,
                churn_probability=row.probability,
                churn=row.label,
                risk_tier=row.tier,
                threshold=row.slot.threshold,
                model_name=self.meta.model_name,
                model_version=row.slot.version,
                request_id=request_id,
            )
            for row in scored
        ]
        self._record(
            scored, self.log.write(self.predictor.log_entries(records, scored, request_id))
        )
        return out

    def _record(self, scored: list[Any], logged: bool) -> None:
        """Metrics of one request's scored rows, and whether its log lines were written."""
        self.metrics.record(scored)
        # Best effort (PredictionLog never raises): the client gets its prediction.
        if logged != self._log_ok:
            self._log_ok = logged
            self.metrics.log_ok.set(int(logged))

    def score_columns(
        self, columns: dict[str, Any], ids: list[Any], values: Any
    ) -> tuple[list[Any], str]:
        """Score a batch in columns for ``/bulk/predict``, logged as every prediction is:
        the scored rows and the request id. ``values()`` gives the rows' fields as sent
        (Arrow columns, or Python values for a JSON body), for the prediction log only: a
        columnar batch of ``TABLE_MIN_ROWS`` or more is logged as one Parquet file."""
        request_id = new_request_id()
        scored = self.predictor.score_columns(columns, ids, request_id)
        fields = values()
        if len(scored) >= TABLE_MIN_ROWS and not any(isinstance(v, list) for v in fields.values()):

            def table() -> Any:  # built inside the write: a failure is a failed write
                return self.predictor.log_table_from_columns(fields, scored, request_id)

            logged = self.log.write_table(table, len(scored))
        else:
            entries = self.predictor.log_entries_from_columns(fields, scored, request_id)
            logged = self.log.write(entries)
        self._record(scored, logged)
        return scored, request_id

    @bentoml.api(route="/predict")
    async def predict(self, customer: Customer, /) -> Prediction:  # type: ignore[valid-type]
        """Score one customer (the fields of the data contract)."""
        # async: scoring takes well under a millisecond, less than a thread hand-off would.
        return self._score([customer.__dict__])[0]

    @bentoml.api(
        route="/predict_batch",
        batchable=True,
        # max_batch_size is in rows: concurrent requests are merged up to one request's
        # limit, so a full request is never split and scoring cost per row is at its floor
        # (per-call overhead is paid once per merged batch). max_latency_ms is not a wait
        # window (BentoML's dispatcher learns its own) but the deadline after which a queued
        # request gets a 503: far above a full batch's ~0.3 s here, so load is queued, not
        # shed. benchmarks/serving.py measures both.
        max_batch_size=MAX_BATCH_ROWS,
        max_latency_ms=10_000,
    )
    def predict_batch(self, customers: CustomerBatch, /) -> list[Prediction]:
        """Score a list of customers (1 to 5,000 per request)."""
        return self._score([c.__dict__ for c in customers])

    @bentoml.api(route="/explain")
    def explain(
        self,
        customers: Annotated[
            list[Customer],  # type: ignore[valid-type]
            Field(min_length=1, max_length=MAX_EXPLAIN_ROWS),
        ],
        top_k: Annotated[int, Field(ge=1, le=20)] = 3,
    ) -> list[Explanation]:
        """The top_k fields that raise each customer's churn score most (SHAP, log-odds).

        503 with ``Retry-After`` in the first seconds after start-up, while the explainer
        loads (``explainer_ready`` in ``/model_info`` says when it has)."""
        if self._explainer is None:
            # A response of our own: BentoML words every 5xx exception as "An unexpected
            # error has occurred", which tells the client nothing.
            from starlette.responses import JSONResponse

            if self._explainer_error is None:
                detail = (
                    "the explainer is still loading (it takes a few seconds after start-up); "
                    f"retry after {EXPLAINER_RETRY_S} s"
                )
                headers = {"Retry-After": str(EXPLAINER_RETRY_S)}
            else:
                detail = f"the explainer failed to load: {self._explainer_error}"
                headers = {}
            body = {"error": "explanations unavailable", "detail": detail}
            return JSONResponse(body, status_code=503, headers=headers)  # type: ignore[return-value]
        import pandas as pd

        records = [c.__dict__ for c in customers]
        p = self.predictor.champion.predict_proba(records)
        frame = pd.DataFrame(records)[_CONTRACT.feature_columns]
        frame = frame.fillna(self.predictor.champion.null_fills)  # as the scorer does
        reasons = self._explainer.top_reasons(frame, k=top_k)
        return [
            Explanation(
                customer_id=record.get(self.predictor.id_column),
                churn_probability=float(prob),
                risk_tier=risk_tier(
                    float(prob), self.champion.threshold, self.meta.medium_threshold
                ),
                model_version=self.champion.version,
                reasons=[Reason(**r) for r in row_reasons],
            )
            for record, prob, row_reasons in zip(records, p, reasons, strict=True)
        ]

    @bentoml.api(route="/model_info")
    def model_info(self) -> ModelInfo:
        """The loaded model versions, thresholds and traffic split."""
        shadow = self.shadow.__dict__ if self.shadow is not None else None
        return ModelInfo(
            model_name=self.meta.model_name,
            champion=self.champion.__dict__,
            shadow=shadow,
            shadow_share=self.predictor.shadow_share if shadow else 0.0,
            ab_share=self.predictor.ab_share,
            contract=self.meta.contract_name,
            packaged_at=self.meta.packaged_at,
            explainer_ready=self._explainer is not None,
            prediction_log=self.log.status(),
        )


# Outermost of ours, inside BentoML's request metrics: a refused request is still counted.
ChurnService.add_asgi_middleware(Guard)
quiet_client_errors()
