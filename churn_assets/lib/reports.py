"""Self-contained HTML report pages (EDA, evaluation, model card) and their publication to
an MLflow run.

One page shape for every report: a title, one stylesheet, a body, images inlined as base64 so
a page can be opened from MLflow or a mail attachment without its folder.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
    "figure{display:inline-block;margin:1em;max-width:100%}img{max-width:100%}"
)


def page(title: str, body: str, heading: bool = True) -> str:
    """A complete HTML document: ``title`` as the page title (and as its heading unless the
    body brings its own), then ``body``."""
    name = html.escape(title)
    top = f"<h1>{name}</h1>\n" if heading else ""
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{name}</title>'
        f"<style>{CSS}</style></head><body>\n{top}{body}\n</body></html>\n"
    )


def figures(pngs: dict[str, bytes]) -> str:
    """PNG images inlined as captioned figures."""
    return "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, png in pngs.items()
    )


def facts(values: dict[str, object]) -> str:
    """A two-column table of labelled values."""
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in values.items()
    )
    return f"<table>{rows}</table>"


def table(frame: pd.DataFrame) -> str:
    """A data frame as an HTML table (``none`` when it has no rows)."""
    return frame.to_html(index=False) if len(frame) else "none"


def write_page(path: Path, title: str, body: str, heading: bool = True) -> Path:
    """Write :func:`page` to ``path`` (folders created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(title, body, heading), encoding="utf-8")
    return path


def log_folder(run_id: str, folder: Path, artifact_path: str) -> None:
    """Log every file of a report folder to an existing MLflow run (under ``artifact_path``).

    MLflow must already point at the store (the ``MlflowTracking`` resource does it per step).
    """
    from mlflow import MlflowClient

    MlflowClient().log_artifacts(run_id, str(folder), artifact_path=artifact_path)


def log_metrics(run_id: str, metrics: dict[str, float]) -> None:
    """Log metrics (step 0) to an existing MLflow run in one call."""
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    MlflowClient().log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])


def share(folder: Path, *parts: str) -> str:
    """Where people on other machines find the report folder ``folder``: a copy under the
    storage (``<CHURN_STORAGE_URI>/reports/<parts>``) when the storage is remote (a bucket),
    since ``CHURN_HOME`` is the step's own disk there; else the local folder itself."""
    from churn_assets.lib import settings

    target = settings.storage_location("reports", *parts)
    if target.protocol in ("", "file", "local"):
        return str(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        destination = target.joinpath(*path.relative_to(folder).parts)
        destination.write_bytes(path.read_bytes())
    return str(target)
