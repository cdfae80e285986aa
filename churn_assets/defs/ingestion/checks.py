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
    from churn_assets.lib.ingestion.validation import contract_failures

    contract = platform.contract()
    cases = contract_failures(validated_customers, contract)
    if len(cases):
        cases = _private(cases, contract)
        return dg.AssetCheckResult(
            passed=False,
            metadata={
                "value": len(cases),
                "threshold": 0,
                "failure_cases": dg.MetadataValue.md(
                    cases.head(20).astype(str).to_markdown(index=False)
                ),
            },
            description=f"{len(cases)} contract failure case(s) in the validated table",
        )
    return dg.AssetCheckResult(
        passed=True,
        metadata={"value": 0, "threshold": 0, "rows": len(validated_customers)},
    )


def _private(cases, contract):
    """Failure cases with the previews privacy rule applied to the values they quote (an
    identifier's value hashed, a sensitive attribute's withheld), for the event log."""
    from churn_assets.lib.privacy import pseudonym

    policy = contract.privacy
    actions = cases["column"].astype(str).map(lambda c: policy.action("previews", c))
    values = cases["failure_case"].astype(object)
    values = values.mask(actions.eq("hash"), values.map(pseudonym))
    values = values.mask(actions.eq("drop"), "(withheld: sensitive)")
    return cases.assign(failure_case=values)


@dg.asset_check(asset="validated_customers", blocking=True)
def target_has_both_classes(platform: ChurnPlatform, validated_customers) -> dg.AssetCheckResult:
    """Both target labels occur often enough (`MIN_ROWS_PER_CLASS` rows each) to train a model."""
    from churn_assets.lib.ingestion.validation import MIN_ROWS_PER_CLASS, class_counts

    contract = platform.contract()
    target = contract.target
    positives, negatives = class_counts(validated_customers, contract)
    passed = min(positives, negatives) >= MIN_ROWS_PER_CLASS
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "value": min(positives, negatives),
            "threshold": MIN_ROWS_PER_CLASS,
            "positives": positives,
            "negatives": negatives,
            "positive_rate": positives / max(positives + negatives, 1),
        },
        description=(
            f"{positives} {target.positive!r} and {negatives} {target.negative!r} rows"
            + (
                ""
                if passed
                else f": fewer than {MIN_ROWS_PER_CLASS} of one class, training cannot work"
            )
        ),
    )
