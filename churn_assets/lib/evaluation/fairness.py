"""Group fairness of the decision (offer / no offer) over the contract's sensitive attributes.

Each attribute is judged on ONE criterion, chosen in the contract (default: equal
opportunity, docs/fairness.md): a retention offer is a benefit, so what must not depend on
the group is the chance that a customer who is about to leave gets one (the true positive
rate). Demographic parity (gap in offer rates) and equalized odds (the larger of the TPR and
FPR gaps) are always reported beside it, not judged.

Groups: a categorical attribute (or a numeric one with few values, e.g. SeniorCitizen 0/1)
groups by value; a numeric one is cut into the contract's ``bands``, else into quantile bins
whose edges come from the rows being judged (rounded to two significant figures). A group
with fewer rows (or churners, for a rate of churners) than the minimum is reported and not
judged; an attribute with fewer than two judged groups passes, saying so.

The gap's 95% interval comes from a bootstrap stratified by group and label (the group's
churner and non-churner counts stay fixed, so each resampled rate is a binomial draw). By
default an attribute fails when the interval's lower end is above the limit: the data show a
gap larger than the policy accepts, beyond sampling noise (with ~100 churners in a group a
TPR has a standard error of ~0.04). ``judged_on: point`` judges the measured gap instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churn_assets.lib.evaluation.fairness_groups import group_table, groups_of
from churn_assets.lib.evaluation.fairness_policy import MEANING, AttributeRule, FairnessSpec

if TYPE_CHECKING:
    from churn_assets.lib.evaluation.policy import FairnessPolicy
    from churn_assets.lib.training.champion import ChampionCandidate, CostModel

_GAP_COLUMNS = {
    "demographic_parity": "demographic_parity_difference",
    "equal_opportunity": "equal_opportunity_difference",
    "equalized_odds": "equalized_odds_difference",
}


@dataclass
class FairnessResult:
    """Per-group rates and per-attribute verdicts (one judged criterion per attribute)."""

    by_group: pd.DataFrame  # attribute, group, rows, positives, selection_rate, tpr, fpr,
    #                         judged, note
    summary: pd.DataFrame  # attribute, criterion, value, ci_low, ci_high, limit, verdict,
    #                        passed, the three gaps, groups, not_judged, binning, detail
    model_uri: str | None = None  # the MLflow model whose decisions were assessed
    frontier: pd.DataFrame | None = None  # fairness-vs-profit points (fairness_frontier)
    frontier_note: str = ""

    @property
    def passed(self) -> bool:
        """True when every attribute passes its criterion."""
        return bool(self.summary["passed"].all())


def _gaps(sel: np.ndarray, tpr: np.ndarray, fpr: np.ndarray) -> dict[str, np.ndarray]:
    """Max-minus-min gaps over the group axis (the last one); NaN rates are left out."""

    def spread(rates: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.nanmax(rates, axis=-1) - np.nanmin(rates, axis=-1)

    tpr_gap, fpr_gap = spread(tpr), spread(fpr)
    return {
        "demographic_parity": spread(sel),
        "equal_opportunity": tpr_gap,
        "equalized_odds": np.fmax(tpr_gap, fpr_gap),
    }


def _interval(table: pd.DataFrame, criterion: str, policy: FairnessPolicy) -> tuple[float, float]:
    """95% percentile interval of the criterion's gap: stratified bootstrap by group x label,
    so each resampled true (false) positive count is a binomial draw on the group's churners
    (non-churners)."""
    rng = np.random.default_rng(policy.seed)
    shape = (policy.n_bootstrap, len(table))
    pos, neg = table["positives"].to_numpy(), table["negatives"].to_numpy()
    tpr = np.nan_to_num(table["tpr"].to_numpy(dtype=float))
    fpr = np.nan_to_num(table["fpr"].to_numpy(dtype=float))
    tp, fp = rng.binomial(pos, tpr, shape), rng.binomial(neg, fpr, shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = _gaps(
            (tp + fp) / table["rows"].to_numpy(),
            np.where(pos > 0, tp / np.maximum(pos, 1), np.nan),
            np.where(neg > 0, fp / np.maximum(neg, 1), np.nan),
        )[criterion]
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return float(low), float(high)


def _judge(
    attribute: str, table: pd.DataFrame, rule: AttributeRule, policy: FairnessPolicy, how: str
) -> dict:
    judged = table[table["judged"]]
    not_judged = "; ".join(
        f"{g} ({n.removeprefix('not judged: ')})"
        for g, n in table.loc[~table["judged"], ["group", "note"]].itertuples(index=False)
    )
    row = {
        "attribute": attribute,
        "criterion": rule.criterion,
        "limit": rule.limit,
        "limit_from": rule.limit_from,
        "judged_on": policy.judged_on,
        "groups": len(table),
        "groups_judged": len(judged),
        "not_judged": not_judged,
        "binning": how,
    }
    if len(judged) < 2:
        reason = f"not judged: {len(judged)} group(s) with at least {rule.min_group_rows} rows" + (
            f" and {rule.min_group_positives} churners"
            if rule.criterion != "demographic_parity"
            else ""
        )
        nan = float("nan")
        return {
            **row,
            "value": nan,
            "ci_low": nan,
            "ci_high": nan,
            "verdict": "not judged",
            "passed": True,
            **{column: nan for column in _GAP_COLUMNS.values()},
            "detail": f"{attribute}: {reason}; passes (nothing to compare)",
        }
    gaps = _gaps(*(judged[c].to_numpy(dtype=float) for c in ("selection_rate", "tpr", "fpr")))
    gaps = {k: float(v) for k, v in gaps.items()}
    value = gaps[rule.criterion]
    low, high = _interval(judged, rule.criterion, policy)
    tolerance = 1e-12
    if policy.judged_on == "point":
        passed = value <= rule.limit + tolerance
        verdict = "within" if passed else "exceeds"
    else:
        passed = low <= rule.limit + tolerance
        verdict = "within" if high <= rule.limit else ("inconclusive" if passed else "exceeds")
    rate = {"demographic_parity": "selection_rate", "equal_opportunity": "tpr"}.get(
        rule.criterion, "tpr"
    )
    groups = ", ".join(
        f"{g} {r:.2f} ({p} churners)" if rate == "tpr" else f"{g} {r:.2f} ({n} rows)"
        for g, r, p, n in judged[["group", rate, "positives", "rows"]].itertuples(index=False)
    )
    judged_by = "95% interval's lower end" if policy.judged_on == "interval" else "measured gap"
    detail = (
        f"{rule.criterion.replace('_', ' ')} ({MEANING[rule.criterion]}) {value:.3f}, 95% CI "
        f"{low:.3f}-{high:.3f}, limit {rule.limit:g} ({rule.limit_from}), judged on the "
        f"{judged_by}: {verdict}; {rate} by group: {groups}"
        + (f"; not judged: {not_judged}" if not_judged else "")
    )
    return {
        **row,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "verdict": verdict,
        "passed": bool(passed),
        **{column: gaps[c] for c, column in _GAP_COLUMNS.items()},
        "detail": detail,
    }


def assess(
    frame: pd.DataFrame,
    y: np.ndarray,
    decision: np.ndarray,
    sensitive: list[str],
    limits: FairnessPolicy,
    spec: FairnessSpec | None = None,
) -> FairnessResult:
    """Fairness of binary decisions across each sensitive attribute present in ``frame``.

    Args:
        limits: the run config's limits and group minimums.
        spec: the contract's choices (criterion, limits, bands); defaults when None.

    Raises:
        ValueError: when none of the sensitive attributes is in ``frame``.
    """
    spec = spec or FairnessSpec()
    present = [c for c in sensitive if c in frame]
    if not present:
        raise ValueError(f"none of the sensitive attributes {sensitive} is in the data")
    y = np.asarray(y).astype(int)
    decision = np.asarray(decision).astype(int)
    tables, rows = [], []
    for attribute in present:
        rule = spec.rule(attribute, limits)
        labels, how = groups_of(frame[attribute].reset_index(drop=True), rule)
        table = group_table(y, decision, labels, rule)
        rows.append(_judge(attribute, table, rule, limits, how))
        table.insert(0, "attribute", attribute)
        tables.append(
            table[
                [
                    "attribute",
                    "group",
                    "rows",
                    "positives",
                    "selection_rate",
                    "tpr",
                    "fpr",
                    "judged",
                    "note",
                ]
            ]
        )
    return FairnessResult(pd.concat(tables, ignore_index=True), pd.DataFrame(rows))


def assess_candidate(
    champion: ChampionCandidate,
    test_set: pd.DataFrame,
    target: str,
    sensitive: list[str],
    limits: FairnessPolicy,
    spec: FairnessSpec | None = None,
) -> FairnessResult:
    """Fairness of the champion candidate's offer decisions on the test rows, with the
    fairness-vs-profit frontier of per-group thresholds (``fairness_frontier``)."""
    scores = champion.predict_proba(test_set)
    decision = (scores >= champion.threshold).astype(int)
    y = test_set[target].to_numpy()
    result = assess(test_set, y, decision, sensitive, limits, spec)
    result.model_uri = champion.mlflow_model_uri
    add_frontier(result, test_set, y, scores, champion.threshold, champion.costs, limits, spec)
    return result


def add_frontier(
    result: FairnessResult,
    frame: pd.DataFrame,
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    costs: CostModel,
    limits: FairnessPolicy,
    spec: FairnessSpec | None = None,
) -> None:
    """Attach the frontier of every attribute judged on equal opportunity or demographic
    parity with at least two judged groups. Rows of groups too small to judge keep the single
    threshold: their profit is added to every point, so each point is the whole test set's."""
    from churn_assets.lib.evaluation.fairness_frontier import cost_of, frontier

    spec = spec or FairnessSpec()
    y, scores = np.asarray(y).astype(int), np.asarray(scores, dtype=float)
    gain = costs.success_rate * costs.retained_value
    tables, notes = [], []
    for row in result.summary.to_dict("records"):
        attribute, criterion = row["attribute"], row["criterion"]
        if criterion == "equalized_odds" or row["groups_judged"] < 2:
            continue
        rule = spec.rule(attribute, limits)
        labels = np.asarray(groups_of(frame[attribute].reset_index(drop=True), rule)[0], str)
        by_group = result.by_group[result.by_group["attribute"] == attribute]
        judged = np.isin(labels, by_group.loc[by_group["judged"], "group"].astype(str))
        table = frontier(y[judged], scores[judged], labels[judged], costs, threshold, criterion)
        offered = ~judged & (scores >= threshold)
        table["expected_profit"] += float((scores[offered] * gain - costs.offer_cost).sum())
        table["realised_profit"] += float((y[offered] * gain - costs.offer_cost).sum())
        table.insert(0, "attribute", attribute)
        tables.append(table)
        cost = cost_of(table, row["limit"])
        base = cost["expected_profit"]
        if cost["cost_to_meet_limit"] == 0:
            meet = "already within the limit: no cost"
        elif np.isnan(cost["cost_to_meet_limit"]):
            meet = f"no per-group thresholds bring the gap within {row['limit']:g}"
        else:
            meet = (
                f"meeting the limit {row['limit']:g} costs "
                f"{_money(cost['cost_to_meet_limit'], base)}"
            )
        notes.append(
            f"- {attribute} ({criterion.replace('_', ' ')}): the champion's gap "
            f"{table['gap'].iloc[0]:.3f} at expected profit {base:,.0f}; {meet}; the "
            f"narrowest gap on the frontier, {cost['narrowest_gap']:.3f}, costs "
            f"{_money(cost['cost_of_narrowest'], base)}. Plot: `frontier_{attribute}.png`."
        )
    if tables:
        result.frontier = pd.concat(tables, ignore_index=True)
        result.frontier_note = "\n".join(
            [
                "Fairness vs profit (per-group thresholds on the calibrated scores, chosen and "
                "measured on the test rows: an optimistic bound to choose with, not a served "
                "candidate; files in the fairness report folder, docs/fairness.md):",
                *notes,
            ]
        )


def _money(cost: float, base: float) -> str:
    """A profit given up, with its share of the champion's expected profit when that is
    not zero (a champion that offers no one earns nothing to take a share of)."""
    return f"{cost:,.0f} ({cost / abs(base):.1%})" if base else f"{cost:,.0f}"


@dataclass
class Published:
    """Where the fairness report's files are."""

    folder: Path
    files: list[str] = field(default_factory=list)
    pngs: dict[str, bytes] = field(default_factory=dict)


def publish(result: FairnessResult, folder: Path) -> Published:
    """The summary and per-group tables as CSV files in ``folder``, and the frontier (CSV and
    one PNG per attribute) when it was measured."""
    folder.mkdir(parents=True, exist_ok=True)
    result.summary.to_csv(folder / "summary.csv", index=False)
    result.by_group.to_csv(folder / "by_group.csv", index=False)
    published = Published(folder, ["summary.csv", "by_group.csv"])
    if result.frontier is not None:
        from churn_assets.lib.evaluation.fairness_frontier import frontier_png

        result.frontier.to_csv(folder / "frontier.csv", index=False)
        published.files.append("frontier.csv")
        limits = result.summary.set_index("attribute")
        for attribute, table in result.frontier.groupby("attribute", sort=False):
            row = limits.loc[attribute]
            png = frontier_png(table, str(attribute), row["criterion"], float(row["limit"]))
            (folder / f"frontier_{attribute}.png").write_bytes(png)
            published.pngs[f"frontier_{attribute}"] = png
            published.files.append(f"frontier_{attribute}.png")
    return published
