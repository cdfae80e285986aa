"""``POST /bulk/predict``: bulk scoring with a columnar body, partial success.

The body's format is chosen by ``Content-Type``: ``application/vnd.apache.arrow.stream``
(Arrow IPC stream), ``application/vnd.apache.parquet`` or ``application/x-parquet``,
``text/csv``, ``application/json`` (a list of records). The answer comes in the same format:
one row per request row, in order, with ``row`` (its index), ``customer_id``,
``churn_probability``, ``churn``, ``risk_tier``, ``model_version`` and ``errors`` (null for a
scored row; for a rejected row, a JSON list of reasons from
:func:`churn_assets.lib.serving.columnar.row_verdicts`, and nulls for the scores). JSON
answers ``{"request_id", "predictions": [...], "rejected": [{"row", "reasons"}]}``. A body
that cannot be parsed is a 400 naming the format; a batch over :data:`MAX_BULK_ROWS` a 400.
A Starlette app mounted on the service (``bentoml.mount_asgi_app``), so the guard's auth and
body limit apply to it as to every route.
"""

from __future__ import annotations

import json
from typing import Any

from churn_assets.lib.serving.columnar import MISSING, columns_from_records, row_verdicts

MAX_BULK_ROWS = 100_000
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = ("application/vnd.apache.parquet", "application/x-parquet")
CSV = "text/csv"
JSON = "application/json"


def _answer_types() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "customer_id": pa.string(),
        "churn_probability": pa.float64(),
        "churn": pa.bool_(),
        "risk_tier": pa.string(),
        "model_version": pa.string(),
    }


class BadBody(ValueError):
    """The body cannot be read in the format its Content-Type names."""


def parse(body: bytes, media: str, contract: Any) -> tuple[Any, int]:
    """The batch (an Arrow table, or columns of JSON records) and its row count."""
    import pyarrow as pa

    try:
        if media == ARROW:
            table = pa.ipc.open_stream(pa.BufferReader(body)).read_all()
        elif media in PARQUET:
            import pyarrow.parquet as pq

            table = pq.read_table(pa.BufferReader(body))
        elif media == CSV:
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(pa.BufferReader(body))
        elif media == JSON:
            import orjson

            records = orjson.loads(body)
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise BadBody("a JSON body must be a list of objects (one per customer)")
            return columns_from_records(records, contract), len(records)
        else:
            raise BadBody(
                f"unsupported Content-Type {media!r}: send one of {ARROW}, {PARQUET[0]}, "
                f"{CSV}, {JSON}"
            )
    except BadBody:
        raise
    except Exception as exc:  # pyarrow/orjson errors: the client's body, not our fault
        raise BadBody(f"the body is not valid {media}: {type(exc).__name__}: {exc}") from exc
    return table, table.num_rows


def good_columns(batch: Any, good: list[int], contract: Any) -> tuple[dict, list, Any]:
    """The good rows' fields as the scorer takes them (NumPy columns, nulls as NaN / None),
    their ids, and a function giving them as sent, per field (for the prediction log only):
    Arrow columns, or Python values for a JSON body."""
    import numpy as np

    names = [contract.id_column, *contract.feature_columns]
    numeric = set(contract.numeric_features)
    n = len(good)
    if isinstance(batch, dict):  # JSON columns; a left-out (nullable) field is a null
        lists = {
            k: [None if (v := values[i]) is MISSING else v for i in good]
            if (values := batch.get(k)) is not None
            else [None] * n
            for k in names
        }
        arrays = {
            k: np.array([np.nan if v is None else v for v in lists[k]], dtype=np.float64)
            if k in numeric
            else np.array(lists[k], dtype=object)
            for k in contract.feature_columns
        }
        return arrays, lists[contract.id_column], lambda: lists
    import pyarrow as pa

    table = batch if n == batch.num_rows else batch.take(pa.array(good, pa.int64()))
    columns = {k: table.column(k) if k in table.column_names else None for k in names}
    arrays = {}
    for k in contract.feature_columns:
        column = columns[k]
        if column is None:
            arrays[k] = np.full(n, np.nan) if k in numeric else np.full(n, None, dtype=object)
        elif k in numeric:  # rows that passed hold numbers or nulls (NaN here)
            arrays[k] = column.cast(pa.float64()).to_numpy()
        else:
            arrays[k] = column.to_numpy(zero_copy_only=False).astype(object, copy=False)
    id_column = columns[contract.id_column]
    ids = id_column.to_pylist() if id_column is not None else [None] * n

    def values() -> dict[str, Any]:
        return {k: c if c is not None else pa.nulls(n) for k, c in columns.items()}

    return arrays, ids, values


def answer(service: Any, batch: Any, n: int, media: str, contract: Any) -> tuple[bytes, str]:
    """Validate ``batch``, score its good rows, and the response body in ``media``."""

    verdicts = row_verdicts(batch, contract)
    good = [i for i in range(n) if i not in verdicts]
    scored: list[Any] = []
    request_id = ""
    if good:
        arrays, ids, values = good_columns(batch, good, contract)
        scored, request_id = service.score_columns(arrays, ids, values)
    if media == JSON:
        import orjson

        out = {
            "request_id": request_id,
            "predictions": [
                {"row": i, **_prediction(s, service.meta.model_name, request_id)}
                for i, s in zip(good, scored, strict=True)
            ],
            "rejected": [{"row": i, "reasons": r} for i, r in verdicts.items()],
        }
        return orjson.dumps(out), JSON
    table = answer_table(scored, good, verdicts, n)
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    if media == ARROW:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    elif media in PARQUET:
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    else:
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes(), media


def answer_table(scored: Any, good: list[int], verdicts: dict[int, list], n: int) -> Any:
    """The columnar answer: one row per request row, in order; a rejected row's scores are
    nulls and its ``errors`` the JSON list of its reasons."""
    import numpy as np
    import pyarrow as pa

    def spread(values: Any, dtype: Any, fill: Any = None) -> Any:
        """A good-rows column over all ``n`` rows, null where a row was rejected."""
        if not verdicts:
            return pa.array(values, dtype)
        full = np.full(n, fill, dtype=object if fill is None else type(fill))
        full[good] = values
        return pa.array(full, dtype, mask=rejected)

    rejected = np.zeros(n, dtype=bool)
    rejected[list(verdicts)] = True
    errors = np.full(n, None, dtype=object)
    for i, reasons in verdicts.items():
        errors[i] = json.dumps(reasons)
    if not good:  # every row rejected
        nulls = {k: pa.nulls(n, t) for k, t in _answer_types().items()}
        return pa.table({"row": pa.array(np.arange(n)), **nulls, "errors": pa.array(errors)})
    return pa.table(
        {
            "row": pa.array(np.arange(n, dtype=np.int64)),
            "customer_id": spread(np.array(scored.customer_ids, dtype=object), pa.string()),
            "churn_probability": spread(scored.probability, pa.float64(), np.nan),
            "churn": spread(scored.label, pa.bool_(), False),
            "risk_tier": spread(scored.tier, pa.string()),
            "model_version": spread(scored.versions(), pa.string()),
            "errors": pa.array(errors, pa.string()),
        }
    )


def _prediction(s: Any, model_name: str, request_id: str) -> dict[str, Any]:
    """A scored row as ``/predict`` answers it."""
    return {
        "customer_id": s.customer_id,
        "churn_probability": s.probability,
        "churn": s.label,
        "risk_tier": s.tier,
        "threshold": s.slot.threshold,
        "model_name": model_name,
        "model_version": s.slot.version,
        "request_id": request_id,
    }


def bulk_app(contract: Any) -> Any:
    """The Starlette app of ``/bulk`` (``/bulk/predict``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def predict(request: Request) -> Response:
        import bentoml

        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        try:
            batch, n = parse(body, media, contract)
            if n == 0 or n > MAX_BULK_ROWS:
                raise BadBody(f"send 1 to {MAX_BULK_ROWS:,} rows per request, not {n:,}")
        except BadBody as exc:
            return JSONResponse({"error": "bad bulk body", "detail": str(exc)}, status_code=400)
        data, out_media = answer(bentoml.get_current_service(), batch, n, media, contract)
        return Response(data, media_type=out_media)

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])
