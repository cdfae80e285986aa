"""Erase a customer from everything the platform stored (a data-subject erasure request).

What holds rows of a customer (docs/privacy.md has the full map):

- the asset tables under the storage URI (raw, validated, quarantined, features, splits,
  monthly batches and scores, monthly quarantines): Parquet files with the contract's id
  column, rewritten without the customer's rows (to a temporary name, then renamed);
- the service's prediction logs: JSON lines whose id field holds the customer's id or its
  pseudonym (the default contract logs pseudonyms), rewritten in place, and large bulk
  requests' Parquet files, rewritten like the tables.

What does not, and why: fitted models, reports and the model card hold no rows (checked by a
test); the Dagster event log holds previews, pseudonymised by the contract's default rule; a
model trained on the customer keeps what it learned until the next retraining on data
without them. The platform never writes to the source (``CHURN_DATA_URI``): erase the customer
there too, or the next ingestion brings them back.

Run ``python -m churn_assets.lib.erasure <customer id> [--dry-run]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn_assets.lib.privacy import pseudonym
from churn_assets.lib.settings import predictions_dir, storage_uri

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract


@dataclass
class ErasureReport:
    """Rows found (and removed, unless a dry run) per file."""

    customer: str
    dry_run: bool
    tables: dict[str, int] = field(default_factory=dict)
    prediction_logs: dict[str, int] = field(default_factory=dict)
    tables_scanned: int = 0
    logs_scanned: int = 0

    @property
    def rows(self) -> int:
        """Every row found, tables and prediction logs together."""
        return sum(self.tables.values()) + sum(self.prediction_logs.values())

    def lines(self) -> list[str]:
        """The report as text lines for a person."""
        verb = "would remove" if self.dry_run else "removed"
        out = [
            f"{verb} {self.rows} row(s) of the customer: {self.tables_scanned} table(s) and "
            f"{self.logs_scanned} prediction log(s) scanned"
        ]
        out += [f"  {n:>6}  {path}" for path, n in {**self.tables, **self.prediction_logs}.items()]
        out.append(
            "Erase the customer in the source too (CHURN_DATA_URI), or the next ingestion brings "
            "them back; models trained before now forget them at the next retraining."
        )
        return out


def erase_customer(
    customer: str,
    contract: DataContract,
    storage: str | None = None,
    predictions: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
) -> ErasureReport:
    """Remove every stored row of ``customer`` (see the module docstring for where)."""
    report = ErasureReport(customer=customer, dry_run=dry_run)
    matches = {customer, pseudonym(customer)}
    _erase_tables(storage or storage_uri(), contract.id_column, matches, report)
    _erase_logs(Path(predictions or predictions_dir()), contract.id_column, matches, report)
    return report


def _erase_tables(base: str, id_column: str, matches: set, report: ErasureReport) -> None:
    import pyarrow.parquet as pq
    from upath import UPath

    root = UPath(base)
    if not root.exists():
        return
    for path in sorted(root.rglob("*.parquet"), key=str):
        with path.open("rb") as f:
            names = pq.ParquetFile(f).schema_arrow.names
        if id_column not in names:
            continue
        report.tables_scanned += 1
        _erase_rows(path, id_column, matches, report.tables, report.dry_run)


def _erase_rows(path: Any, id_column: str, matches: set, found: dict, dry_run: bool) -> None:
    """The rows of a Parquet file whose id is one of ``matches``: counted in ``found``
    and, unless a dry run, removed (the file rewritten beside it, then renamed over it)."""
    import pandas as pd

    with path.open("rb") as f:
        ids = pd.read_parquet(f, columns=[id_column])[id_column]
    hit = ids.astype("string").str.strip().isin(matches).fillna(False).to_numpy()
    if not hit.any():
        return
    found[str(path)] = int(hit.sum())
    if dry_run:
        return
    with path.open("rb") as f:
        frame = pd.read_parquet(f)
    tmp = path.with_name(path.name + ".erasing")
    with tmp.open("wb") as f:
        frame.loc[~hit].to_parquet(f, index=False)
    tmp.rename(path)


def _erase_logs(folder: Path, id_column: str, matches: set, report: ErasureReport) -> None:
    from churn_assets.lib.serving.prediction_log import PATTERN, TABLE_PATTERN

    # A bulk request's Parquet file is never appended to: rewritten and renamed like a table.
    for path in sorted(folder.glob(TABLE_PATTERN)):
        report.logs_scanned += 1
        _erase_rows(path, id_column, matches, report.prediction_logs, report.dry_run)
    for path in sorted(folder.glob(PATTERN)):
        report.logs_scanned += 1
        # In place, not by rename: a running service appends to this file through its open
        # handle (O_APPEND), so after the truncation its next line lands at the new end.
        # Lines it appends while this reads are read too (the loop below); one appended in
        # the instant between the last read and the truncation would be lost, so erase with
        # the service stopped when every line must be kept (docs/privacy.md).
        with open(path, "r+b") as handle:
            data = handle.read()
            while (grown := handle.read()) != b"":
                data += grown
            lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
            kept = [line for line in lines if not _logged_for(line, id_column, matches)]
            if len(kept) == len(lines):
                continue
            report.prediction_logs[str(path)] = len(lines) - len(kept)
            if report.dry_run:
                continue
            handle.seek(0)
            handle.write("".join(kept).encode("utf-8"))
            handle.truncate()


def _logged_for(line: str, id_column: str, matches: set) -> bool:
    if not line.strip():
        return False
    try:
        entry: dict[str, Any] = json.loads(line)
    except ValueError:
        return any(m in line for m in matches if m)  # a torn line: erase on any mention
    fields = entry.get("features") if isinstance(entry.get("features"), dict) else entry
    return str(fields.get(id_column, "")).strip() in matches


def main(argv: list[str] | None = None) -> int:
    """The command line: erase one customer, print what was found where."""
    from churn_assets.lib.contract import DataContract

    parser = argparse.ArgumentParser(prog="python -m churn_assets.lib.erasure", description=__doc__)
    parser.add_argument("customer", help="the customer's id, as in the contract's id column")
    parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
    parser.add_argument("--storage", help="storage URI (default: $CHURN_STORAGE_URI)")
    parser.add_argument("--predictions", help="prediction log folder (default: the service's)")
    args = parser.parse_args(argv)
    report = erase_customer(
        args.customer.strip(),
        DataContract.load(),
        storage=args.storage,
        predictions=args.predictions,
        dry_run=args.dry_run,
    )
    sys.stdout.write("\n".join(report.lines()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
