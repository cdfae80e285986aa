"""What fairness costs: a fairness-vs-profit frontier from per-group decision thresholds.

The champion offers a retention deal to every customer whose calibrated score is at least one
threshold. Giving each group of a sensitive attribute its own threshold can close the gap the
attribute is judged on (true positive rates for equal opportunity, offer rates for demographic
parity) at some cost in expected profit. For each allowed gap ``eps`` the frontier holds the
most profitable per-group thresholds whose rates all lie within ``eps`` of each other.

Profit is additive over groups, so the search is exact and cheap: for a band of rates
``[tau - eps/2, tau + eps/2]`` each group independently takes its most profitable threshold
whose rate falls in the band, and the best ``tau`` wins (grid of 101 values). Expected
profit is ``sum(p*s*v - c)`` over the offered customers (the objective the champion's own
threshold maximises); realised profit (on the labels) is reported beside it.

Honest limits: the thresholds and rates are measured on the same test rows, so the frontier
is an optimistic bound of what post-processing can reach, a report to choose with numbers, not
a served candidate (serving per-group thresholds is later work, and it needs the sensitive
attribute at scoring time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.training.champion import CostModel

_TAUS = np.linspace(0.0, 1.0, 101)
_EPSILONS = np.round(np.arange(0.01, 0.41, 0.01), 2)


def _per_group_curves(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, costs: CostModel, rate: str
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group and candidate threshold: the judged rate, expected and realised profit."""
    # Every distinct score is a candidate threshold (capped at 2,000 quantiles on big test
    # sets); above the highest score, no offer at all.
    candidates = (
        np.unique(p) if np.unique(p).size <= 2000 else np.quantile(p, np.linspace(0, 1, 2000))
    )
    thresholds = np.unique(np.concatenate([candidates, [p.max() + 1e-9]]))
    gain = costs.success_rate * costs.retained_value
    names = sorted(map(str, pd.unique(groups)))
    rates, expected, realised = (np.zeros((len(names), len(thresholds))) for _ in range(3))
    for g, name in enumerate(names):
        rows = groups == name
        offered = p[rows][None, :] >= thresholds[:, None]  # thresholds x rows
        yg, pg = y[rows], p[rows]
        if rate == "tpr":
            rates[g] = (offered & (yg == 1)).sum(1) / max(int(yg.sum()), 1)
        else:
            rates[g] = offered.mean(1)
        expected[g] = (offered * (pg * gain - costs.offer_cost)).sum(1)
        realised[g] = (offered * (yg * gain - costs.offer_cost)).sum(1)
    return names, thresholds, rates, expected, realised


def frontier(
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    costs: CostModel,
    threshold: float,
    criterion: str = "equal_opportunity",
) -> pd.DataFrame:
    """The champion's single threshold, then the best per-group thresholds for each allowed
    gap; columns: point, allowed_gap, gap, expected_profit, realised_profit, offers,
    thresholds (``group=threshold`` pairs)."""
    rate = "tpr" if criterion == "equal_opportunity" else "selection_rate"
    y, p, groups = np.asarray(y).astype(int), np.asarray(p, float), np.asarray(groups).astype(str)
    names, thresholds, rates, expected, realised = _per_group_curves(y, p, groups, costs, rate)
    sizes = np.array([(groups == n).sum() for n in names])

    def point(kind: str, allowed: float, picks: np.ndarray, cuts: list[float]) -> dict:
        chosen = rates[np.arange(len(names)), picks]
        offers = sum(int((p[groups == n] >= c).sum()) for n, c in zip(names, cuts, strict=True))
        return {
            "point": kind,
            "allowed_gap": allowed,
            "gap": float(chosen.max() - chosen.min()),
            "expected_profit": float(expected[np.arange(len(names)), picks].sum()),
            "realised_profit": float(realised[np.arange(len(names)), picks].sum()),
            "offers": offers,
            "offer_rate": offers / int(sizes.sum()),
            "thresholds": ", ".join(f"{n}={c:.3f}" for n, c in zip(names, cuts, strict=True)),
        }

    # The champion as it is: one threshold for everyone (exact, not snapped to the grid).
    rows = [
        {
            "point": "single threshold",
            "allowed_gap": np.nan,
            **_exact(y, p, groups, names, threshold, costs, rate),
            "thresholds": f"all={threshold:.3f}",
        }
    ]
    for eps in _EPSILONS:
        best_total, best_picks = -np.inf, None
        for tau in _TAUS:
            inside = np.abs(rates - tau) <= eps / 2 + 1e-12
            if not inside.any(axis=1).all():
                continue
            masked = np.where(inside, expected, -np.inf)
            picks = masked.argmax(axis=1)
            total = masked[np.arange(len(names)), picks].sum()
            if total > best_total:
                best_total, best_picks = total, picks
        if best_picks is not None:
            rows.append(
                point("per-group thresholds", float(eps), best_picks, list(thresholds[best_picks]))
            )
    table = pd.DataFrame(rows)
    # Keep the frontier proper: a wider allowance that earns no more is not a new point.
    mitigated = table.iloc[1:]
    keep = mitigated["expected_profit"].round(2).ne(mitigated["expected_profit"].round(2).shift())
    return pd.concat([table.iloc[:1], mitigated[keep]], ignore_index=True)


def _exact(
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    names: list[str],
    threshold: float,
    costs: CostModel,
    rate: str,
) -> dict:
    gain = costs.success_rate * costs.retained_value
    offered = p >= threshold
    values = []
    for n in names:
        rows = groups == n
        positives = rows & (y == 1)
        values.append(
            offered[positives].mean() if rate == "tpr" and positives.any() else offered[rows].mean()
        )
    return {
        "gap": float(max(values) - min(values)),
        "expected_profit": float((offered * (p * gain - costs.offer_cost)).sum()),
        "realised_profit": float((offered * (y * gain - costs.offer_cost)).sum()),
        "offers": int(offered.sum()),
        "offer_rate": float(offered.mean()),
    }


def cost_of(table: pd.DataFrame, limit: float) -> dict[str, float]:
    """The expected profit given up to bring the gap within ``limit`` (0 when the champion
    already is), and to reach the narrowest gap on the frontier."""
    single = table.iloc[0]
    base = float(single["expected_profit"])
    mitigated = table.iloc[1:]
    within = mitigated[mitigated["gap"] <= limit + 1e-12]
    meeting = (
        0.0
        if single["gap"] <= limit
        else (base - float(within["expected_profit"].max()) if len(within) else float("nan"))
    )
    narrowest = mitigated.loc[mitigated["gap"].idxmin()] if len(mitigated) else single
    return {
        "expected_profit": base,
        "cost_to_meet_limit": meeting,
        "narrowest_gap": float(narrowest["gap"]),
        "cost_of_narrowest": base - float(narrowest["expected_profit"]),
    }


def frontier_png(table: pd.DataFrame, attribute: str, criterion: str, limit: float) -> bytes:
    """Expected profit against the gap: the champion's single threshold and the per-group
    frontier, with the policy's limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from churn_assets.lib.plots import figure_png

    fig, ax = plt.subplots(figsize=(6, 3.5))
    mitigated = table.iloc[1:]
    ax.plot(
        mitigated["gap"],
        mitigated["expected_profit"],
        "o-",
        color="#4c72b0",
        ms=3,
        label="per-group thresholds",
    )
    ax.plot(
        table["gap"].iloc[:1],
        table["expected_profit"].iloc[:1],
        "*",
        color="#c44e52",
        ms=12,
        label="champion (one threshold)",
    )
    ax.axvline(limit, color="grey", ls="--", lw=1, label=f"limit {limit:g}")
    gap = "TPR gap" if criterion == "equal_opportunity" else "offer-rate gap"
    ax.set(
        xlabel=f"{gap} ({attribute})",
        ylabel="expected profit (test rows)",
        title=f"Fairness vs profit: {attribute}",
    )
    ax.legend(fontsize=8)
    return figure_png(fig)
