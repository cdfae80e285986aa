"""The errors a data source raises; the message always names the file, bucket or URI."""

from __future__ import annotations

from collections import Counter


class SourceError(Exception):
    """Base class of source problems; the message always names the file, bucket or URI."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The file, folder, bucket or prefix does not exist or holds no data files."""


class SourceFormatError(SourceError, ValueError):
    """A file exists but cannot be read as a table at all (empty, unknown type, corrupt)."""


def duplicated_columns(names: list[str]) -> list[str]:
    """Column names that occur more than once (a table with them cannot be concatenated)."""
    return sorted(name for name, count in Counter(names).items() if count > 1)


def duplicated_columns_error(name: str, duplicated: list[str]) -> str:
    """The message of a file whose header repeats a column."""
    return (
        f"{name}: duplicated header column(s) {duplicated}: each column may appear once "
        "(rename or remove the copy and upload the file again)"
    )
