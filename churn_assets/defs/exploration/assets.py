"""Exploration: the automated EDA report of the validated data."""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform


@dg.asset(group_name="exploration", kinds={"evidently", "html"}, code_version="1")
def eda_report(
    context: dg.AssetExecutionContext, platform: ChurnPlatform, validated_customers
) -> dg.MaterializeResult:
    """Automated EDA: target balance, missingness, mutual information and correlation with the
    target, churn rate by category, plus Evidently's per-column data summary. HTML reports
    are written under CHURN_HOME/reports/eda/; key numbers and plots are shown here."""
    from evidently import Dataset, Report
    from evidently.presets import DataSummaryPreset

    from churn_assets.lib.exploration.eda import analyse, evidently_definition, write_html
    from churn_assets.lib.plots import figure_png
    from churn_assets.metadata import markdown, png_md

    contract = platform.contract()
    result = analyse(validated_customers, contract)
    folder = platform.reports_dir() / "eda"
    folder.mkdir(parents=True, exist_ok=True)

    # Evidently's summary is linear in rows; the same bounded sample keeps its cost flat.
    sample = validated_customers.sample(n=result.sampled_rows, random_state=0)
    dataset = Dataset.from_pandas(
        sample, data_definition=evidently_definition(contract, sample.columns)
    )
    snapshot = Report([DataSummaryPreset()]).run(current_data=dataset)
    summary_path = folder / "data_summary.html"
    snapshot.save_html(str(summary_path))

    pngs = {name: figure_png(fig) for name, fig in result.figures.items()}
    page = write_html(result, pngs, folder / "eda.html", f"EDA: {contract.name}", summary_path.name)
    context.log.info(f"EDA report written to {page}")
    top = result.target_association.head(10)
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(page)),
            "evidently_summary": dg.MetadataValue.path(str(summary_path)),
            "rows": result.rows,
            "sampled_rows": result.sampled_rows,
            "positive_rate": result.positive_rate,
            "max_null_share": float(result.missingness["null_share"].max()),
            "top_features": markdown(top),
            **{f"plot_{name}": png_md(png, name) for name, png in pngs.items()},
        }
    )
