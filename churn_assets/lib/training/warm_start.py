"""Warm start on retraining: a new study begins with the configurations that won before.

A new data version gives a family a new, empty study (:func:`~churn_assets.lib.training.
studies.study_name`), so without help a retraining forgets everything the last search found.
Before its first trial, each family's new study queues (``study.enqueue_trial``):

1. the family's best parameters behind the registered ``@champion``, when the champion is
   that family (its candidate run's ``source_run_id`` names the family's tuning run, whose
   ``best.*`` params are read) or an ensemble holding the family (its run's
   ``member_run_ids`` tag names each member's tuning run);
2. the best trial of the family's most recent other study in the same storage (the last
   search of this family, whatever won then).

Every value is checked against today's search space by walking the family's own
``suggest_params`` (:func:`fit_to_space`): a parameter the space no longer has, or no longer
allows (a narrowed range, a removed choice), is left out and said so in an INFO line; the rest
is queued and the sampler draws what is missing. Warm starting is best-effort: a registry that
does not exist, a champion without the tags, a deleted run or an unreachable store is logged
and skipped; tuning never fails because of it. A resumed study (trials already) queues nothing.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from churn_assets.lib.training.families import spec

log = logging.getLogger(__name__)

# Tags of a candidate's MLflow run naming the tuning runs it came from (candidate.py).
SOURCE_RUN_TAG = "source_run_id"
MEMBER_RUNS_TAG = "member_run_ids"
BEST_PARAM_PREFIX = "best."


@dataclass(frozen=True)
class WarmStart:
    """One configuration queued as a first trial, and where it came from."""

    source: str  # e.g. "champion churn-model v3 (run abc)" or "study churn-logreg-v1-..."
    params: dict[str, Any]
    dropped: dict[str, str] = field(default_factory=dict)  # parameter -> why it was left out

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "params": self.params, "dropped": self.dropped}


class _Walk:
    """Stands in for an Optuna trial in ``suggest_params``: answers each question with the
    given value when today's space allows it, records what it does not."""

    def __init__(self, given: dict[str, Any]):
        self.given = given
        self.kept: dict[str, Any] = {}
        self.dropped: dict[str, str] = {}

    def _take(self, name: str, parse: Any, allowed: Any, fallback: Any, space: str) -> Any:
        if name not in self.given:
            self.dropped[name] = f"not in the earlier parameters (today: {space})"
            return fallback
        raw = self.given[name]
        try:
            value = parse(raw)
            ok = allowed(value)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            self.dropped[name] = f"{raw!r} is outside today's space {space}"
            return fallback
        self.kept[name] = value
        return value

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        def allowed(v: float) -> bool:
            on_step = step is None or math.isclose((v - low) / step, round((v - low) / step))
            return math.isfinite(v) and low <= v <= high and on_step

        return self._take(name, float, allowed, low, f"[{low}, {high}]")

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        def parse(raw: Any) -> int:
            number = float(raw)
            if not number.is_integer():
                raise ValueError(raw)
            return int(number)

        return self._take(
            name, parse, lambda v: low <= v <= high and (v - low) % step == 0, low, f"{low}..{high}"
        )

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        choices = list(choices)

        def parse(raw: Any) -> Any:
            # MLflow params are strings: "True", "None", "balanced" name the choice.
            for choice in choices:
                if type(choice) is type(raw) and choice == raw:
                    return choice
            for choice in choices:
                if str(choice) == str(raw):
                    return choice
            raise ValueError(raw)

        return self._take(name, parse, lambda _v: True, choices[0], str(choices))


def fit_to_space(family: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The parameters today's search space of ``family`` accepts (typed as the space types
    them) and, for each one left out, why."""
    walk = _Walk(params)
    spec(family).suggest_params(walk, 1.0)
    dropped = dict(walk.dropped)
    for name in params:
        if name not in walk.kept and name not in dropped:
            dropped[name] = "not in today's search space"
    return walk.kept, dropped


def champion_params(family: str, model_name: str) -> tuple[dict[str, Any], str]:
    """The family's best parameters behind ``model_name@champion``, with a description of
    where they came from.

    Raises:
        LookupError: no champion, or it holds no model of the family; and whatever the
            registry raises (the caller logs both)."""
    from mlflow import MlflowClient

    from churn_assets.lib.registry.aliases import CHAMPION, version_by_alias

    version = version_by_alias(model_name, CHAMPION)
    if version is None:
        raise LookupError(f"no {model_name}@{CHAMPION} registered")
    client = MlflowClient()
    if not version.run_id:
        raise LookupError(f"{model_name} v{version.version} has no run")
    tags = client.get_run(version.run_id).data.tags
    champion_family = tags.get("family") or (version.tags or {}).get("family")
    members = json.loads(tags.get(MEMBER_RUNS_TAG) or "{}")
    same = champion_family == family
    source_run = tags.get(SOURCE_RUN_TAG) if same else members.get(family)
    if not source_run:
        raise LookupError(
            f"the champion ({model_name} v{version.version}) is {champion_family}, which holds "
            f"no {family} model"
        )
    params = {
        k[len(BEST_PARAM_PREFIX) :]: v
        for k, v in client.get_run(source_run).data.params.items()
        if k.startswith(BEST_PARAM_PREFIX)
    }
    if not params:
        raise LookupError(f"tuning run {source_run} logged no best.* params")
    return params, f"champion {model_name} v{version.version} ({champion_family}, run {source_run})"


def last_study_params(family: str, storage: Any, current: str) -> tuple[dict[str, Any], str]:
    """The best trial's parameters of the family's most recent other study in ``storage``
    (an Optuna storage).

    Raises:
        LookupError: when there is none.
    """
    import optuna

    prefix = f"churn-{family}-"
    studies = [
        s
        for s in optuna.get_all_study_summaries(storage, include_best_trial=True)
        if s.study_name.startswith(prefix) and s.study_name != current and s.best_trial
    ]
    if not studies:
        raise LookupError(f"no earlier {family} study in the storage")
    latest = max(studies, key=lambda s: s.best_trial.datetime_complete or s.datetime_start)
    return dict(latest.best_trial.params), f"study {latest.study_name}"


def find_warm_starts(
    family: str,
    model_name: str | None,
    storage: Any,
    current: str,
    report: Callable[[str], None] | None = None,
) -> list[WarmStart]:
    """What to queue first in the new study ``current`` of ``family``: the champion's
    parameters, then the last study's best (when different), each fitted to today's space.

    Never raises: a source that fails is logged at INFO (and given to ``report``, the step's
    log) and skipped.
    """

    def say(line: str) -> None:
        log.info(line)
        if report is not None:
            report(line)

    found: list[WarmStart] = []
    sources: list[tuple[str, Callable[[], tuple[dict[str, Any], str]]]] = []
    if model_name:
        sources.append(("the champion", lambda: champion_params(family, model_name)))
    sources.append(("the last study", lambda: last_study_params(family, storage, current)))
    for label, read in sources:
        try:
            raw, source = read()
            params, dropped = fit_to_space(family, raw)
        except LookupError as exc:
            say(f"warm start of {family}: nothing from {label}: {exc}")
            continue
        except Exception as exc:  # best-effort: a bad source never fails tuning
            say(f"warm start of {family}: {label} skipped ({type(exc).__name__}: {exc})")
            continue
        for name, why in dropped.items():
            say(f"warm start of {family} from {source}: {name} left out, {why}")
        if not params:
            say(f"warm start of {family}: nothing usable from {source}")
        elif not any(w.params == params for w in found):
            found.append(WarmStart(source, params, dropped))
    return found


def enqueue(study: Any, starts: list[WarmStart]) -> list[WarmStart]:
    """Queue each configuration on a study that has no trial yet; the ones queued."""
    if study.trials:
        if starts:
            log.info("warm start: study %s is resumed, nothing queued", study.study_name)
        return []
    for start in starts:
        study.enqueue_trial(start.params, user_attrs={"warm_start": start.source})
        log.info("warm start: queued %s from %s", start.params, start.source)
    return starts
