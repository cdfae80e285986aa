"""Export the registered champion and record the outcome where its version's story is kept.

Exported: ``edge/model.onnx``, ``edge/edge.json`` (parity, latency, opset, inputs) and
``edge/README.md`` are logged to the version's MLflow run through the MLflow client (so they
land wherever the tracking server keeps artifacts: a bucket in the team deployment), the
version is tagged ``edge_onnx=exported`` and the model card gains an "Edge deployment"
section with the figures. Refused: no file, the tag says ``refused``, and the card says why.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

ARTIFACT_DIR = "edge"
CARD_HEADING = "Edge deployment (ONNX)"
VERSION_TAG = "edge_onnx"


@dataclass
class EdgeOutcome:
    """What the export did: ``exported`` or ``refused`` (with the reason), and its figures."""

    outcome: str
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        if self.outcome == "refused":
            return f"not exported: {self.reason}"
        m = self.metadata
        return (
            f"exported, parity max |ΔP| = {m['parity_max_abs_diff']:.2g} on "
            f"{m['parity_rows_checked']:,} test rows, onnxruntime p50 "
            f"{m['onnx_p50_us']:.0f} µs per record (compiled scorer {m['scorer_p50_us']:.0f} µs)"
        )


def export_champion(
    champion: Any,
    contract: Any,
    rows: pd.DataFrame,
    *,
    registered_model: str,
    reports_dir: Path,
    latency_records: int = 200,
) -> EdgeOutcome:
    """Export ``champion`` (a :class:`~churn_assets.lib.monitoring.champion.Champion`),
    hold it to the parity tolerance on ``rows``, time it, and record the outcome."""
    from churn_assets.lib.export.latency import onnx_latency, scorer_latency
    from churn_assets.lib.export.onnx import TOLERANCE, ExportError, check_parity, export_onnx

    slot = champion.slot
    try:
        result = export_onnx(
            champion.model,
            contract,
            slot.threshold,
            family=slot.family,
            model_version=slot.version,
        )
        diff = check_parity(champion.model, result.onnx_bytes, rows, contract)
        if not diff <= TOLERANCE:
            raise ExportError(
                f"ONNX differs from the pipeline by {diff:.3g} on the test rows "
                f"(tolerance {TOLERANCE:g})"
            )
    except ExportError as exc:
        outcome = EdgeOutcome("refused", str(exc), {"reason": str(exc)})
        _record(outcome, slot, registered_model, reports_dir, files={})
        return outcome
    onnx_times = onnx_latency(result.onnx_bytes, rows, records=latency_records)
    scorer_times = scorer_latency(champion.scorer, rows, records=latency_records)
    figures = {
        "parity_max_abs_diff": diff,
        "parity_tolerance": TOLERANCE,
        "parity_rows_checked": len(rows),
        "opset": result.opset,
        "size_bytes": result.size_bytes,
        "onnx_p50_us": round(onnx_times["one_p50_us"], 1),
        "onnx_p99_us": round(onnx_times["one_p99_us"], 1),
        "scorer_p50_us": round(scorer_times["one_p50_us"], 1),
        "scorer_p99_us": round(scorer_times["one_p99_us"], 1),
        "latency_records": min(latency_records, len(rows)),
    }
    description = {
        **figures,
        "inputs": {c: "double" if _numeric(contract, c) else "string" for c in result.inputs},
        "outputs": {"probability": "double [N, 1]", "label": "int64 [N, 1]"},
        "metadata_props": result.metadata,
    }
    outcome = EdgeOutcome("exported", "", figures)
    files = {
        "model.onnx": result.onnx_bytes,
        "edge.json": json.dumps(description, indent=2).encode(),
        "README.md": _readme(registered_model, slot, figures).encode(),
    }
    _record(outcome, slot, registered_model, reports_dir, files)
    return outcome


def _numeric(contract: Any, column: str) -> bool:
    return contract.column_info(column).kind == "numeric"


def _readme(name: str, slot: Any, figures: dict[str, Any]) -> str:
    return f"""# {name} v{slot.version} for edge devices (ONNX)

{slot.family}, calibration {slot.calibration}, decision threshold {slot.threshold:.4f}.

Inputs: one `[N, 1]` tensor per contract field (`edge.json` lists them): `double` for numeric
fields (null: NaN), `string` for categorical ones (null: the empty string).
Outputs: `probability` (P(churn), float64 `[N, 1]`) and `label` (int64, 1 when
probability >= threshold).

Parity with the pipeline on {figures["parity_rows_checked"]:,} test rows: max |ΔP| =
{figures["parity_max_abs_diff"]:.2g}. onnxruntime (1 thread) p50 {figures["onnx_p50_us"]:.0f} µs
per record; the compiled scorer {figures["scorer_p50_us"]:.0f} µs. See docs/edge.md.
"""


def _record(
    outcome: EdgeOutcome,
    slot: Any,
    name: str,
    reports_dir: Path,
    files: dict[str, bytes],
) -> None:
    """Artifacts, the version tag and the model card section."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from churn_assets.lib.evaluation.model_card import append_published, card_folder

    client = MlflowClient()
    client.set_model_version_tag(name, slot.version, VERSION_TAG, outcome.outcome)
    run_id = slot.mlflow_run_id
    if not run_id:
        return
    if files:
        with tempfile.TemporaryDirectory() as tmp:
            for filename, content in files.items():
                path = Path(tmp) / filename
                path.write_bytes(content)
                client.log_artifact(run_id, str(path), ARTIFACT_DIR)
    if outcome.outcome == "refused":
        text = (
            f"**Not exported** (v{slot.version}): {outcome.reason}. Nothing different from the "
            "registered model was exported in its place."
        )
    else:
        m = outcome.metadata
        text = (
            f"**Exported** (v{slot.version}) as `{ARTIFACT_DIR}/model.onnx` on this run "
            f"(opset {m['opset']}, {m['size_bytes'] / 1024:.0f} KiB): raw contract fields in, "
            f"P(churn) and the label at threshold {slot.threshold:.4f} out. Parity with the "
            f"pipeline on {m['parity_rows_checked']:,} test rows: max |ΔP| = "
            f"{m['parity_max_abs_diff']:.2g} (tolerance {m['parity_tolerance']:g}). "
            f"onnxruntime p50 latency {m['onnx_p50_us']:.0f} µs per record (p99 "
            f"{m['onnx_p99_us']:.0f} µs), compiled scorer p50 {m['scorer_p50_us']:.0f} µs."
        )
    # A version registered without a card (not by this platform's gate): the tag and the
    # artifacts still record the outcome.
    with contextlib.suppress(OSError, MlflowException):
        append_published(run_id, card_folder(reports_dir, run_id), CARD_HEADING, text)
