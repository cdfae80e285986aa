"""The report of ``benchmarks/serving.py``: the issue's targets with pass/fail, and the
markdown tables printed after the JSON line."""

from __future__ import annotations

from typing import Any

# Targets from the issue.
TARGET_P50_MS = 4.0
TARGET_P99_MS = 8.0
TARGET_P50_VS_EMPTY = 1.3
TARGET_RPS_16 = 400.0
TARGET_BATCH_ROWS_S = 20_000.0
TARGET_FIRST_PREDICTION_S = 10.0
# A scenario during which other processes used more CPU than this is flagged as contended.
CONTENDED_CORES = 0.3


def targets(results: dict[str, dict[str, Any]], startup: dict[str, Any]) -> list[dict]:
    a, b, b16 = results["a"], results["b"], results["b16"]
    batch = results["batch_c1"]
    ratio = b["p50_ms"] / a["p50_ms"]
    first = startup["ours_1w"]["first_prediction_s"]
    return [
        {
            "target": f"(b) p50 <= {TARGET_P50_MS:g} ms",
            "measured": f"{b['p50_ms']:.2f} ms",
            "pass": b["p50_ms"] <= TARGET_P50_MS,
        },
        {
            "target": f"(b) p99 <= {TARGET_P99_MS:g} ms",
            "measured": f"{b['p99_ms']:.2f} ms",
            "pass": b["p99_ms"] <= TARGET_P99_MS,
        },
        {
            "target": f"(b) p50 <= {TARGET_P50_VS_EMPTY}x (a) p50",
            "measured": f"{ratio:.2f}x ({b['p50_ms']:.2f} / {a['p50_ms']:.2f} ms)",
            "pass": ratio <= TARGET_P50_VS_EMPTY,
        },
        {
            "target": f"(b16) >= {TARGET_RPS_16:g} req/s, 0 errors",
            "measured": f"{b16['req_per_s']:.0f} req/s, {b16['errors']} errors",
            "pass": b16["req_per_s"] >= TARGET_RPS_16 and b16["errors"] == 0,
        },
        {
            "target": f"batch >= {TARGET_BATCH_ROWS_S:,.0f} rows/s (1,000-row requests)",
            "measured": f"{batch['rows_per_s']:,} rows/s (1 worker, concurrency 1)",
            "pass": batch["rows_per_s"] >= TARGET_BATCH_ROWS_S and batch["errors"] == 0,
        },
        {
            "target": f"first prediction <= {TARGET_FIRST_PREDICTION_S:g} s after start",
            "measured": f"{first:.2f} s",
            "pass": first <= TARGET_FIRST_PREDICTION_S,
        },
    ]


def print_tables(report: dict[str, Any]) -> None:
    print("| scenario | service | workers | conc. | req/s | rows/s | p50 ms | p90 ms | p99 ms "
          "| errors | server CPU ms/req | server cores | other cores |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, r in report["scenarios"].items():
        print(
            f"| {key} | {r['service']} | {r['workers']} | {r['concurrency']} "
            f"| {r['req_per_s']:,.0f} | {r['rows_per_s']:,} | {r['p50_ms']:.2f} "
            f"| {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} "
            f"| {r.get('server_cpu_ms_per_req', float('nan')):.2f} "
            f"| {r.get('server_cpu_cores', float('nan')):.2f} "
            f"| {r.get('other_cpu_cores', float('nan')):.2f} |"
        )
    print(
        "\nserver CPU: user+system CPU of the server's processes per request and in cores; "
        "other cores: everything else the machine ran meanwhile (~0.1 on a quiet machine: "
        "kernel networking), besides the load generator.\n"
    )
    print("| start-up | /readyz s | first prediction s |\n|---|---|---|")
    for key, s in report["startup"].items():
        print(f"| {key} | {s['readyz_s']} | {s['first_prediction_s']} |")
    print()
    print("| target | measured | pass |\n|---|---|---|")
    for t in report["targets"]:
        print(f"| {t['target']} | {t['measured']} | {'pass' if t['pass'] else '**FAIL**'} |")
    if report["contended"]:
        print(
            f"\nwarning: other processes used > {CONTENDED_CORES} core during "
            f"{', '.join(report['contended'])}: rerun on a quiet machine for those numbers."
        )
