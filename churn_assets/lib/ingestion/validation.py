"""Split a raw table into contract-valid rows and quarantined rows with reasons.

Pandera does the checking (``DataFrameSchema.validate(lazy=True)``); this module turns its
failure cases into a per-row verdict. No row is ever dropped silently: each raw row ends up
either in ``valid`` (coerced to the contract's dtypes, null policies applied) or in
``quarantined`` (its values as received, its source file and line, and every reason found).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from churn_assets.lib.contract import DataContract
from churn_assets.lib.ingestion.readers import (
    FILE_LINE,
    LINE_COL,
    LINEAGE_COLUMNS,
    PARSE_ERROR_COL,
    SOURCE_COL,
)

REASONS_COL = "_reasons"
# Coercion failures hide the other checks of that column until the bad rows are gone, so a
# row can reveal a second problem only in a later pass; four passes cover coerce -> checks ->
# uniqueness with room to spare.
MAX_PASSES = 4
# Fewest rows of each target label for a model to be trainable (the blocking check's floor).
MIN_ROWS_PER_CLASS = 10


class ContractViolationError(ValueError):
    """The table as a whole breaks the contract (not a matter of single rows)."""


class MissingColumnsError(ContractViolationError):
    """Required columns are absent from the source."""

    def __init__(self, missing: list[str], contract: DataContract, source: str = "source"):
        self.missing = missing
        super().__init__(
            f"{source} is missing required column(s) {missing} declared by the contract "
            f"{contract.name!r} ({contract.path})"
        )


@dataclass
class ValidationResult:
    """The outcome of validating one raw table."""

    valid: pd.DataFrame
    quarantined: pd.DataFrame
    ignored_columns: list[str]
    files_received: int = 1
    # Files of a folder source that could not be read at all -> reason (each is also one
    # quarantined row, at line 0).
    rejected_files: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Rows received."""
        return len(self.valid) + len(self.quarantined)

    @property
    def rejected_share(self) -> float:
        """Share of received rows that were quarantined."""
        return len(self.quarantined) / self.n_rows if self.n_rows else 0.0

    @property
    def rejected_file_share(self) -> float:
        """Share of received files rejected whole (their rows are unknown, so they are
        judged as files: one bad month of twelve is 8 %, whatever its size)."""
        return len(self.rejected_files) / self.files_received if self.files_received else 0.0

    def within_limit(self, limit: float) -> bool:
        """Whether both the row share and the whole-file share are at most ``limit``."""
        return self.rejected_share <= limit and self.rejected_file_share <= limit

    def counts(self) -> dict[str, int | float]:
        """Rows received, valid and quarantined, files rejected whole, and the shares."""
        return {
            "rows_received": self.n_rows,
            "rows_valid": len(self.valid),
            "rows_quarantined": len(self.quarantined),
            "rejected_share": float(self.rejected_share),
            "files_received": self.files_received,
            "files_rejected": len(self.rejected_files),
            "rejected_file_share": float(self.rejected_file_share),
        }

    def reason_counts(self) -> pd.DataFrame:
        """How many quarantined rows each kind of problem affected (most frequent first)."""
        if self.quarantined.empty:
            return pd.DataFrame({"problem": pd.Series(dtype=str), "rows": pd.Series(dtype=int)})
        kinds = reason_kinds(self.quarantined[REASONS_COL].str.split("; ").explode())
        counts = kinds.value_counts().rename_axis("problem").reset_index(name="rows")
        return counts


def reason_kinds(reasons: pd.Series) -> pd.Series:
    """The kind of each problem without the offending value or line text (what alerts and
    previews may show: a reason such as ``tenure: in_range (got '-1')`` or a malformed line's
    text can carry a customer's data)."""
    return reasons.str.replace(r"( \(got .*\)|: '.*')$", "", regex=True)


def without_quoted_values(frame: pd.DataFrame) -> pd.DataFrame:
    """A raw or quarantined table for a preview: reasons and parse errors without the values
    and line text they quote (the values themselves are in the columns, where the privacy
    rule of previews applies)."""
    out = frame
    for column in (REASONS_COL, PARSE_ERROR_COL):
        if column in out:
            kinds = out[column].map(
                lambda text: (
                    text
                    if not isinstance(text, str)
                    else "; ".join(reason_kinds(pd.Series(text.split("; "), dtype=object)))
                )
            )
            out = out.assign(**{column: kinds})
    return out


def contract_failures(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """Pandera's failure cases of a table against the contract (empty when it conforms).

    Unlike :func:`validate_frame` nothing is coerced or split off: this is the plain verdict
    on a table that should already conform, such as the stored validated table.
    """
    try:
        contract.schema_for(frame.columns).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases[["column", "check", "failure_case", "index"]]
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def class_counts(frame: pd.DataFrame, contract: DataContract) -> tuple[int, int]:
    """Rows with the target's positive label and with its negative label."""
    target = contract.target
    counts = frame[target.column].value_counts()
    return int(counts.get(target.positive, 0)), int(counts.get(target.negative, 0))


def missing_columns(frame: pd.DataFrame | pd.Index, contract: DataContract) -> list[str]:
    """Required contract columns that a frame (or a list of column names) lacks."""
    present = set(frame.columns if isinstance(frame, pd.DataFrame) else frame)
    return [c for c in contract.required_columns if c not in present]


def _normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text and turn blank strings into nulls (CSV blanks are nulls, not categories)."""
    import pyarrow as pa_
    import pyarrow.compute as pc

    out = frame.copy()
    for col in out.columns:
        if not (out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype)):
            continue
        try:
            text = pa_.array(out[col], from_pandas=True, type=pa_.string())
        except (pa_.ArrowInvalid, pa_.ArrowTypeError):
            continue  # mixed Python objects: leave them for the schema to judge
        # Arrow's kernels are ~10x faster than pandas' per-element .str methods here.
        text = pc.utf8_trim_whitespace(text)
        text = pc.if_else(pc.equal(text, ""), pa_.scalar(None, pa_.string()), text)
        out[col] = text.to_pandas()
    return out


def _describe(failures: pd.DataFrame) -> pd.Series:
    """One human-readable reason per failure case."""
    check = failures["check"].astype(str)
    column = failures["column"].astype(str)
    value = failures["failure_case"].map(lambda v: "null" if v is None or v != v else repr(v))
    reason = column + ": " + check + " (got " + value + ")"
    unique_row = check.eq("multiple_fields_uniqueness")
    reason = reason.mask(unique_row, "duplicate of an earlier row on the uniqueness key")
    reason = reason.mask(check.eq("field_uniqueness"), "duplicate " + column)
    reason = reason.mask(check.eq("not_nullable"), column + ": null in a non-nullable column")
    return reason


def validate_frame(
    raw: pd.DataFrame, contract: DataContract, source: str = "source"
) -> ValidationResult:
    """Validate a raw table against the contract.

    Args:
        raw: the table as read (text or typed columns, lineage columns optional).
        contract: the dataset's contract.
        source: how to name the data in error messages.

    Returns:
        Valid rows coerced to the contract (contract columns only, in contract order, null
        policies applied) and quarantined rows with a ``_reasons`` column.

    Raises:
        MissingColumnsError: a required column is absent.
        ContractViolationError: a table-level failure no row-level quarantine can fix.
    """
    missing = missing_columns(raw, contract)
    if missing:
        raise MissingColumnsError(missing, contract, source)
    known = [c for c in contract.columns if c in raw.columns]
    ignored = [c for c in raw.columns if c not in known and c not in LINEAGE_COLUMNS]

    frame = _normalize(raw[known]).set_axis(pd.RangeIndex(len(raw)))
    reasons: dict[int, list[str]] = {}
    if PARSE_ERROR_COL in raw:
        parse_errors = raw[PARSE_ERROR_COL].set_axis(frame.index)
        parse_errors = parse_errors[parse_errors.notna()]
        for idx, message in parse_errors.items():
            reasons[int(idx)] = [str(message)]
    remaining = _whole_numbers(frame.drop(index=list(reasons)), contract, reasons)

    schema = contract.schema_for(known)
    coerced = None
    for _ in range(MAX_PASSES):
        try:
            coerced = schema.validate(remaining, lazy=True)
            break
        except pa.errors.SchemaErrors as exc:
            failures = exc.failure_cases
            row_level = failures[failures["index"].notna()].copy()
            if row_level.empty:
                summary = failures[["column", "check", "failure_case"]].head(10).to_string()
                raise ContractViolationError(
                    f"{source} breaks contract {contract.name!r} as a whole:\n{summary}"
                ) from exc
            row_level["index"] = row_level["index"].astype(np.int64)
            # A failed coercion also fails that column's dtype check; one reason is enough.
            checks = row_level["check"].astype(str)
            pairs = pd.MultiIndex.from_frame(row_level[["index", "column"]])
            coerced = pairs[checks.str.startswith("coerce_dtype").to_numpy()]
            redundant = checks.str.startswith("dtype(").to_numpy() & pairs.isin(coerced)
            row_level = row_level[~redundant]
            row_level["reason"] = _describe(row_level)
            for idx, group in row_level.groupby("index")["reason"]:
                reasons.setdefault(int(idx), []).extend(dict.fromkeys(group))
            remaining = remaining.drop(index=row_level["index"].unique())
    if coerced is None:
        raise ContractViolationError(
            f"{source}: rows still fail contract {contract.name!r} after {MAX_PASSES} passes"
        )

    valid = _apply_null_policies(coerced, contract)
    quarantined = _quarantine_frame(raw, frame, reasons)
    files, rejected_files = _files(raw)
    return ValidationResult(
        valid=valid.reset_index(drop=True),
        quarantined=quarantined,
        ignored_columns=ignored,
        files_received=files,
        rejected_files=rejected_files,
    )


def _files(raw: pd.DataFrame) -> tuple[int, dict[str, str]]:
    """Files received, and those rejected whole (their one row at line 0) with the reason."""
    if SOURCE_COL not in raw or LINE_COL not in raw or PARSE_ERROR_COL not in raw:
        return 1, {}
    whole = raw[raw[LINE_COL].eq(FILE_LINE) & raw[PARSE_ERROR_COL].notna()]
    sources, errors = whole[SOURCE_COL].astype(str), whole[PARSE_ERROR_COL].astype(str)
    rejected = dict(zip(sources, errors, strict=True))
    return max(int(raw[SOURCE_COL].nunique()), 1), rejected


# Text that writes a whole number as a float: "3.0", "-12.", "7.000".
_WHOLE_FLOAT_TEXT = r"^[+-]?\d+\.0*$"


def _whole_numbers(
    frame: pd.DataFrame, contract: DataContract, reasons: dict[int, list[str]]
) -> pd.DataFrame:
    """Integer columns take whole numbers only: a cast would truncate 2.5 to 2 silently.

    A value with a fractional part (2.5 as a float, or ``"2.5"`` as text) is quarantined
    with a reason; a whole number written as a float (3.0, or ``"3.0"``: Parquet writers
    store an integer column with nulls as floats, spreadsheets export ``3.0``) passes as 3.
    """
    out = frame
    for column in out.columns:
        dtype = str(contract.schema.columns[column].dtype)
        if not dtype.lower().startswith(("int", "uint")) or out[column].dtype.kind in "iub":
            continue
        values = out[column]
        numbers = pd.to_numeric(values, errors="coerce")  # other text is the schema's to judge
        finite = numbers.notna() & np.isfinite(numbers.astype(float))
        fractional = finite & numbers.ne(np.floor(numbers.astype(float)))
        for idx, value in values[fractional].items():
            reasons.setdefault(int(idx), []).append(
                f"{column}: not a whole number (got {value!r}, which a cast to the contract's "
                f"{dtype} would truncate)"
            )
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            text = values.astype("string")
            whole_text = text.str.fullmatch(_WHOLE_FLOAT_TEXT).fillna(False).astype(bool)
            if whole_text.any():
                out = out.copy() if out is frame else out
                out.loc[whole_text, column] = text[whole_text].str.split(".").str[0]
        out = out.drop(index=values.index[fractional.to_numpy()])
    return out


def _apply_null_policies(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    for column, policy in contract.nulls.items():
        if policy.policy == "fill" and column in frame:
            frame[column] = frame[column].fillna(policy.value)
    return frame


def _quarantine_frame(
    raw: pd.DataFrame, normalized: pd.DataFrame, reasons: dict[int, list[str]]
) -> pd.DataFrame:
    """Rejected rows as received (as text), with source, line and reasons."""
    columns = list(normalized.columns)
    if not reasons:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        empty[SOURCE_COL] = pd.Series(dtype=object)
        empty[LINE_COL] = pd.Series(dtype="int64")
        empty[REASONS_COL] = pd.Series(dtype=object)
        return empty
    index = np.array(sorted(reasons), dtype=np.int64)
    rows = raw.iloc[index]
    out = pd.DataFrame(index=pd.RangeIndex(len(index)))
    for col in columns:
        values = rows[col].to_numpy(dtype=object)
        out[col] = [None if v is None or v != v else str(v) for v in values]
    out[SOURCE_COL] = rows[SOURCE_COL].to_numpy() if SOURCE_COL in rows else None
    out[LINE_COL] = rows[LINE_COL].to_numpy() if LINE_COL in rows else index + 1
    out[REASONS_COL] = ["; ".join(reasons[i]) for i in index]
    return out.sort_values([SOURCE_COL, LINE_COL], kind="stable").reset_index(drop=True)
