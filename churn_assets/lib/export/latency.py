"""One-record and batch latency of the exported model in onnxruntime, beside the compiled
scorer's on the same rows (what the edge figure in the model card and
``benchmarks/onnx_latency.py`` report)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def _percentiles(seconds: list[float]) -> dict[str, float]:
    micros = np.asarray(seconds) * 1e6
    return {"p50_us": float(np.percentile(micros, 50)), "p99_us": float(np.percentile(micros, 99))}


def _timed(call: Callable[[], Any], repeats: int) -> list[float]:
    call()  # warm-up: first-call allocations are not the steady state
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def onnx_latency(
    onnx_bytes: bytes, frame: pd.DataFrame, *, records: int = 200, batch_rows: int = 0
) -> dict[str, float]:
    """onnxruntime (one intra-op thread): p50/p99 µs of one record at a time over the first
    ``records`` rows, and, with ``batch_rows``, of one call on that many rows (repeated)."""
    from churn_assets.lib.export.onnx import onnx_feeds, session

    sess = session(onnx_bytes, threads=1)
    inputs = [i.name for i in sess.get_inputs()]
    numeric = {i.name for i in sess.get_inputs() if i.type == "tensor(double)"}
    singles = [
        onnx_feeds(frame.iloc[[i]], inputs, numeric) for i in range(min(records, len(frame)))
    ]
    times: list[float] = []
    for feeds in singles:
        times.extend(_timed(lambda feeds=feeds: sess.run(["probability"], feeds), 1))
    out = {f"one_{k}": v for k, v in _percentiles(times).items()}
    if batch_rows:
        feeds = onnx_feeds(frame.iloc[:batch_rows], inputs, numeric)
        batch = _timed(lambda: sess.run(["probability"], feeds), 20)
        out.update({f"batch_{k}": v for k, v in _percentiles(batch).items()})
    return out


def scorer_latency(
    scorer: Any, frame: pd.DataFrame, *, records: int = 200, batch_rows: int = 0
) -> dict[str, float]:
    """:meth:`CompiledScorer.predict_proba` on the same rows: one record (a dict, as the
    service passes it) and, with ``batch_rows``, a list of that many records."""
    rows = frame.to_dict("records")
    times: list[float] = []
    for record in rows[:records]:
        times.extend(_timed(lambda record=record: scorer.predict_proba([record]), 1))
    out = {f"one_{k}": v for k, v in _percentiles(times).items()}
    if batch_rows:
        batch = rows[:batch_rows]
        out.update(
            {
                f"batch_{k}": v
                for k, v in _percentiles(_timed(lambda: scorer.predict_proba(batch), 20)).items()
            }
        )
    return out
