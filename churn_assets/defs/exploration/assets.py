"""Exploration: the automated EDA report of the validated data."""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform


@dg.asset(group_name="exploration", kinds={"evidently", "html"}, code_version="1")
def eda_report(
    context: dg.AssetExecutionContext, platform: ChurnPlatform, validated_customers
) -> dg.MaterializeResult:
    """Automated EDA: target balance, missingness, mutual information and correlation with the
    target, churn rate by category, plus Evidently's per-column data summary. HTML reports
    are written under CHURN_HOME/reports/eda/ and, with a bucket as storage, copied to
    <CHURN_STORAGE_URI>/reports/eda/; key numbers and plots are shown here."""
    from churn_assets.defs.metadata import markdown, png_md
    from churn_assets.lib.exploration.eda import write_reports
    from churn_assets.lib.reports import share

    folder = platform.reports_dir() / "eda"
    eda = write_reports(validated_customers, platform.contract(), folder)
    where = share(folder, "eda")
    context.log.info(f"EDA report written to {where}")
    result = eda.result
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(f"{where}/{eda.page.relative_to(folder)}"),
            "evidently_summary": dg.MetadataValue.path(
                f"{where}/{eda.evidently_summary.relative_to(folder)}"
            ),
            "rows": result.rows,
            "sampled_rows": result.sampled_rows,
            "positive_rate": result.positive_rate,
            "max_null_share": float(result.missingness["null_share"].max()),
            "top_features": markdown(result.target_association.head(10)),
            **{f"plot_{name}": png_md(png, name) for name, png in eda.pngs.items()},
        }
    )
