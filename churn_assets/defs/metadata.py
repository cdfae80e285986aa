"""Helpers that turn tables, contracts and figures into Dagster metadata for the UI.

Metadata lands in the Dagster event log, which everyone with UI access reads and which is
kept as long as the instance's history: row previews therefore go through the contract's
privacy rule for ``previews`` (``contract.privacy``, by default identifiers hashed and
sensitive attributes dropped; see docs/privacy.md), whoever calls :func:`preview`.
"""

from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.contract import DataContract

_PANDAS_TO_DAGSTER = {"int": "int", "float": "float", "bool": "bool", "datetime": "datetime"}


def preview(
    frame: pd.DataFrame, rows: int = 10, contract: DataContract | None = None
) -> dg.MetadataValue:
    """The first rows of a table as markdown, with the contract's ``previews`` privacy rule
    applied (identifier columns hashed, sensitive ones dropped, unless the contract says
    otherwise). Reasons and parse errors of raw and quarantined rows lose the values and
    line text they quote, which the rule could not otherwise reach.

    Args:
        frame: The table.
        rows: How many rows to show.
        contract: The dataset's contract; None means the configured one (``$CHURN_CONTRACT``,
            else the built-in), which is what ``ChurnPlatform.contract()`` loads too, so
            callers without a contract at hand are covered.
    """
    from churn_assets.lib.ingestion.validation import without_quoted_values

    policy = (contract or _configured_contract()).privacy
    shown = policy.apply_frame(without_quoted_values(frame.head(rows)), "previews")
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def _configured_contract() -> DataContract:
    import os

    from churn_assets.lib.settings import CONTRACT_ENV_VAR

    return _load_contract(os.environ.get(CONTRACT_ENV_VAR) or "")


@functools.cache
def _load_contract(path: str) -> DataContract:
    # Cached per path: a step previews several tables, and the file does not change under it.
    from churn_assets.lib.contract import DataContract

    return DataContract.load(path or None)


def markdown(frame: pd.DataFrame) -> dg.MetadataValue:
    """A whole (small) table as markdown."""
    return dg.MetadataValue.md(frame.to_markdown(index=False))


def column_schema(frame: pd.DataFrame, contract: DataContract | None = None) -> dg.TableSchema:
    """A Dagster table schema of a frame, with the contract's descriptions and roles."""
    columns = []
    for name, dtype in frame.dtypes.items():
        kind = next((v for k, v in _PANDAS_TO_DAGSTER.items() if str(dtype).startswith(k)), "str")
        description = None
        if contract is not None and name in contract.columns:
            info = contract.column_info(str(name))
            description = f"[{info.role}] {info.description or ''}".strip()
        columns.append(dg.TableColumn(str(name), kind, description=description))
    return dg.TableSchema(columns=columns)


def table_metadata(frame: pd.DataFrame, contract: DataContract | None = None) -> dict[str, Any]:
    """Row count, column schema and a preview: the standard metadata of a table asset."""
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": column_schema(frame, contract),
        "preview": preview(frame, contract=contract),
    }


def png_md(png: bytes, alt: str = "plot") -> dg.MetadataValue:
    """PNG bytes as an inline markdown image (shown in the asset's metadata panel)."""
    encoded = base64.b64encode(png).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")
