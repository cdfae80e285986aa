"""The model families the platform tunes, one module each holding that family's ``SPEC``.

A :class:`~churn_assets.lib.training.families.base.FamilySpec` is everything that differs
between families: the Optuna search space, the estimator, fitting with early stopping, how the
compiled scorer evaluates the fitted model, which SHAP explainer applies, the pip packages a
model of the family needs and the Dagster kinds of its tuning asset.

Adding a family: write ``families/<name>.py`` with a ``SPEC`` and add ``<name>`` to
:data:`Family`. ``churn_assets_tests/lib/training/test_families.py`` checks every registered
spec end to end.

Import-light: the definitions read the names and each spec's kinds when they load, so this
package and the family modules import their libraries (numpy, sklearn, xgboost, lightgbm, shap)
only inside functions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from churn_assets.lib.training.families.base import FamilySpec

Family = Literal["logreg", "random_forest", "xgboost", "lightgbm"]
FAMILIES: tuple[Family, ...] = get_args(Family)


def spec(family: str) -> FamilySpec:
    """The spec of a registered family (its module is imported on first use).

    Raises:
        ValueError: for a name that is not registered.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose from {FAMILIES}")
    return importlib.import_module(f"{__name__}.{family}").SPEC


def spec_of(estimator: Any) -> FamilySpec:
    """The spec of the family a fitted estimator belongs to (matched by class name, so a
    model loaded from MLflow or BentoML is recognised whatever its registry tags say).

    Raises:
        LookupError: when no registered family makes this estimator.
    """
    name = type(estimator).__name__
    for family in FAMILIES:
        found = spec(family)
        if found.estimator_class == name:
            return found
    raise LookupError(f"no registered model family makes a {name}")


def requirements() -> list[str]:
    """The pip packages the families add to scikit-learn's (registry order, each once)."""
    return list(dict.fromkeys(p for family in FAMILIES for p in spec(family).requirements))
