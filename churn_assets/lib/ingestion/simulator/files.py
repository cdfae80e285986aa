"""Monthly files: one CSV or Parquet file per snapshot month, like a landing folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churn_assets.lib.ingestion.simulator.config import SimulationResult


def write_monthly_files(
    result: SimulationResult, folder: str | Path, fmt: str = "csv"
) -> list[Path]:
    """Write one file per snapshot month, ``customers_YYYY-MM.csv`` (or ``.parquet``).

    CSV files have no index and leave missing values blank, like the real Telco export.

    Args:
        result: Output of :func:`~churn_assets.lib.ingestion.simulator.dynamics.simulate`.
        folder: Destination folder, created if missing.
        fmt: ``"csv"`` or ``"parquet"``.

    Returns:
        The written paths, in month order.

    Raises:
        ValueError: If ``fmt`` is not supported.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unsupported format {fmt!r}; use 'csv' or 'parquet'")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    frame = result.snapshots
    paths: list[Path] = []
    for month, rows in frame.groupby("snapshot_month", sort=True):
        path = target / f"customers_{pd.Timestamp(month):%Y-%m}.{fmt}"
        part = rows.reset_index(drop=True)
        if fmt == "csv":
            part.to_csv(path, index=False, na_rep="")
        else:
            part.to_parquet(path, index=False)
        paths.append(path)
    return paths
