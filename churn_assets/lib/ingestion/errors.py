"""The errors a data source raises; the message always names the file, bucket or URI."""

from __future__ import annotations


class SourceError(Exception):
    """Base class of source problems; the message always names the file, bucket or URI."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The file, folder, bucket or prefix does not exist or holds no data files."""


class SourceFormatError(SourceError, ValueError):
    """A file exists but cannot be read as a table at all (empty, unknown type, corrupt)."""
