"""Batch-scoring benchmark: the ``score_customers`` path (``lib.scoring.batch``) on 1M and 10M
simulated customer-months, rows/s and peak memory, Parquet folder in, Parquet sink out.

The rows are simulated first, in a separate process, one Parquet file per 100k customers x 10
months (so generating them costs the scoring process nothing). Then each size is scored in a
fresh process: chunks of ``--chunk-rows`` read, validated against the contract (target
optional), scored by the champion's compiled scorer and written. The process reports its peak
RSS (``ru_maxrss``) and its RSS after loading the champion, before the first chunk: memory that
does not grow with the rows shows as the same peak at 1M and 10M.

Needs a home with a champion (``make demo``)::

    uv run --frozen python benchmarks/batch_scoring.py --home .churn
    uv run --frozen python benchmarks/batch_scoring.py --home .churn --rows 1000000 10000000

Prints one JSON object on one line, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FILE_CUSTOMERS = 100_000  # customers per generated file (x months rows)


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    kb = next(int(s.split()[1]) for s in status.splitlines() if s.startswith("VmRSS:"))
    return round(kb / 1024, 1)


def generate(folder: Path, rows: int, months: int) -> list[Path]:
    """``rows`` simulated customer-months as Parquet files of ``FILE_CUSTOMERS`` customers."""
    from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate

    folder.mkdir(parents=True, exist_ok=True)
    customers, paths, seed = rows // months, [], 0
    while customers > 0:
        n = min(FILE_CUSTOMERS, customers)
        frame = simulate(SimulatorConfig(n_customers=n, months=months, seed=seed)).snapshots
        frame["customerID"] = f"f{seed}-" + frame["customerID"].astype(str)  # unique per file
        path = folder / f"customers-{seed:03d}.parquet"
        frame.drop(columns="Churn").to_parquet(path, index=False)
        paths.append(path)
        customers, seed = customers - n, seed + 1
    return paths


def score(source: Path, sink: Path, chunk_rows: int, top_reasons: int) -> dict[str, Any]:
    """Score a folder in this process; what it took."""
    import mlflow

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.ingestion.uri import parse_data_uri
    from churn_assets.lib.monitoring.champion import load_champion
    from churn_assets.lib.scoring.batch import score_source, source_chunks
    from churn_assets.lib.scoring.sinks import REJECTED_SUFFIX, open_sink
    from churn_assets.lib.tracking import default_tracking_uri

    home = Path(os.environ["CHURN_HOME"])
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(home))
    contract = DataContract.load()
    champion = load_champion("churn-model", contract)
    explainer = None
    if top_reasons:
        from churn_assets.lib.monitoring.reference import load_reference
        from churn_assets.lib.monitoring.scoring import reason_explainer

        explainer = reason_explainer(champion, load_reference(champion.slot), contract)
    before = _rss_mb()
    started = time.perf_counter()
    done = score_source(
        source_chunks(parse_data_uri(str(source)), chunk_rows),
        contract,
        champion,
        open_sink(str(sink), "bench"),
        open_sink(str(sink), "bench", REJECTED_SUFFIX),
        run_id="bench",
        explainer=explainer,
        top_k=top_reasons,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": done.rows,
        "scored": done.scored,
        "rejected": done.rejected,
        "chunks": done.chunks,
        "seconds": round(seconds, 1),
        "rows_per_s": round(done.rows / seconds),
        "rss_before_mb": before,
        "peak_rss_mb": round(peak, 1),
        "family": champion.slot.family,
    }


def _run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=os.environ.get("CHURN_HOME", str(REPO / ".churn")))
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--months", type=int, default=10)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--top-reasons", type=int, default=0)
    parser.add_argument("--child", choices=["generate", "score"], help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "generate":
        paths = generate(Path(args.source), args.rows[0], args.months)
        print(json.dumps({"files": len(paths)}))
        return
    if args.child == "score":
        print(
            json.dumps(score(Path(args.source), Path(args.sink), args.chunk_rows, args.top_reasons))
        )
        return

    from benchmarks.serving_servers import machine_info

    home = Path(args.home).expanduser().resolve()
    env = {**os.environ, "CHURN_HOME": str(home), "OMP_NUM_THREADS": "1"}
    results = []
    work = Path(tempfile.mkdtemp(prefix="churn-batch-bench-"))
    try:
        for rows in args.rows:
            source, sink = work / f"in-{rows}", work / f"out-{rows}"
            started = time.perf_counter()
            _run_child(
                [
                    "--child",
                    "generate",
                    "--rows",
                    str(rows),
                    "--months",
                    str(args.months),
                    "--source",
                    str(source),
                ],
                env,
            )
            generated = time.perf_counter() - started
            common = ["--chunk-rows", str(args.chunk_rows), "--top-reasons", str(args.top_reasons)]
            result = _run_child(
                ["--child", "score", "--source", str(source), "--sink", str(sink), *common], env
            )
            results.append(
                {**result, "generate_s": round(generated, 1), "chunk_rows": args.chunk_rows}
            )
            shutil.rmtree(source, ignore_errors=True)
            shutil.rmtree(sink, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps({"machine": machine_info(), "top_reasons": args.top_reasons, "results": results})
    )
    print()
    print("| rows | chunks | seconds | rows/s | RSS before scoring | peak RSS |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['chunks']} | {r['seconds']} | {r['rows_per_s']:,} | "
            f"{r['rss_before_mb']:,.0f} MB | {r['peak_rss_mb']:,.0f} MB |"
        )


if __name__ == "__main__":
    main()
