"""Features: the model-ready table, its train/validation/test split, the fitted preprocessing."""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform
from churn_assets.lib.features.policy import SplitPolicy

GROUP = "features"
SPLIT_NAMES = ("train_set", "validation_set", "test_set")


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def customer_features(
    context: dg.AssetExecutionContext, platform: ChurnPlatform, validated_customers
) -> dg.Output:
    """Validated rows as model-ready features: contract fields plus engineered features.

    Engineered features are declared in the contract (`features`, see
    docs/configuration.md#declared-features). The target becomes `_target` (1 = the
    contract's positive label). A feature column that looks like an identifier (unique per
    customer) is warned about in the log and the metadata.
    """
    from churn_assets.defs.metadata import markdown, table_metadata
    from churn_assets.lib.features.engineering import (
        TARGET_COL,
        build_feature_table,
        describe_features,
    )
    from churn_assets.lib.features.identifiers import identifier_warnings
    from churn_assets.lib.hashing import frame_hash

    contract = platform.contract()
    table = build_feature_table(validated_customers, contract)
    described = describe_features(contract)
    suspects = identifier_warnings(validated_customers, contract)
    for line in suspects:
        context.log.warning(line)
    return dg.Output(
        table,
        data_version=dg.DataVersion(frame_hash(table)),
        metadata={
            **table_metadata(table, contract),
            "positive_rate": float(table[TARGET_COL].mean()),
            "contract_features": dg.MetadataValue.json(contract.feature_columns),
            "engineered_features": markdown(described) if len(described) else "none",
            "identifier_like_columns": "\n".join(suspects) if suspects else "none",
        },
    )


class SplitConfig(dg.Config, SplitPolicy):
    """How to split the feature table (defaults: `lib/features/policy.py`)."""


@dg.multi_asset(
    group_name=GROUP,
    outs={
        name: dg.AssetOut(kinds={"pandas", "parquet"}, code_version="1", description=text)
        for name, text in zip(
            SPLIT_NAMES,
            (
                "Rows the model learns from (and the preprocessing is fitted on).",
                "Rows for model selection, calibration and the decision threshold.",
                "Held-out rows for the final, unbiased evaluation.",
            ),
            strict=True,
        )
    },
    check_specs=[
        dg.AssetCheckSpec(
            "no_customer_in_two_splits",
            asset="test_set",
            blocking=True,
            description="No customer id appears in more than one split (no leakage).",
        )
    ],
)
def split_customers(
    context: dg.AssetExecutionContext,
    config: SplitConfig,
    platform: ChurnPlatform,
    customer_features,
):
    """Split features into train / validation / test (stratified with a fixed seed, or by time)."""
    from churn_assets.defs.metadata import table_metadata
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.features.split import shared_customers, split_frame
    from churn_assets.lib.hashing import frame_hash

    contract = platform.contract()
    try:
        parts = split_frame(
            customer_features,
            contract,
            strategy=config.strategy,
            validation_size=config.validation_size,
            test_size=config.test_size,
            seed=config.seed,
        )
    except ValueError as exc:
        raise dg.Failure(
            description=f"cannot split the feature table: {exc}", allow_retries=False
        ) from exc
    for name, frame in parts.items():
        context.log.info(
            f"{name}: {len(frame):,} rows, positive rate {frame[TARGET_COL].mean():.3f}"
        )
        yield dg.Output(
            frame,
            output_name=f"{name}_set",
            data_version=dg.DataVersion(frame_hash(frame)),
            metadata={
                **table_metadata(frame),
                "positive_rate": float(frame[TARGET_COL].mean()),
                "strategy": config.strategy,
                "seed": config.seed,
            },
        )
    shared = shared_customers(parts, contract.id_column)
    # A time split legitimately follows the same customers from month to month.
    allowed = config.strategy == "time"
    yield dg.AssetCheckResult(
        check_name="no_customer_in_two_splits",
        asset_key="test_set",
        passed=allowed or not shared,
        metadata={
            "value": len(shared),
            "threshold": 0,
            "strategy": config.strategy,
            "examples": dg.MetadataValue.json(sorted(map(str, shared))[:10]),
        },
        description=(
            "time split: customers recur across periods by design"
            if allowed
            else f"{len(shared)} customer(s) in more than one split"
        ),
    )


@dg.asset(
    group_name=GROUP,
    io_manager_key="artifact_io_manager",
    kinds={"sklearn"},
    code_version="1",
)
def feature_preprocessor(platform: ChurnPlatform, train_set) -> dg.Output:
    """The preprocessing pipeline fitted on training rows only (engineered features, imputation,
    scaling, one-hot encoding). It travels with every model into serving, so the service
    takes the contract's raw fields."""
    from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns

    contract = platform.contract()
    columns = model_input_columns(contract)
    pipeline = build_preprocessor(contract).fit(train_set[columns])
    names = [str(n) for n in pipeline.get_feature_names_out()]
    return dg.Output(
        pipeline,
        metadata={
            "input_columns": dg.MetadataValue.json(columns),
            "output_features": len(names),
            "output_feature_names": dg.MetadataValue.json(names),
            "fitted_on_rows": len(train_set),
        },
    )
