"""The one rule for the month a file name carries (``customers_2026-04.csv`` -> ``2026-04``).

Monthly drops are named for their month. Both the landing sensor (which month a new file is)
and the readers (the snapshot date of rows whose file has no snapshot column) use this rule,
so a name is never a month to one and not to the other.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# A 4-digit year and a 2-digit month not glued to other digits, so that ``20260401`` or
# ``12026-04`` do not count as months.
_MONTH = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?!\d)")


def _base(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).name


def months_in_name(name: str) -> list[str]:
    """Every distinct ``YYYY-MM`` (month 01-12) in the last path component, sorted."""
    return sorted({f"{y}-{m}" for y, m in _MONTH.findall(_base(name)) if 1 <= int(m) <= 12})


def month_of(name: str) -> str | None:
    """The ``YYYY-MM`` month a file name carries, or None.

    Only the last path component counts (folders such as ``2026-04/`` are not the file's
    month). A name with two different months is ambiguous and gives None.

    Examples:
        >>> month_of("landing/customers_2026-04.csv")
        '2026-04'
        >>> month_of("customers.csv") is None
        True
        >>> month_of("12026-04.csv") is None
        True
    """
    months = months_in_name(name)
    return months[0] if len(months) == 1 else None
