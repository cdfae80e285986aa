"""Helpers that turn tables, contracts and figures into Dagster metadata for the UI."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

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


def figure_md(fig: Figure, alt: str = "plot") -> dg.MetadataValue:
    """A matplotlib figure as an inline PNG in markdown (shown in the asset's metadata)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")
