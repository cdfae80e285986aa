"""Blocking checks that derive from the data contract."""

import dagster as dg

from churn_assets.defs.ingestion.assets import raw_customers
from churn_assets.defs.resources import ChurnPlatform


@dg.asset_check(asset=raw_customers, blocking=True)
def required_columns_present(platform: ChurnPlatform, raw_customers) -> dg.AssetCheckResult:
    """Every column the contract requires is in the source (else nothing downstream runs)."""
    from churn_assets.lib.ingestion.validation import missing_columns

    contract = platform.contract()
    missing = missing_columns(raw_customers, contract)
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={
            "value": len(missing),
            "threshold": 0,
            "missing_columns": dg.MetadataValue.json(missing),
            "required_columns": dg.MetadataValue.json(contract.required_columns),
        },
        description=(
            f"missing required column(s) {missing} declared by {contract.path}"
            if missing
            else "all required columns present"
        ),
    )


@dg.asset_check(asset="validated_customers", blocking=True)
def conforms_to_contract(platform: ChurnPlatform, validated_customers) -> dg.AssetCheckResult:
    """The stored validated table passes the contract's Pandera schema (re-read from storage)."""
    import pandera.pandas as pa

    contract = platform.contract()
    schema = contract.schema_for(validated_customers.columns)
    try:
        schema.validate(validated_customers, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        return dg.AssetCheckResult(
            passed=False,
            metadata={
                "value": len(cases),
                "threshold": 0,
                "failure_cases": dg.MetadataValue.md(
                    cases[["column", "check", "failure_case", "index"]]
                    .head(20)
                    .astype(str)
                    .to_markdown(index=False)
                ),
            },
            description=f"{len(cases)} contract failure case(s) in the validated table",
        )
    return dg.AssetCheckResult(
        passed=True,
        metadata={"value": 0, "threshold": 0, "rows": len(validated_customers)},
    )


@dg.asset_check(asset="validated_customers", blocking=True)
def target_has_both_classes(platform: ChurnPlatform, validated_customers) -> dg.AssetCheckResult:
    """Both target labels occur, each at least `min_rows` times, so a model can be trained."""
    contract = platform.contract()
    target = contract.target
    counts = validated_customers[target.column].value_counts()
    positives = int(counts.get(target.positive, 0))
    negatives = int(counts.get(target.negative, 0))
    minimum = 10
    passed = min(positives, negatives) >= minimum
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "value": min(positives, negatives),
            "threshold": minimum,
            "positives": positives,
            "negatives": negatives,
            "positive_rate": positives / max(positives + negatives, 1),
        },
        description=(
            f"{positives} {target.positive!r} and {negatives} {target.negative!r} rows"
            + ("" if passed else f": fewer than {minimum} of one class, training cannot work")
        ),
    )
