"""Numbers as Vietnamese writes them, for documents read in Vietnamese (the record book PDF, the public trace page):
a decimal comma and a dot between thousands, 1.234,5 ha, as the farmer's and operator's pages write them (vi-VN)."""

from __future__ import annotations


def vi_number(x: float | int, digits: int = 1, keep_zeros: bool = True) -> str:
    """`x` with `digits` decimals in Vietnamese: vi_number(1.21, 2) == "1,21", vi_number(12345.6) == "12.345,6";
    with keep_zeros False, trailing zeros (and a bare comma) are dropped: vi_number(40.0, 2, False) == "40"."""
    text = f"{x:,.{digits}f}"
    if not keep_zeros and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.translate(str.maketrans(",.", ".,"))
