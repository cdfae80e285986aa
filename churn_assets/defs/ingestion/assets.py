"""Ingestion: the data source, the raw table, and its split into validated and quarantined rows."""

from typing import TYPE_CHECKING

import dagster as dg
from dagster_aws.s3 import S3Resource

from churn_assets.defs.resources import ChurnPlatform

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.ingestion.validation import ValidationResult

GROUP = "ingestion"


@dg.observable_source_asset(
    group_name=GROUP,
    description=(
        "The customer data source named by CHURN_DATA_URI (simulator, local file or folder, "
        "S3 prefix, or a database table or query). Observing it records a version of the "
        "files there (names, sizes, modification times or ETags) or of the table (row count "
        "and newest updated_column, else every row), so new data marks raw_customers stale."
    ),
)
def customer_source(platform: ChurnPlatform, s3: S3Resource) -> dg.ObserveResult:
    from churn_assets.lib.ingestion.errors import SourceError
    from churn_assets.lib.ingestion.sources import source_version

    uri = platform.parsed_uri()
    try:
        version, n_files = source_version(uri, s3.get_client)
    except SourceError as exc:
        # A missing or unreadable source is not healed by waiting: fail at once, like
        # raw_customers (a store that does not answer raises something else and is retried).
        raise dg.Failure(
            description=str(exc), metadata={"uri": platform.shown_uri()}, allow_retries=False
        ) from exc
    return dg.ObserveResult(
        data_version=dg.DataVersion(version),
        metadata={
            "uri": platform.shown_uri(),
            "scheme": uri.scheme,
            # A database counts rows; a folder or prefix its files.
            "rows" if uri.scheme == "sql" else "files": n_files,
        },
    )


@dg.asset(
    group_name=GROUP,
    deps=[customer_source],
    kinds={"pandas", "parquet"},
    code_version="1",
)
def raw_customers(
    context: dg.AssetExecutionContext, platform: ChurnPlatform, s3: S3Resource
) -> dg.Output:
    """Every row of the source as received, plus lineage (`_source` file, `_line`, `_parse_error`).

    CSV is read as text so no value is lost before validation; a line that cannot be parsed
    (wrong field count, bytes that are not UTF-8) becomes a row with `_parse_error` set. The
    data version is a content hash, so re-reading unchanged data leaves downstream up to date.
    """
    from churn_assets.defs.metadata import table_metadata
    from churn_assets.lib.hashing import frame_hash
    from churn_assets.lib.ingestion.errors import SourceError
    from churn_assets.lib.ingestion.sources import load_raw

    contract = platform.contract()
    context.log.info(f"Reading {platform.shown_uri()} with contract {contract.name!r}")
    try:
        loaded = load_raw(platform.parsed_uri(), contract.event_time, s3.get_client)
    except SourceError as exc:
        raise dg.Failure(
            description=str(exc), metadata={"uri": platform.shown_uri()}, allow_retries=False
        ) from exc
    frame = loaded.frame
    if loaded.unparseable_lines:
        context.log.warning(
            f"{loaded.unparseable_lines} line(s) could not be parsed; they will be quarantined"
        )
    context.log.info(f"Read {len(frame):,} rows from {len(loaded.files) or 1} file(s)")
    for name, reason in loaded.rejected.items():
        context.log.warning(f"Rejected unreadable file {name} (quarantined as one row): {reason}")
    return dg.Output(
        frame,
        data_version=dg.DataVersion(frame_hash(frame)),
        metadata={
            **table_metadata(frame, contract),
            "source": loaded.description,
            "files": dg.MetadataValue.json(loaded.files),
            "unparseable_lines": loaded.unparseable_lines,
            "rejected_files": dg.MetadataValue.json(loaded.rejected),
            "contract": contract.path,
        },
    )


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "validated_customers": dg.AssetOut(
            kinds={"pandas", "parquet"},
            code_version="1",
            description=(
                "Rows that satisfy the data contract, coerced to its dtypes, with its null "
                "policies applied (contract columns only)."
            ),
        ),
        "quarantined_customers": dg.AssetOut(
            kinds={"pandas", "parquet"},
            code_version="1",
            description=(
                "Rows that broke the contract, as received, with their source file, line "
                "and every reason found (`_reasons`). Nothing is dropped silently."
            ),
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "rejected_share_within_limit",
            asset="validated_customers",
            blocking=True,
            description="The share of quarantined rows is at most the contract's limit.",
        )
    ],
)
def validate_customers(context: dg.AssetExecutionContext, platform: ChurnPlatform, raw_customers):
    """Validate raw rows against the contract with Pandera; split valid from quarantined."""
    from churn_assets.defs.metadata import markdown, table_metadata
    from churn_assets.lib.hashing import frame_hash
    from churn_assets.lib.ingestion.validation import (
        ContractViolationError,
        MissingColumnsError,
        validate_frame,
    )

    contract = platform.contract()
    try:
        result = validate_frame(raw_customers, contract, source=platform.shown_uri())
    except MissingColumnsError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={"missing_columns": dg.MetadataValue.json(exc.missing)},
            allow_retries=False,
        ) from exc
    except ContractViolationError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc

    limit = contract.max_rejected_share
    counts, reasons = result.counts(), result.reason_counts()
    context.log.info(
        f"{len(result.valid):,} valid, {len(result.quarantined):,} quarantined "
        f"({result.rejected_share:.2%}; limit {limit:.0%})"
    )
    if result.ignored_columns:
        context.log.warning(f"Columns not in the contract were ignored: {result.ignored_columns}")
    yield dg.Output(
        result.valid,
        output_name="validated_customers",
        data_version=dg.DataVersion(frame_hash(result.valid)),
        metadata={
            **table_metadata(result.valid, contract),
            **counts,
            "ignored_columns": dg.MetadataValue.json(result.ignored_columns),
            "contract": dg.MetadataValue.md(contract.describe().to_markdown(index=False)),
        },
    )
    yield dg.Output(
        result.quarantined,
        output_name="quarantined_customers",
        data_version=dg.DataVersion(frame_hash(result.quarantined)),
        metadata={
            **table_metadata(result.quarantined, contract),
            **counts,
            "reasons": markdown(reasons) if len(reasons) else dg.MetadataValue.md("none"),
        },
    )
    yield _rejected_share_check(result, reasons, contract)


def _rejected_share_check(
    result: "ValidationResult", reasons: "pd.DataFrame", contract: "DataContract"
) -> dg.AssetCheckResult:
    """The blocking verdict on the quarantined share, with the top reasons and examples."""
    from churn_assets.defs.metadata import markdown, preview

    limit = contract.max_rejected_share
    share, file_share = result.rejected_share, result.rejected_file_share
    passed = result.within_limit(limit)
    none = dg.MetadataValue.md("none")
    files = len(result.rejected_files)
    summary = f"{share:.2%} of rows quarantined" + (
        f", {files} of {result.files_received} file(s) rejected whole ({file_share:.0%})"
        if files
        else ""
    )
    return dg.AssetCheckResult(
        check_name="rejected_share_within_limit",
        asset_key="validated_customers",
        passed=passed,
        metadata={
            # The worse of the two shares: a file rejected whole counts as a whole file.
            "value": float(max(share, file_share)),
            "threshold": float(limit),
            "rows_quarantined": len(result.quarantined),
            "rows_received": result.n_rows,
            "files_rejected": files,
            "files_received": result.files_received,
            "rejected_files": dg.MetadataValue.json(result.rejected_files),
            "top_reasons": markdown(reasons.head(10)) if len(reasons) else none,
            "examples": (
                preview(result.quarantined, 5, contract) if len(result.quarantined) else none
            ),
        },
        description=(
            f"{summary} (limit {limit:.0%})"
            if passed
            else f"{summary}, above the {limit:.0%} limit: downstream assets will not run. "
            "See quarantined_customers for the reasons."
        ),
    )
