"""One time budget for the whole search, split across the families by how promising each
looked in its previous study.

The rule, for a total of ``T`` seconds over ``K`` families:

1. Every family keeps a floor of ``MIN_SHARE`` (10%) of ``T``: a family that did badly on
   older data is still searched, so it can come back.
2. The rest is split in proportion to ``exp((best_f - best_top) / SCALE)``, with ``best_f`` the
   best CV ROC-AUC of the family's last study (of an earlier data version) and ``SCALE`` 0.005:
   families within a few thousandths of the leader share it almost equally; one 0.02 behind
   gets ``e^-4``, about 2% of it.
3. A family with no earlier study counts as level with the leader (unknown is not hopeless);
   with no earlier study at all the split is even.

Each family's share becomes its ``timeout_s``; its trial cap stays the preset's.

Limits, stated plainly. The families run as separate Dagster steps, side by side, so this is a
static split decided before any trial runs, not the cost-frugal scheduling of an AutoML that
moves time between families as results come in: a family that stops early (its trial cap,
or the pruner) does not hand its unused seconds to the others, and the split reads the
previous data version's studies, not today's. Every step computes the same split from the
same storage (studies of the current data version, being written by sibling steps right now,
are ignored), so no step has to wait for another. ``T`` is the sum of the families' seconds;
with two steps at a time the wall clock is about half of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MIN_SHARE = 0.10
SCALE = 0.005


def split(
    total_s: float, best: dict[str, float | None], min_share: float = MIN_SHARE
) -> dict[str, float]:
    """Seconds per family from each family's previous best CV ROC-AUC (``None``: unknown).

    Raises:
        ValueError: for a non-positive total or a floor the families cannot all get.
    """
    if total_s <= 0:
        raise ValueError(f"total_budget_s must be positive, got {total_s}")
    families = list(best)
    if min_share * len(families) > 1:
        raise ValueError(f"a floor of {min_share:.0%} per family is more than the whole budget")
    known = [v for v in best.values() if v is not None]
    top = max(known) if known else 0.0
    weight = {f: math.exp(((top if v is None else v) - top) / SCALE) for f, v in best.items()}
    free = 1.0 - min_share * len(families)
    total_weight = sum(weight.values())
    return {f: total_s * (min_share + free * weight[f] / total_weight) for f in families}


def previous_best(
    storage: Any, families: Sequence[str], data_version: str
) -> dict[str, float | None]:
    """Each family's best CV ROC-AUC in its most recent study of another data version
    (``None`` when it has none)."""
    import optuna

    found: dict[str, tuple[Any, float] | None] = dict.fromkeys(families)
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=True):
        name, trial = summary.study_name, summary.best_trial
        if trial is None or trial.value is None or name.endswith(f"-{data_version}"):
            continue
        for family in families:
            if name.startswith(f"churn-{family}-"):
                when = trial.datetime_complete or summary.datetime_start
                earlier = found[family]
                if earlier is None or when > earlier[0]:
                    found[family] = (when, float(trial.value))
    return {f: None if v is None else v[1] for f, v in found.items()}
