"""Privacy by contract: what happens to identifier and sensitive fields outside the tables.

The contract names the customer id and the sensitive attributes; its optional
``metadata.churn_contract.privacy`` mapping says, per place a row can leave the tables, what
to do with them::

    privacy:
      identifiers: [email]            # more identifier columns besides `id` (optional)
      previews:       {identifiers: hash, sensitive: drop}   # Dagster metadata (event log)
      prediction_log: {identifiers: hash, sensitive: drop, retention_days: 30}
      quarantine:     {retention_days: 90}

Actions are ``keep``, ``hash`` (a keyed pseudonym, HMAC-SHA256 with the key in
``$CHURN_PRIVACY_KEY``: the same customer gets the same pseudonym in every log, so logs can
still be joined, but the id cannot be read back without the key) and ``drop`` (the field is
left out). The defaults above apply when the mapping is absent. Alerts never carry rows, so
they have no option. docs/privacy.md lists what is stored where and for how long.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.contract import DataContract

PRIVACY_KEY_ENV_VAR = "CHURN_PRIVACY_KEY"
# Without a key the pseudonyms are still stable, but anyone who can enumerate ids can invert
# them: documented as the laptop default, and a deployment sets the key (docs/privacy.md).
_DEFAULT_KEY = b"churn-platform: set CHURN_PRIVACY_KEY"
Action = Literal["keep", "hash", "drop"]
Place = Literal["previews", "prediction_log"]
ACTIONS: tuple[str, ...] = ("keep", "hash", "drop")
HASH_PREFIX = "h:"


class PrivacyError(ValueError):
    """The contract's privacy mapping is invalid."""


@dataclass(frozen=True)
class FieldRule:
    """What one place does with identifier fields and with sensitive fields."""

    identifiers: Action = "hash"
    sensitive: Action = "drop"
    retention_days: int | None = None


@dataclass(frozen=True)
class PrivacyPolicy:
    """The contract's privacy rules, resolved to column names."""

    identifiers: tuple[str, ...]
    sensitive: tuple[str, ...]
    previews: FieldRule = field(default_factory=FieldRule)
    prediction_log: FieldRule = field(default_factory=lambda: FieldRule(retention_days=30))
    quarantine_retention_days: int | None = 90

    @classmethod
    def from_contract(cls, contract: DataContract) -> PrivacyPolicy:
        """The policy of a contract (defaults where the contract says nothing).

        Raises:
            PrivacyError: for an unknown action, place or column, or a non-positive retention.
        """
        meta = (contract.schema.metadata or {}).get("churn_contract", {}).get("privacy") or {}
        if not isinstance(meta, dict):
            raise PrivacyError(f"{contract.path}: `privacy` must be a mapping, got {meta!r}")
        unknown = set(meta) - {"identifiers", "previews", "prediction_log", "quarantine"}
        if unknown:
            raise PrivacyError(f"{contract.path}: unknown `privacy` key(s) {sorted(unknown)}")
        extra = tuple(meta.get("identifiers") or ())
        missing = [c for c in extra if c not in contract.columns]
        if missing:
            raise PrivacyError(f"{contract.path}: `privacy.identifiers` names unknown {missing}")
        defaults = cls(identifiers=(), sensitive=())
        quarantine = meta.get("quarantine") or {}
        return cls(
            identifiers=(contract.id_column, *(c for c in extra if c != contract.id_column)),
            sensitive=tuple(contract.sensitive),
            previews=_rule(contract.path, "previews", meta.get("previews"), defaults.previews),
            prediction_log=_rule(
                contract.path, "prediction_log", meta.get("prediction_log"), defaults.prediction_log
            ),
            quarantine_retention_days=_days(
                contract.path,
                "quarantine",
                quarantine.get("retention_days", defaults.quarantine_retention_days),
            ),
        )

    def rule(self, place: Place) -> FieldRule:
        """The rule of one place (``previews`` or ``prediction_log``)."""
        return getattr(self, place)

    def action(self, place: Place, column: str) -> Action:
        """What ``place`` does with ``column``: ``keep`` for every ordinary field."""
        rule = self.rule(place)
        if column in self.identifiers:
            return rule.identifiers
        if column in self.sensitive:
            return rule.sensitive
        return "keep"

    def apply_frame(self, frame: pd.DataFrame, place: Place) -> pd.DataFrame:
        """A copy of ``frame`` with the place's rule applied to the columns it has."""
        dropped = [c for c in frame.columns if self.action(place, str(c)) == "drop"]
        out = frame.drop(columns=dropped)
        for column in out.columns:
            if self.action(place, str(column)) == "hash":
                out[column] = out[column].map(pseudonym)
        return out

    def apply_record(self, record: dict[str, Any], place: Place) -> dict[str, Any]:
        """A copy of one record (a request's fields) with the place's rule applied."""
        out: dict[str, Any] = {}
        for key, value in record.items():
            action = self.action(place, key)
            if action == "keep":
                out[key] = value
            elif action == "hash":
                out[key] = pseudonym(value)
        return out


def pseudonym(value: Any, key: bytes | None = None) -> str | None:
    """The keyed pseudonym of a value (``h:`` + 16 hex digits); ``None`` stays ``None``."""
    if value is None or value != value:  # NaN
        return None
    digest = hmac.new(key or pseudonym_key(), str(value).encode("utf-8"), hashlib.sha256)
    return HASH_PREFIX + digest.hexdigest()[:16]


def pseudonym_key() -> bytes:
    """The key pseudonyms are made with: ``$CHURN_PRIVACY_KEY``, else the public default."""
    return os.environ.get(PRIVACY_KEY_ENV_VAR, "").encode() or _DEFAULT_KEY


def keyed() -> bool:
    """Whether a deployment key is set (without one, pseudonyms are not secret)."""
    return bool(os.environ.get(PRIVACY_KEY_ENV_VAR))


def _rule(path: str, place: str, spec: Any, default: FieldRule) -> FieldRule:
    if spec is None:
        return default
    if not isinstance(spec, dict):
        raise PrivacyError(f"{path}: `privacy.{place}` must be a mapping, got {spec!r}")
    unknown = set(spec) - {"identifiers", "sensitive", "retention_days"}
    if unknown:
        raise PrivacyError(f"{path}: unknown `privacy.{place}` key(s) {sorted(unknown)}")
    for kind in ("identifiers", "sensitive"):
        action = spec.get(kind, getattr(default, kind))
        if action not in ACTIONS:
            raise PrivacyError(
                f"{path}: `privacy.{place}.{kind}` must be one of {list(ACTIONS)}, got {action!r}"
            )
    return FieldRule(
        identifiers=spec.get("identifiers", default.identifiers),
        sensitive=spec.get("sensitive", default.sensitive),
        retention_days=_days(path, place, spec.get("retention_days", default.retention_days)),
    )


def _days(path: str, place: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PrivacyError(
            f"{path}: `privacy.{place}.retention_days` must be a whole number of days >= 1 "
            f"(or null to keep forever), got {value!r}"
        )
    return value
