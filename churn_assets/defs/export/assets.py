"""Edge deployment: the `export_edge_model` job exports the champion to ONNX.

Not part of `churn_pipeline`: an export is asked for when an edge fleet needs the current
champion. The ONNX file, its parity and latency figures go to the champion's MLflow run
(`edge/`, stored wherever the tracking server keeps artifacts: the bucket in a team
deployment), the outcome to its model card. A champion that cannot be exported exactly is
a recorded refusal, not a failed run (`lib.export.onnx`).
"""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform, MlflowTracking

GROUP = "edge"


class EdgeConfig(dg.Config):
    """How many test rows the parity check and the latency figure use."""

    parity_rows: int = 0  # test rows held to the 1e-5 parity (0: all of them)
    latency_records: int = 200  # one-record calls timed in onnxruntime and the compiled scorer


@dg.asset(
    group_name=GROUP,
    kinds={"onnx", "mlflow"},
    code_version="1",
    ins={"test_set": dg.AssetIn("test_set")},
)
def edge_model(
    context: dg.AssetExecutionContext,
    config: EdgeConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    test_set,
) -> dg.MaterializeResult:
    """The champion (preprocessing, model, calibration, decision threshold) as one ONNX model
    that takes the raw contract fields, checked against the pipeline on the held-out test rows
    (max |ΔP| <= 1e-5) and timed in onnxruntime beside the compiled scorer; logged as
    `edge/model.onnx` (with `edge/edge.json` and `edge/README.md`) on the champion's MLflow
    run, the outcome in its model card. Refused (recorded, not exported) where the export
    would not be exact: a stacked ensemble, isotonic calibration on XGBoost, a feature ONNX
    cannot express."""
    from churn_assets.lib.export.publish import export_champion
    from churn_assets.lib.monitoring.champion import load_champion

    contract = platform.contract()
    try:
        champion = load_champion(platform.registered_model, contract)
    except LookupError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    rows = test_set[contract.feature_columns]
    if config.parity_rows:
        rows = rows.head(config.parity_rows)
    outcome = export_champion(
        champion,
        contract,
        rows,
        registered_model=platform.registered_model,
        reports_dir=platform.reports_dir(),
        latency_records=config.latency_records,
    )
    context.log.info(f"{platform.registered_model} v{champion.version}: {outcome.summary}")
    run_id = champion.slot.mlflow_run_id
    metadata = {
        "outcome": outcome.outcome,
        "model_version": champion.version,
        "family": champion.slot.family,
        "calibration": champion.slot.calibration,
        "threshold": champion.slot.threshold,
        "parity_rows": len(rows),
        **outcome.metadata,
    }
    if run_id:
        metadata["mlflow_run"] = dg.MetadataValue.url(mlflow.run_url(run_id))
    return dg.MaterializeResult(metadata=metadata)


export_edge_model = dg.define_asset_job(
    "export_edge_model",
    selection=dg.AssetSelection.assets("edge_model"),
    description="Export the current champion to ONNX for edge devices (parity-checked on the "
    "test rows, timed), as an artifact of its registered version; or record why not.",
)
