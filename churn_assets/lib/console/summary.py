"""The result of a run as a person reads it: data, leaderboard, test metrics with intervals,
the gate's decision, the bento and how to serve it, where the reports are; on failure, the
failed step, its one-line cause and where the full log is, as the last lines.

Sections whose assets the run did not produce are left out (a monitoring run has no
leaderboard), so one renderer serves `make demo`, `make loop` and the team demo.
"""

from __future__ import annotations

from typing import Any

from churn_assets.lib.console.facts import RunFacts, Version, markdown_rows, number
from churn_assets.lib.console.progress import auc, count, duration, interval
from churn_assets.lib.registry.policy import REJECTIONS

TEST_METRICS = (
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("brier", "Brier score"),
    ("f1@threshold", "F1 at the decision threshold"),
    ("precision@threshold", "precision at the threshold"),
    ("recall@threshold", "recall at the threshold"),
)
TOP_REASONS = 3
NOT_RUN_SHOWN = 4


def _row(label: str, value: Any, width: int = 22) -> str:
    return f"  {label:<{width}} {value}"


def data_section(assets: dict[str, dict[str, Any]]) -> list[str]:
    """Rows in, validated, quarantined with the top reasons."""
    valid = assets.get("validated_customers")
    if valid is None:
        return []
    received = valid.get("rows_received", assets.get("raw_customers", {}).get("dagster/row_count"))
    quarantined = valid.get("rows_quarantined")
    share = number(valid.get("rejected_share"))
    lines = [
        "Data",
        _row("rows in", count(received)),
        _row("validated", count(valid.get("rows_valid"))),
    ]
    lines.append(
        _row("quarantined", count(quarantined) + (f" ({share:.1%})" if share is not None else ""))
    )
    reasons = markdown_rows(assets.get("quarantined_customers", {}).get("reasons"))
    for reason in reasons[:TOP_REASONS]:
        lines.append(_row("", f"{count(reason.get('rows')):>6}  {reason.get('problem', '?')}"))
    if len(reasons) > TOP_REASONS:
        lines.append(_row("", f"{'':>6}  … {len(reasons) - TOP_REASONS} more reasons (Dagster UI)"))
    return lines


def leaderboard_section(assets: dict[str, dict[str, Any]]) -> list[str]:
    """Family, CV and validation ROC-AUC, the chosen one marked."""
    candidate = assets.get("champion_candidate")
    if candidate is None:
        return []
    rows = markdown_rows(candidate.get("leaderboard"))
    chosen = candidate.get("family")
    lines = ["Leaderboard (ROC-AUC)", f"  {'family':<22} {'CV':>7} {'validation':>11}"]
    for row in rows:
        mark = "  <- chosen" if row.get("family") == chosen else ""
        lines.append(
            f"  {row.get('family', '?'):<22} {auc(row.get('cv_roc_auc')):>7} "
            f"{auc(row.get('roc_auc')):>11}{mark}"
        )
    lines.append(
        _row(
            "decision threshold",
            f"{candidate.get('threshold')} (max expected retention profit; calibration "
            f"{candidate.get('calibration', '?')})",
        )
    )
    return lines


def test_section(assets: dict[str, dict[str, Any]]) -> list[str]:
    """The candidate's test metrics with their 95% bootstrap intervals."""
    report = assets.get("evaluation_report")
    if report is None:
        return []
    rows = markdown_rows(report.get("metrics"))
    family = assets.get("champion_candidate", {}).get("family", "candidate")
    lines = [f"Test metrics of {family} ({count(report.get('test_rows'))} rows, 95% intervals)"]
    for key, label in TEST_METRICS:
        if any(r.get("metric") == key for r in rows):
            lines.append(_row(label, interval(rows, key), width=30))
    return lines


def gate_section(facts: RunFacts) -> list[str]:
    """The gate's decision, its reason and the criteria that failed."""
    decision = facts.assets.get("promotion_decision")
    gate_checks = [c for c in facts.checks if c.asset == "promotion_decision"]
    if decision is None and not gate_checks:
        return []
    lines = ["Promotion gate"]
    if decision is not None:
        outcome = str(decision.get("outcome", "?"))
        lines.append(_row("decision", f"{outcome.upper()} (mode {decision.get('mode', '?')})"))
        lines.append(_row("reason", decision.get("reason") or "-"))
        version = decision.get("challenger_version")
        lines.append(
            _row(
                "registry",
                f"{decision.get('registered_model', 'model')} v{version} registered; champion "
                f"{decision.get('champion_before', '?')} -> {decision.get('champion_after', '?')}",
            )
        )
        if decision.get("pending_move") not in (None, "none"):
            lines.append(_row("pending", decision["pending_move"]))
        for row in markdown_rows(decision.get("criteria")):
            if row.get("passed") == "False":
                lines.append(
                    _row(
                        "failed criterion",
                        f"{row.get('name')}: {row.get('value')} vs limit {row.get('threshold')}"
                        f" ({row.get('detail', '')})",
                    )
                )
        if decision.get("outcome") in REJECTIONS:
            lines.append(
                _row(
                    "what now",
                    "a decision, not a failure: the champion did not move. Read why in the "
                    "model card and the MLflow run (below); docs/operations.md says how to act",
                )
            )
        if decision.get("outcome") == "pending_approval":
            lines.append(
                _row("what now", f"{decision.get('approval', 'waiting')} (docs/operations.md)")
            )
        if record := decision.get("decision_record"):
            lines.append(_row("decision record", record))
    return lines


def serving_section(assets: dict[str, dict[str, Any]]) -> list[str]:
    """The bento's tag and the command that serves it; after a rejection, what still serves."""
    bento = assets.get("churn_bento")
    decision = assets.get("promotion_decision", {})
    waiting = decision.get("outcome") == "pending_approval"
    if bento is None and (waiting or decision.get("outcome") in REJECTIONS):
        before = decision.get("champion_before")
        served = (
            f"champion v{before} keeps serving: make serve"
            if before not in (None, "none")
            else "nothing is served yet: no model has been promoted"
        )
        why = "waits for approval" if waiting else "the gate rejected"
        return ["Serving", _row("bento", f"not built ({why}); {served}")]
    if bento is None:
        return []
    serve = str(bento.get("serve", "")).replace("```", "").strip().splitlines()
    return [
        "Serving",
        _row(
            "bento",
            f"{bento.get('bento_tag')} (champion v{bento.get('champion_version')}, "
            f"{bento.get('family')}; shadow {bento.get('shadow_version')})",
        ),
        *([_row("champion move", bento["champion_move"])] if bento.get("champion_move") else []),
        _row("serve", "make serve   (or: " + (serve[0] if serve else "bentoml serve") + ")"),
    ]


def registry_section(versions: list[Version]) -> list[str]:
    """Champion and challenger: version, family, test ROC-AUC, since when."""
    lines = []
    champion = next((v.version for v in versions if v.alias == "champion"), None)
    for v in versions:
        if v.alias != "champion" and v.version == champion:
            lines.append(_row(v.alias, f"v{v.version} (the champion itself: nothing waiting)"))
            continue
        score = f"test ROC-AUC {auc(v.test_roc_auc)}" if v.test_roc_auc is not None else ""
        since = f"since {v.since}" if v.since else ""
        body = "  ".join(p for p in (f"v{v.version}", v.family, score, since) if p)
        lines.append(_row(v.alias, body + (f"  ({v.note})" if v.note else "")))
    return lines


def links_section(links: dict[str, str]) -> list[str]:
    return ["Where to look", *(_row(name, where) for name, where in links.items())] if links else []


def failure_section(facts: RunFacts) -> list[str]:
    """Last: which step failed and why, what did not run, where the full log is."""
    if facts.succeeded:
        return []
    lines = [f"{facts.job} did not succeed ({facts.status}, run {facts.run_id})"]
    for failure in facts.failures:
        lines.append(_row("failed step", failure.step))
        lines.append(_row("cause", failure.cause))
    if facts.not_run:
        shown, more = facts.not_run[:NOT_RUN_SHOWN], len(facts.not_run) - NOT_RUN_SHOWN
        lines.append(_row("not run", ", ".join(shown) + (f" and {more} more" if more > 0 else "")))
    if facts.log_path:
        lines.append(_row("full log", facts.log_path))
    lines += [f"    | {line}" for line in facts.log_tail]
    return lines


def render(facts: RunFacts) -> list[str]:
    """Every section, a blank line between them; the failure, if any, last."""
    verdict = {"SUCCESS": "succeeded", "FAILURE": "FAILED"}.get(facts.status, facts.status)
    head = [f"{facts.job} {verdict} in {duration(facts.seconds)} (run {facts.run_id})"]
    registry = registry_section(facts.registry)
    sections = [
        head,
        data_section(facts.assets),
        leaderboard_section(facts.assets),
        test_section(facts.assets),
        gate_section(facts),
        ["Registry", *registry] if registry else [],
        serving_section(facts.assets),
        links_section(facts.links),
        failure_section(facts),
    ]
    lines: list[str] = []
    for section in sections:
        if section:
            lines += [*([""] if lines else []), *section]
    return lines
