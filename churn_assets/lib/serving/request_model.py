"""The request model of the service, generated from the data contract, and the request limits.

The limits bound memory and latency per request; larger jobs belong to batch scoring (a
Dagster asset), not the request path.
"""

from __future__ import annotations

from typing import Any, Literal

from churn_assets.lib.contract import DataContract

MAX_BATCH_ROWS = 5000
MAX_EXPLAIN_ROWS = 100


def customer_model(
    contract: DataContract, example: dict[str, Any] | None = None, name: str = "Customer"
) -> type:
    """A pydantic model of one customer, generated from the data contract.

    Every feature field of the contract with its type, allowed values (a ``Literal``) and
    range; nullable fields may be null or omitted (the contract's null policy fills them, as
    in training), every other field is required. The id field is optional and echoed back.
    Unknown fields are rejected and types are strict (``"12"`` is not an integer), so a
    request is validated exactly as strictly as a training row.
    """
    from pydantic import ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    id_info = contract.column_info(contract.id_column)
    fields[contract.id_column] = (
        str | None,
        Field(None, min_length=1, max_length=128, description=id_info.description),
    )
    for column in contract.feature_columns:
        info = contract.column_info(column)
        if info.allowed_values:
            annotation: Any = Literal[tuple(info.allowed_values)]  # type: ignore[valid-type]
        elif info.kind == "numeric" and info.dtype.startswith(("int", "uint")):
            annotation = int
        elif info.kind == "numeric":
            annotation = float
        else:
            annotation = str
        constraints: dict[str, Any] = {"description": info.description}
        if info.kind == "numeric" and not info.allowed_values:
            if info.min_value is not None:
                constraints["ge"] = info.min_value
            if info.max_value is not None:
                constraints["le"] = info.max_value
            if annotation is float:
                constraints["allow_inf_nan"] = False
        if info.nullable:
            fields[column] = (annotation | None, Field(None, **constraints))
        else:
            fields[column] = (annotation, Field(..., **constraints))
    config = ConfigDict(
        extra="forbid",
        strict=True,
        title=name,
        # OpenAPI 3.0 (what BentoML serves) has a single `example`, shown by the docs UI.
        json_schema_extra={"example": example} if example else None,
    )
    return create_model(name, __config__=config, **fields)
