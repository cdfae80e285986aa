"""The predictor: the packaged models' compiled scorers behind one ``score`` call, routing
each request to the champion (the challenger in shadow, or answering an A/B share of
customers), and the prediction-log lines of what it served; :func:`load_predictor` builds it
from a bundle folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving.bundle import (
    CONTRACT_FILE,
    ModelSlot,
    ServingMeta,
    load_model,
    read_meta,
)
from churn_assets.lib.serving.risk_tiers import risk_tier_codes
from churn_assets.lib.serving.scored import TIERS, Scored, ScoredBatch

if TYPE_CHECKING:
    from churn_assets.lib.privacy import PrivacyPolicy


def new_request_id() -> str:
    return uuid.uuid4().hex


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def in_sample(key: str, share: float) -> bool:
    """Deterministic sampling by a key (customer or request id): a key is always in or out,
    so an A/B customer keeps seeing the same model."""
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    import hashlib

    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 0xFFFFFFFF < share


class Predictor:
    """Champion scoring with an optional challenger in shadow or in an A/B split.

    The service wraps this (HTTP, metrics); batch scoring and tests use it directly.

    Args:
        meta: the bundle's ``serving.json``.
        champion: compiled scorer of the champion.
        shadow: compiled scorer of the challenger, if packaged.
        id_column: the contract's id field (echoed back; the A/B key).
        shadow_share / ab_share: override the bundle's split (``None`` keeps it).
        privacy: the contract's privacy rules; the prediction log's lines follow its
            ``prediction_log`` rule (``None``: the request's fields are logged as sent).
    """

    def __init__(
        self,
        meta: ServingMeta,
        champion: Any,
        shadow: Any | None = None,
        id_column: str = "customerID",
        shadow_share: float | None = None,
        ab_share: float | None = None,
        privacy: PrivacyPolicy | None = None,
    ):
        if (shadow is None) != (meta.shadow is None):
            raise ValueError("a shadow scorer needs a shadow slot in the bundle and vice versa")
        self.meta = meta
        self.champion = champion
        self.shadow = shadow
        self.id_column = id_column
        self.shadow_share = meta.shadow_share if shadow_share is None else shadow_share
        self.ab_share = (meta.ab_share if ab_share is None else ab_share) if shadow else 0.0
        for name, value in (("shadow_share", self.shadow_share), ("ab_share", self.ab_share)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        # Resolved once: per row, a dict copy and one edit per identifier/sensitive field.
        self._log_rules: list[tuple[str, str]] = []
        self._pseudonyms = None
        if privacy is not None:
            for column in (*privacy.identifiers, *privacy.sensitive):
                action = privacy.action("prediction_log", column)
                if action != "keep" and (column, action) not in self._log_rules:
                    self._log_rules.append((column, action))
            if any(action == "hash" for _, action in self._log_rules):
                from churn_assets.lib.serving.pseudonyms import Pseudonyms

                self._pseudonyms = Pseudonyms()

    def score(self, records: list[dict[str, Any]], request_id: str) -> ScoredBatch:
        """Score records of raw fields; the A/B split is by customer id (else row)."""
        p = self.champion.predict_proba(records)
        shadow_p = self.shadow.predict_proba(records) if self._shadow_runs(request_id) else None
        return self._route([r.get(self.id_column) for r in records], p, shadow_p, request_id)

    def score_columns(
        self, columns: dict[str, Any], ids: list[Any], request_id: str
    ) -> ScoredBatch:
        """:meth:`score` for a batch already in columns (NumPy arrays of raw fields, nulls
        as NaN / None: :meth:`CompiledScorer.score_columns`'s input), as ``/bulk/predict``
        has it: no record is built to be taken apart again."""
        p = self.champion.score_columns(columns)
        shadow_p = self.shadow.score_columns(columns) if self._shadow_runs(request_id) else None
        return self._route(ids, p, shadow_p, request_id)

    def _shadow_runs(self, request_id: str) -> bool:
        # An A/B split needs the challenger's score for its customers, whatever the shadow
        # share says.
        return self.shadow is not None and (
            self.ab_share > 0 or in_sample(request_id, self.shadow_share)
        )

    def _route(
        self, ids: list[Any], p: np.ndarray, shadow_p: np.ndarray | None, request_id: str
    ) -> ScoredBatch:
        """Which model answers each row (the A/B split), its label and tier, as columns."""
        champion, shadow = self.meta.champion, self.meta.shadow
        medium = self.meta.medium_threshold
        p = np.asarray(p, dtype=np.float64)
        if shadow_p is None:  # the champion answers every row: no split to decide
            codes = risk_tier_codes(p, champion.threshold, medium)
            return ScoredBatch(ids, p, p >= champion.threshold, TIERS[codes], champion, shadow)
        assert shadow is not None  # a shadow score needs the shadow slot (checked in __init__)
        shadow_p = np.asarray(shadow_p, dtype=np.float64)
        if self.ab_share > 0:
            share = self.ab_share
            by_shadow = np.fromiter(
                (in_sample(c or f"{request_id}-{i}", share) for i, c in enumerate(ids)),
                dtype=bool,
                count=len(ids),
            )
            prob = np.where(by_shadow, shadow_p, p)
            other = np.where(by_shadow, p, shadow_p)
            threshold = np.where(by_shadow, shadow.threshold, champion.threshold)
            other_threshold = np.where(by_shadow, champion.threshold, shadow.threshold)
        else:
            by_shadow, prob, other = None, p, shadow_p
            threshold, other_threshold = champion.threshold, shadow.threshold
        codes = risk_tier_codes(prob, threshold, medium)
        return ScoredBatch(
            ids,
            prob,
            prob >= threshold,
            TIERS[codes],
            champion,
            shadow,
            by_shadow=by_shadow,
            shadow_probability=other,
            shadow_label=other >= other_threshold,
        )

    def log_entries(
        self,
        records: list[dict[str, Any]],
        scored: Sequence[Scored],
        request_id: str,
    ) -> list[dict[str, Any]]:
        """Prediction-log lines (see
        :class:`~churn_assets.lib.serving.prediction_log.PredictionLog`): the request's
        fields after the contract's ``prediction_log`` privacy rule (identifiers hashed to
        the same pseudonyms as :func:`churn_assets.lib.privacy.pseudonym`, sensitive fields
        dropped, by default). ``records`` are left as they are: the edits go to copies
        (~0.3 ms per 1,000 rows; editing the service's request objects in place would save
        it, but they are pydantic models another reader may still hold)."""
        drops = [c for c, action in self._log_rules if action == "drop"]
        hashes = [c for c, action in self._log_rules if action == "hash"]
        if drops or hashes:
            records = [dict(record) for record in records]  # private copies, edited below
            # Column by column: a third of the cost of the same edits row by row.
            for column in drops:
                for record in records:
                    record.pop(column, None)
            hash_value = self._hasher()
            for column in hashes:
                for record in records:
                    value = record.get(column)
                    if value is not None:
                        record[column] = hash_value(value)
        return self._entries(records, scored, request_id)

    def log_entries_from_columns(
        self, columns: dict[str, list[Any]], scored: Sequence[Scored], request_id: str
    ) -> list[dict[str, Any]]:
        """:meth:`log_entries` of a batch in columns (field -> Python values or an Arrow
        array, in the contract's order): the privacy rule edits whole columns, then each
        row becomes one dict, with no copy to take. ``columns`` is not changed."""
        drops = {c for c, action in self._log_rules if action == "drop"}
        hashes = {c for c, action in self._log_rules if action == "hash"}
        hash_value = self._hasher()
        kept = {}
        for column, values in columns.items():
            if not isinstance(values, list):  # an Arrow column
                values = values.to_pylist()
            if column in hashes:
                values = [None if v is None else hash_value(v) for v in values]
            if column not in drops:
                kept[column] = values
        names = list(kept)
        rows = zip(*kept.values(), strict=True)
        records = [dict(zip(names, row, strict=True)) for row in rows]
        return self._entries(records, scored, request_id)

    def log_table_from_columns(
        self, columns: dict[str, Any], scored: Sequence[Scored], request_id: str
    ) -> Any:
        """:meth:`log_entries` of a batch of Arrow columns (field -> array, as sent) as one
        Arrow table for :meth:`PredictionLog.write_table`: a line's fields as columns, then
        the request's fields after the privacy rule (a hashed column's distinct values
        hashed once each). ``columns`` is not changed."""
        import pyarrow as pa

        if not isinstance(scored, ScoredBatch):
            raise TypeError("log_table_from_columns takes the ScoredBatch of score_columns")
        n = len(scored)
        out: dict[str, Any] = {
            "time": pa.repeat(pa.scalar(now_iso()), n),
            "request_id": pa.repeat(pa.scalar(request_id), n),
            "model_version": pa.array(scored.versions(), pa.string()),
            "score": pa.array(scored.probability, pa.float64()),
            "label": pa.array(scored.label, pa.bool_()),
            "risk_tier": pa.array(scored.tier, pa.string()),
        }
        other = scored.other_versions()
        if other is not None:
            out["shadow_version"] = pa.array(other, pa.string())
            out["shadow_score"] = pa.array(scored.shadow_probability, pa.float64())
        rules = dict(self._log_rules)
        hash_value = self._hasher()
        for column, values in columns.items():
            if column in out:
                raise ValueError(f"contract field {column!r} has a prediction-log field's name")
            action = rules.get(column, "keep")
            if action != "drop":
                out[column] = _hashed(values, hash_value) if action == "hash" else values
        return pa.table(out)

    def _other(self, slot: ModelSlot) -> ModelSlot:
        """The model that did not answer a row (its score is the row's shadow score)."""
        return self.meta.shadow if slot is self.meta.champion else self.meta.champion

    def _hasher(self) -> Any:
        """The pseudonym of a value; a customer seen before costs a dict lookup."""
        pseudonyms = self._pseudonyms
        if pseudonyms is None:
            return lambda value: value
        memo = pseudonyms.memo
        return lambda value: memo.get(value) or pseudonyms(value)

    def _entries(
        self, records: list[dict[str, Any]], scored: Sequence[Scored], request_id: str
    ) -> list[dict[str, Any]]:
        stamp = now_iso()
        entries = []
        for record, row in zip(records, scored, strict=True):
            entry = {
                "time": stamp,
                "request_id": request_id,
                "model_version": row.slot.version,
                "score": row.probability,
                "label": bool(row.label),
                "risk_tier": row.tier,
                "features": record,
            }
            if row.shadow_probability is not None:
                entry["shadow_version"] = self._other(row.slot).version
                entry["shadow_score"] = row.shadow_probability
            entries.append(entry)
        return entries


def _hashed(values: Any, hash_value: Any) -> Any:
    """An Arrow column's values as pseudonyms, nulls kept: each distinct value hashed once."""
    import pyarrow as pa

    whole = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = whole.dictionary_encode()
    words = [None if v is None else hash_value(v) for v in encoded.dictionary.to_pylist()]
    return pa.array(words, pa.string()).take(encoded.indices)


def load_predictor(
    folder: str | os.PathLike[str],
    shadow_share: float | None = None,
    ab_share: float | None = None,
    meta: ServingMeta | None = None,
    contract: DataContract | None = None,
) -> tuple[Predictor, DataContract]:
    """A :class:`Predictor` (and the contract) from a bundle folder; pass ``meta`` and
    ``contract`` when they are already loaded."""
    from churn_assets.lib.serving.scorer import CompiledScorer

    meta = meta or read_meta(folder)
    contract = contract or DataContract.load(Path(folder) / CONTRACT_FILE)
    champion = CompiledScorer.compile(
        load_model(folder, "champion"), contract, meta.champion.family
    )
    shadow = None
    if meta.shadow is not None:
        shadow = CompiledScorer.compile(load_model(folder, "shadow"), contract, meta.shadow.family)
    predictor = Predictor(
        meta,
        champion,
        shadow,
        contract.id_column,
        shadow_share=shadow_share,
        ab_share=ab_share,
        privacy=contract.privacy,
    )
    return predictor, contract
