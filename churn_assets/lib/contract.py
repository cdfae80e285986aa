"""The data contract: one declarative description of a churn dataset.

A contract is a Pandera ``DataFrameSchema`` in Pandera's own YAML format. Pandera keeps a
schema-level ``metadata`` mapping when it reads YAML, and the platform stores what Pandera has
no words for under ``metadata.churn_contract``: which column is the customer id, the target and
its positive label, the snapshot time, the sensitive attributes, and what to do with nulls.

Everything downstream derives from this one object: validation and asset checks (Pandera),
the feature lists of the preprocessing pipeline, the service's request model, Evidently's
data definition, the MLflow signature and the model card.

(Over 300 lines because it is one class, :class:`DataContract`: loading, role checks and the
queries every consumer asks of the same roles belong together.)
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pandera.pandas as pa

from churn_assets.lib.settings import CONTRACT_ENV_VAR

if TYPE_CHECKING:
    from churn_assets.lib.evaluation.fairness_policy import FairnessSpec
    from churn_assets.lib.features.declared import FeatureSpec
    from churn_assets.lib.features.history import HistorySpec
    from churn_assets.lib.privacy import PrivacyPolicy

BUILTIN_CONTRACT = Path(__file__).resolve().parent.parent / "contracts" / "telco.yaml"

NullPolicyName = Literal["impute", "fill"]


class ContractError(ValueError):
    """The contract file itself is invalid (a user-authored file, so say exactly what is wrong)."""


@dataclass(frozen=True)
class TargetSpec:
    """The label column and its two declared values."""

    column: str
    positive: Any
    negative: Any

    def encode(self, values: pd.Series) -> pd.Series:
        """Map declared labels to 1 (positive) / 0 (negative).

        Raises:
            ValueError: if a value is neither label (validation should have quarantined it).
        """
        encoded = values.map({self.positive: 1, self.negative: 0})
        if encoded.isna().any():
            unknown = sorted(map(str, values[encoded.isna()].unique()))[:5]
            raise ValueError(
                f"target column {self.column!r} holds undeclared labels {unknown}; "
                f"the contract declares positive={self.positive!r}, negative={self.negative!r}"
            )
        return encoded.astype("int8")


@dataclass(frozen=True)
class NullPolicy:
    """What to do with a null in a nullable column."""

    policy: NullPolicyName
    value: Any = None


@dataclass(frozen=True)
class ColumnInfo:
    """One column as downstream consumers see it (a row of the contract's column table)."""

    name: str
    dtype: str
    role: str
    kind: Literal["numeric", "categorical", "datetime", "other"]
    nullable: bool
    required: bool
    allowed_values: tuple[Any, ...] | None
    min_value: float | None
    max_value: float | None
    description: str | None


@dataclass(frozen=True)
class DataContract:
    """A dataset's schema plus the roles of its columns.

    Build one with :meth:`load`; the Pandera schema is available as :attr:`schema`.
    """

    schema: pa.DataFrameSchema
    path: str
    id_column: str
    target: TargetSpec
    event_time: str | None = None
    sensitive: tuple[str, ...] = ()
    exclude_from_features: tuple[str, ...] = ()
    nulls: dict[str, NullPolicy] = field(default_factory=dict)
    max_rejected_share: float = 0.05
    slices: tuple[str, ...] = ()
    # Counterfactual edits with a known direction of the score (the behavioural tests' rules):
    # domain knowledge about this dataset, so it lives with the dataset's contract.
    directions: tuple[dict[str, str], ...] = ()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> DataContract:
        """Read a contract file (default: ``$CHURN_CONTRACT``, else the built-in Telco one).

        Raises:
            ContractError: if the file is missing or its roles do not match its columns.
        """
        resolved = Path(path or os.environ.get(CONTRACT_ENV_VAR) or BUILTIN_CONTRACT)
        if not resolved.is_file():
            raise ContractError(f"contract file not found: {resolved}")
        try:
            schema = pa.DataFrameSchema.from_yaml(resolved)
        except Exception as exc:  # pandera raises several types for a malformed file
            raise ContractError(f"{resolved}: not a valid Pandera schema YAML: {exc}") from exc
        return cls.from_schema(schema, path=str(resolved))

    @classmethod
    def from_schema(cls, schema: pa.DataFrameSchema, path: str = "<memory>") -> DataContract:
        """Build a contract from a Pandera schema whose metadata holds ``churn_contract``."""
        meta = (schema.metadata or {}).get("churn_contract")
        if not isinstance(meta, dict):
            raise ContractError(f"{path}: missing the `metadata.churn_contract` mapping")
        try:
            target_meta = meta["target"]
            target = TargetSpec(
                column=target_meta["column"],
                positive=target_meta["positive"],
                negative=target_meta["negative"],
            )
            contract = cls(
                schema=schema,
                path=path,
                id_column=meta["id"],
                target=target,
                event_time=meta.get("event_time"),
                sensitive=tuple(meta.get("sensitive") or ()),
                exclude_from_features=tuple(meta.get("exclude_from_features") or ()),
                nulls={
                    col: NullPolicy(policy=spec["policy"], value=spec.get("value"))
                    for col, spec in (meta.get("nulls") or {}).items()
                },
                max_rejected_share=float(meta.get("max_rejected_share", 0.05)),
                slices=tuple(meta.get("slices") or ()),
                directions=tuple(
                    {k: str(v) for k, v in rule.items()}
                    for rule in ((meta.get("behaviour") or {}).get("directions") or ())
                ),
            )
        except (KeyError, TypeError) as exc:
            raise ContractError(f"{path}: `churn_contract` is missing key {exc}") from exc
        contract._check_roles()
        return contract

    def _check_roles(self) -> None:
        columns = set(self.schema.columns)
        named = {
            "id": [self.id_column],
            "target.column": [self.target.column],
            "event_time": [self.event_time] if self.event_time else [],
            "sensitive": list(self.sensitive),
            "exclude_from_features": list(self.exclude_from_features),
            "nulls": list(self.nulls),
            "slices": list(self.slices),
            "behaviour.directions": [str(rule.get("field")) for rule in self.directions],
        }
        for key, names in named.items():
            unknown = [n for n in names if n not in columns]
            if unknown:
                raise ContractError(f"{self.path}: `{key}` names unknown column(s) {unknown}")
        for col, policy in self.nulls.items():
            if policy.policy not in ("impute", "fill"):
                raise ContractError(
                    f"{self.path}: null policy for {col!r} must be 'impute' or 'fill', "
                    f"got {policy.policy!r}"
                )
            if policy.policy == "fill" and policy.value is None:
                raise ContractError(f"{self.path}: null policy 'fill' for {col!r} needs a value")
        allowed = self.allowed_values(self.target.column)
        if allowed is not None:
            missing = {self.target.positive, self.target.negative} - set(allowed)
            if missing:
                raise ContractError(
                    f"{self.path}: target labels {sorted(map(str, missing))} are not among "
                    f"the target column's allowed values {list(allowed)}"
                )
        if not self.feature_columns:
            raise ContractError(f"{self.path}: the contract leaves no feature columns")
        from churn_assets.lib.privacy import PrivacyError

        try:
            _ = self.privacy
        except PrivacyError as exc:
            raise ContractError(str(exc)) from exc
        from churn_assets.lib.evaluation.fairness_policy import FairnessContractError

        try:
            _ = self.fairness
        except FairnessContractError as exc:
            raise ContractError(str(exc)) from exc
        _ = self.engineered_features  # raises ContractError naming the feature and the fix
        _ = self.history_features  # likewise for the `history` declarations

    # ------------------------------------------------------------------ column views
    @property
    def engineered_features(self) -> tuple[FeatureSpec, ...]:
        """The declared engineered features (``features``), validated, inputs first."""
        from churn_assets.lib.features.declared import parse_features

        return parse_features(self)

    @property
    def history_features(self) -> tuple[HistorySpec, ...]:
        """The declared history features (``history``: lags, deltas, trends, counts)."""
        from churn_assets.lib.features.history import parse_history

        return parse_history(self)

    @property
    def fairness(self) -> FairnessSpec:
        """How each sensitive attribute is judged (criterion, limit, bands; docs/fairness.md)."""
        from churn_assets.lib.evaluation.fairness_policy import FairnessSpec

        return FairnessSpec.from_contract(self)

    @property
    def privacy(self) -> PrivacyPolicy:
        """What previews and the prediction log do with identifier and sensitive fields."""
        from churn_assets.lib.privacy import PrivacyPolicy

        return PrivacyPolicy.from_contract(self)

    @property
    def name(self) -> str:
        """The dataset's name (the schema's ``name``)."""
        return self.schema.name or Path(self.path).stem

    @property
    def columns(self) -> list[str]:
        """All declared columns, in contract order."""
        return list(self.schema.columns)

    @property
    def required_columns(self) -> list[str]:
        """Columns a source must provide (``required: false`` columns may be absent)."""
        return [name for name, col in self.schema.columns.items() if col.required]

    @property
    def feature_columns(self) -> list[str]:
        """Model inputs: every column that is not the id, target, snapshot time or excluded."""
        not_features = {self.id_column, self.target.column, self.event_time}
        not_features.update(self.exclude_from_features)
        return [c for c in self.columns if c not in not_features]

    @property
    def numeric_features(self) -> list[str]:
        """Feature columns with a numeric dtype."""
        return [c for c in self.feature_columns if self.column_info(c).kind == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        """Feature columns with a string or categorical dtype."""
        return [c for c in self.feature_columns if self.column_info(c).kind == "categorical"]

    def role(self, column: str) -> str:
        """The role a column plays: id, target, event_time, sensitive, feature or excluded."""
        if column == self.id_column:
            return "id"
        if column == self.target.column:
            return "target"
        if column == self.event_time:
            return "event_time"
        if column in self.exclude_from_features:
            return "excluded"
        if column in self.sensitive:
            return "sensitive feature"
        return "feature"

    def allowed_values(self, column: str) -> tuple[Any, ...] | None:
        """The values an ``isin`` check allows for a column, if it has one."""
        for check in self.schema.columns[column].checks:
            if check.name == "isin":
                return tuple(check.statistics["allowed_values"])
        return None

    def value_range(self, column: str) -> tuple[float | None, float | None]:
        """The (min, max) of range checks on a column; ``None`` where unbounded."""
        low = high = None
        for check in self.schema.columns[column].checks:
            stats = check.statistics or {}
            if check.name in ("in_range", "ge", "gt", "greater_than_or_equal_to"):
                low = stats.get("min_value", low)
            if check.name in ("in_range", "le", "lt", "less_than_or_equal_to"):
                high = stats.get("max_value", high)
        return low, high

    def column_info(self, column: str) -> ColumnInfo:
        """Everything the contract says about one column."""
        col = self.schema.columns[column]
        dtype = str(col.dtype)
        if column == self.event_time or dtype.startswith("datetime"):
            kind = "datetime"
        elif dtype.startswith(("int", "float", "uint")) or dtype == "bool":
            kind = "numeric"
        elif dtype in ("str", "string", "object", "category"):
            kind = "categorical"
        else:
            kind = "other"
        low, high = self.value_range(column)
        return ColumnInfo(
            name=column,
            dtype=dtype,
            role=self.role(column),
            kind=kind,
            nullable=bool(col.nullable),
            required=bool(col.required),
            allowed_values=self.allowed_values(column),
            min_value=low,
            max_value=high,
            description=col.description,
        )

    def describe(self) -> pd.DataFrame:
        """The contract as a table: one row per column (for metadata, docs and model cards)."""
        rows = []
        for name in self.columns:
            info = self.column_info(name)
            allowed = ", ".join(map(str, info.allowed_values)) if info.allowed_values else ""
            bounds = (
                f"[{info.min_value}, {info.max_value}]"
                if info.min_value is not None or info.max_value is not None
                else ""
            )
            rows.append(
                {
                    "column": name,
                    "dtype": info.dtype,
                    "role": info.role,
                    "nullable": info.nullable,
                    "required": info.required,
                    "allowed": allowed,
                    "range": bounds,
                    "null policy": self.nulls[name].policy if name in self.nulls else "",
                    "description": info.description or "",
                }
            )
        return pd.DataFrame(rows)

    def schema_for(self, present_columns: list[str] | pd.Index) -> pa.DataFrameSchema:
        """The schema to validate a frame with, given which optional columns it carries.

        The uniqueness key (id + snapshot time) only names columns the frame has, so a source
        without a snapshot column (one snapshot) is checked for unique ids alone.
        """
        present = set(present_columns)
        unique = [c for c in (self.schema.unique or []) if c in present]
        schema = copy.deepcopy(self.schema)
        schema.unique = unique or None
        return schema
