"""CSV output that is safe to open in a spreadsheet (CSV/formula injection, OWASP)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """Text as a spreadsheet will show it, never run it: a leading = + - @ (or tab/CR) is quoted.

    Numbers stay numbers: only text cells are neutralised, so "-3.2" typed as a number is kept.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def csv_bytes(header: list[str], rows: Iterable[Iterable]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")  # BOM: Excel opens UTF-8 names correctly
