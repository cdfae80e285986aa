"""Bulk-scoring benchmark (#18): ``POST /bulk/predict`` with Arrow IPC and JSON bodies of
100 to 100,000 rows, ``/predict_batch`` with JSON beside it, and the in-process ceiling (the
champion's compiled scorer on the same rows, no HTTP).

Serves the home's built bento (``bentoml serve churn_service:latest``, 1 worker), sends
``--repeats`` sequential requests per body and size after one warm-up, and reports p50 and
p99 per request and rows/s at p50. The rows are the bento's own OpenAPI example with the id
and tenure varied. Predictions go to a temporary folder.

Needs a home whose bento was built from a checkout with the bulk endpoint (``make demo``)::

    uv run --frozen python benchmarks/bulk_serving.py --home .churn

Prints one JSON object on one line, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.serving import _bento_model, _resolve_home
from benchmarks.serving_servers import Server, bentoml_binary, machine_info, running, serve_env

REPO = Path(__file__).resolve().parent.parent
ARROW = "application/vnd.apache.arrow.stream"
SIZES = (100, 1_000, 10_000, 100_000)
BATCH_LIMIT = 5_000  # /predict_batch's own limit per request


def _rows(example: dict[str, Any], n: int) -> list[dict[str, Any]]:
    return [{**example, "customerID": f"{i:07d}-BULK", "tenure": i % 70} for i in range(n)]


def _arrow(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _timed(url: str, body: bytes, media: str, repeats: int) -> list[float]:
    import requests

    session = requests.Session()
    seconds = []
    for i in range(repeats + 1):  # the first is a warm-up
        started = time.perf_counter()
        answer = session.post(url, data=body, headers={"Content-Type": media}, timeout=300)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise SystemExit(f"{url}: {answer.status_code} {answer.text[:300]}")
        if i:
            seconds.append(elapsed)
    return seconds


def _in_process(home: Path, rows: list[dict[str, Any]], repeats: int) -> float:
    """The champion's compiled scorer on the rows' columns: rows/s at the median."""
    import mlflow
    import pandas as pd

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.monitoring.champion import load_champion
    from churn_assets.lib.tracking import default_tracking_uri

    mlflow.set_tracking_uri(default_tracking_uri(home))
    contract = DataContract.load()
    scorer = load_champion("churn-model", contract).scorer
    frame = pd.DataFrame(rows)[contract.feature_columns]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        scorer.score_columns(scorer.columns_from_frame(frame))
        times.append(time.perf_counter() - started)
    return len(rows) / statistics.median(times)


def _summary(body: str, rows: int, seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "body": body,
        "rows": rows,
        "p50_ms": round(p50 * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "rows_per_s": round(rows / p50),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="CHURN_HOME (default: $CHURN_HOME, else .churn)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    home = _resolve_home(args.home)
    _, model_tag, model_folder = _bento_model(home)
    example = json.loads((model_folder / "serving.json").read_text())["example"]
    bentoml_bin = bentoml_binary()
    machine = machine_info()
    work = Path(tempfile.mkdtemp(prefix="churn-bench-bulk-"))
    # 100,000 Arrow rows are ~20 MB: the bulk route's body must fit the guard's limit.
    env = serve_env(home, work, CHURN_SERVICE_MAX_BODY_BYTES=str(256 * 1024 * 1024))
    server = Server(
        "churn_service (1 worker)", "churn_service:latest", 1, env, work, work / "serve.log"
    )
    results = []
    try:
        with running(server, bentoml_bin, json.dumps(example).encode(), ours=False) as served:
            base = f"http://127.0.0.1:{served.port}"
            for n in args.sizes:
                rows = _rows(example, n)
                repeats = max(3, args.repeats if n <= 10_000 else args.repeats // 3)
                arrow = _timed(f"{base}/bulk/predict", _arrow(rows), ARROW, repeats)
                results.append(_summary("Arrow /bulk/predict", n, arrow))
                as_json = json.dumps(rows).encode()
                bulk = _timed(f"{base}/bulk/predict", as_json, "application/json", repeats)
                results.append(_summary("JSON /bulk/predict", n, bulk))
                if n <= BATCH_LIMIT:
                    batch = _timed(f"{base}/predict_batch", as_json, "application/json", repeats)
                    results.append(_summary("JSON /predict_batch", n, batch))
                ceiling = _in_process(home, rows, max(3, repeats))
                results.append(
                    {"body": "in-process scorer", "rows": n, "rows_per_s": round(ceiling)}
                )
                print(f"  {n:,} rows done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"machine": machine, "model": model_tag, "results": results}))
    print()
    print("| body | rows/request | p50 ms | p99 ms | rows/s |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        p50, p99 = r.get("p50_ms", "-"), r.get("p99_ms", "-")
        print(f"| {r['body']} | {r['rows']:,} | {p50} | {p99} | {r['rows_per_s']:,} |")


if __name__ == "__main__":
    main()
