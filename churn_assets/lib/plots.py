"""Plot helpers shared by the EDA, training, evaluation and explanation reports."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes (and release it)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def profit_png(
    curve: pd.DataFrame,
    threshold: float,
    f1_threshold: float | None = None,
    title: str = "Profit vs threshold",
) -> bytes:
    """Realised and expected profit against the threshold (a ``profit_curve`` table), with
    the decision threshold and, optionally, the F1-optimal one marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(curve["threshold"], curve["profit"], color="#4c72b0", label="realised profit")
    ax.plot(
        curve["threshold"],
        curve["expected_profit"],
        color="#8172b2",
        alpha=0.6,
        label="expected profit",
    )
    ax.axvline(threshold, color="#c44e52", linestyle="--", label="decision threshold")
    if f1_threshold is not None:
        ax.axvline(f1_threshold, color="#55a868", linestyle=":", label="F1-optimal")
    ax.set(xlabel="threshold", ylabel="profit", title=title)
    ax.legend(fontsize=8)
    return figure_png(fig)
