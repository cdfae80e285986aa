"""The contract's fairness choices: which criterion judges each sensitive attribute, and how a
numeric attribute is cut into groups.

The optional ``metadata.churn_contract.fairness`` mapping (docs/fairness.md)::

    sensitive: [gender, SeniorCitizen, Age]
    fairness:
      criterion: equal_opportunity        # default for every sensitive attribute
      min_group_rows: 30                  # optional: overrides the run config
      min_group_positives: 10             # optional: overrides the run config
      bins: 4                             # optional: quantile bins of an undeclared numeric
      attributes:
        Age: {bands: [0, 30, 45, 60, 120]}
        SeniorCitizen: {criterion: demographic_parity, limit: 0.2}

Without the mapping every sensitive attribute is judged on equal opportunity with the run
config's limits (``FairnessPolicy``), so a contract that only lists ``sensitive`` names keeps
working. What the contract declares wins over the run config: the contract is the dataset
owner's policy, the run config supplies the defaults it leaves open.

Import-light on purpose (no pandas): the contract validates the mapping when it loads.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.evaluation.policy import FairnessPolicy

Criterion = Literal["equal_opportunity", "demographic_parity", "equalized_odds"]
CRITERIA: tuple[str, ...] = get_args(Criterion)
DEFAULT_CRITERION: Criterion = "equal_opportunity"
# What each criterion compares between groups (shown in reports and gate details).
MEANING = {
    "equal_opportunity": "gap in true positive rates (share of churners offered)",
    "demographic_parity": "gap in offer rates",
    "equalized_odds": "larger of the gaps in true and false positive rates",
}
_TOP_KEYS = ("criterion", "min_group_rows", "min_group_positives", "bins", "attributes")
_ATTRIBUTE_KEYS = ("criterion", "limit", "bands", "bins")


class FairnessContractError(ValueError):
    """The contract's ``fairness`` mapping is invalid (the contract re-raises it as a
    ``ContractError``)."""


@dataclass(frozen=True)
class AttributeSpec:
    """What the contract says about one sensitive attribute (``None``: not declared)."""

    criterion: Criterion | None = None
    limit: float | None = None
    bands: tuple[float, ...] | None = None
    bins: int | None = None


@dataclass(frozen=True)
class AttributeRule:
    """How one attribute is judged, the contract and the run config combined."""

    attribute: str
    criterion: Criterion
    limit: float
    limit_from: Literal["contract", "config"]
    min_group_rows: int
    min_group_positives: int
    bands: tuple[float, ...] | None
    bins: int
    max_categorical_values: int


@dataclass(frozen=True)
class FairnessSpec:
    """The contract's fairness mapping, validated."""

    criterion: Criterion = DEFAULT_CRITERION
    min_group_rows: int | None = None
    min_group_positives: int | None = None
    bins: int | None = None
    attributes: dict[str, AttributeSpec] = field(default_factory=dict)

    @classmethod
    def from_contract(cls, contract: DataContract) -> FairnessSpec:
        """The spec of a contract (defaults where it says nothing).

        Raises:
            FairnessContractError: naming the file, the key and the allowed values.
        """
        meta = (contract.schema.metadata or {}).get("churn_contract", {}).get("fairness")
        numeric = {c for c in contract.columns if contract.column_info(c).kind == "numeric"}
        return cls.parse(meta, contract.path, tuple(contract.sensitive), numeric)

    @classmethod
    def parse(
        cls,
        meta: Any,
        path: str,
        sensitive: tuple[str, ...],
        numeric_columns: set[str] | frozenset[str] = frozenset(),
    ) -> FairnessSpec:
        """Validate a raw ``fairness`` mapping (``None``: all defaults)."""
        if meta is None:
            return cls()

        def at(key: str) -> str:
            return f"{path}: `{key}`"

        if not isinstance(meta, dict):
            raise FairnessContractError(f"{at('fairness')} must be a mapping, got {meta!r}")
        _known(meta, _TOP_KEYS, at("fairness"))
        raw_attributes = meta.get("attributes") or {}
        if not isinstance(raw_attributes, dict):
            raise FairnessContractError(
                f"{at('fairness.attributes')} must map attribute names to settings, got "
                f"{raw_attributes!r}"
            )
        attributes = {}
        for name, settings in raw_attributes.items():
            key = f"fairness.attributes.{name}"
            if name not in sensitive:
                raise FairnessContractError(
                    f"{at(key)} names an attribute not in `sensitive` {list(sensitive)}: add "
                    "it there or remove it here"
                )
            if not isinstance(settings, dict):
                raise FairnessContractError(f"{at(key)} must be a mapping, got {settings!r}")
            _known(settings, _ATTRIBUTE_KEYS, at(key))
            bands = settings.get("bands")
            if bands is not None and name not in numeric_columns:
                raise FairnessContractError(
                    f"{at(key + '.bands')}: bands cut a numeric column; {name!r} is not numeric"
                )
            if bands is not None and settings.get("bins") is not None:
                raise FairnessContractError(f"{at(key)}: give `bands` or `bins`, not both")
            attributes[name] = AttributeSpec(
                criterion=_criterion(settings.get("criterion"), at(f"{key}.criterion")),
                limit=_limit(settings.get("limit"), at(f"{key}.limit")),
                bands=_bands(bands, at(f"{key}.bands")),
                bins=_count(settings.get("bins"), at(f"{key}.bins"), minimum=2),
            )
        return cls(
            criterion=_criterion(meta.get("criterion"), at("fairness.criterion"))
            or DEFAULT_CRITERION,
            min_group_rows=_count(meta.get("min_group_rows"), at("fairness.min_group_rows")),
            min_group_positives=_count(
                meta.get("min_group_positives"), at("fairness.min_group_positives")
            ),
            bins=_count(meta.get("bins"), at("fairness.bins"), minimum=2),
            attributes=attributes,
        )

    def rule(self, attribute: str, policy: FairnessPolicy) -> AttributeRule:
        """How ``attribute`` is judged: the contract's choices, the config's defaults."""
        own = self.attributes.get(attribute, AttributeSpec())
        criterion = own.criterion or self.criterion
        return AttributeRule(
            attribute=attribute,
            criterion=criterion,
            limit=own.limit if own.limit is not None else policy.limit(criterion),
            limit_from="contract" if own.limit is not None else "config",
            min_group_rows=_first(self.min_group_rows, policy.min_group_rows),
            min_group_positives=_first(self.min_group_positives, policy.min_group_positives),
            bands=own.bands,
            bins=_first(own.bins, self.bins, policy.quantile_bins),
            max_categorical_values=policy.max_categorical_values,
        )


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def _known(mapping: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(map(str, mapping)) - set(allowed))
    if unknown:
        raise FairnessContractError(
            f"{where} has unknown key(s) {unknown}; allowed: {list(allowed)}"
        )


def _criterion(value: Any, key: str) -> Criterion | None:
    if value is None:
        return None
    if value not in CRITERIA:
        raise FairnessContractError(f"{key} is {value!r}; allowed: {list(CRITERIA)}")
    return value


def _limit(value: Any, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise FairnessContractError(f"{key} is {value!r}; a rate difference between 0 and 1")
    return float(value)


def _count(value: Any, key: str, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FairnessContractError(f"{key} is {value!r}; an integer of at least {minimum}")
    return value


def _bands(value: Any, key: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    ok = (
        isinstance(value, list)
        and len(value) >= 3
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    )
    if not ok or any(b <= a for a, b in itertools.pairwise(value)):
        raise FairnessContractError(
            f"{key} is {value!r}; a list of at least 3 strictly increasing numbers (the edges "
            "of at least 2 bands, e.g. [0, 30, 45, 60, 120])"
        )
    return tuple(float(v) for v in value)
