"""How two spellings of one name compare: class folders ("Brown spot/" is brown_spot), trade names ("Chess 50 WG"
is "chess 50wg")."""

from __future__ import annotations

import unicodedata


def spelling_key(text: str) -> str:
    """The name without case, spaces or punctuation (NFC, casefolded, letters and digits only)."""
    return "".join(ch for ch in unicodedata.normalize("NFC", text).casefold() if ch.isalnum())
