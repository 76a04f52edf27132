"""Text that users typed (names, communes, operators, notes) goes into the CSV and Excel files the office opens:
a cell that begins like a formula must stay text (CSV/formula injection, OWASP). Excel workbooks keep such text as a
string cell, as typed; CSV files, which carry no types, get the usual leading apostrophe, which Excel and LibreOffice
show as text and do not display."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# what Excel, LibreOffice and Google Sheets read as the start of a formula in a CSV field
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> Any:
    """A CSV field that no spreadsheet runs: text beginning like a formula gets a leading apostrophe; numbers,
    None and other text stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: csv_text(v) for k, v in row.items()}


def text_stays_text(rows: Iterable[Any]) -> None:
    """openpyxl makes every string beginning with "=" a formula: the cells of these worksheet rows that were given
    such text become string cells again, so the workbook shows what was typed and computes nothing."""
    for row in rows:
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
