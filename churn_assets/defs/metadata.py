"""Helpers that turn tables, contracts and figures into Dagster metadata for the UI."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.contract import DataContract

_PANDAS_TO_DAGSTER = {"int": "int", "float": "float", "bool": "bool", "datetime": "datetime"}


def preview(frame: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """The first rows of a table as markdown."""
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False))


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
        "preview": preview(frame),
    }


def png_md(png: bytes, alt: str = "plot") -> dg.MetadataValue:
    """PNG bytes as an inline markdown image (shown in the asset's metadata panel)."""
    encoded = base64.b64encode(png).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")
