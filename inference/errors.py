"""One error family for everything cropwatch refuses, with no HTTP knowledge.

Every message says what was wrong and how to fix it. The web layer maps each class to a status code in one handler
(`api/errors.py`); the CLI prints the message. `code` is a stable, machine-readable name that API clients can test;
`reason`, where given, a finer one (`photo_too_small` under `bad_input`) that a page can show in its own language.
"""

from __future__ import annotations

import re
from typing import Any


class CropwatchError(Exception):
    """Base of every error cropwatch raises on purpose."""

    code = "error"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str | None], dict]:
        """Pickled with its reason (a photo refused in a scoring process reaches the server whole: api/scoring.py);
        Exception's own pickling keeps only the message."""
        return type(self), (self.message, self.reason), dict(self.__dict__)


class BadInput(CropwatchError, ValueError):
    """The input (a file, a geometry, a parameter) is wrong; the message says how to fix it."""

    code = "bad_input"


class EmptyInput(BadInput):
    """An upload or a required value is empty."""

    code = "empty_input"


class TooLarge(BadInput):
    """The input is over a limit (bytes, pixels, vertices, cells)."""

    code = "too_large"


class Unsupported(BadInput):
    """The input's type or format is not one cropwatch reads."""

    code = "unsupported"


class NotFound(CropwatchError):
    """What was asked for does not exist, or the caller may not see it (the two are not told apart)."""

    code = "not_found"


class Conflict(CropwatchError):
    """The request clashes with the current state (a taken code, a job that has not finished)."""

    code = "conflict"


class Forbidden(CropwatchError):
    """The caller is known but their role may not do this."""

    code = "forbidden"


class Unavailable(CropwatchError):
    """A needed resource (a model, a service) is not available now."""

    code = "unavailable"


class StorageFull(CropwatchError):
    """The disk is full: nothing was written; try again later (the operators are told by the logs)."""

    code = "storage_full"



_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s/'\"():,]+)+/([^\s/'\"():,]+)")
_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>")


def reason(exc: BaseException) -> str:
    """A library error's message for a user: no server paths (a path becomes its file name), no Python reprs, at
    most 200 characters."""
    text = _REPR.sub("an object", _PATH.sub(r"\1", str(exc))).replace("\n", " ").strip()
    return (text[:197] + "...") if len(text) > 200 else text or type(exc).__name__


# Pydantic's words ("Input should be a valid date or datetime, invalid character in year", "String should match
# pattern '^\d{4}-W\d{2}$'") said as what to write; by its error type, with the field's own example where it has one
_PLAIN = {
    "date_from_datetime_parsing": "write a date as YYYY-MM-DD, e.g. 2026-12-31",
    "date_parsing": "write a date as YYYY-MM-DD, e.g. 2026-12-31",
    "date_type": "write a date as YYYY-MM-DD, e.g. 2026-12-31",
    "datetime_from_date_parsing": "write a time as YYYY-MM-DDTHH:MM, e.g. 2026-11-27T06:30",
    "datetime_parsing": "write a time as YYYY-MM-DDTHH:MM, e.g. 2026-11-27T06:30",
    "datetime_type": "write a time as YYYY-MM-DDTHH:MM, e.g. 2026-11-27T06:30",
    "float_parsing": "write a number, e.g. 0.3", "float_type": "write a number, e.g. 0.3",
    "int_parsing": "write a whole number, e.g. 20", "int_type": "write a whole number, e.g. 20",
    "bool_parsing": "write true or false", "missing": "is required",
    "extra_forbidden": "is not a field of this request: check its spelling against the API docs (/docs)",
}
_PATTERN_EXAMPLES = {"week": "write the ISO week as YYYY-Www, e.g. 2026-W49"}


def plain_problem(e: Any) -> str:
    """'where: what is wrong, and what to write' for one pydantic error (a request's or an imported feature's)."""
    where = ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")) or "body"
    kind = e.get("type", "")
    if kind == "string_pattern_mismatch":
        said = _PATTERN_EXAMPLES.get(str(e["loc"][-1]), f"does not have the expected form ({e['msg']})")
    elif kind == "too_short" and isinstance(e.get("input"), list | tuple):
        said = "give at least one"
    else:
        said = _PLAIN.get(kind, e["msg"])
    given = e.get("input")
    # what was typed is said back only for a date, a number or a form (never a password: error texts reach screens
    # and logs), and only when short
    secret = any(w in str(p).lower() for p in e["loc"] for w in ("password", "token", "secret"))
    echo = (kind in _PLAIN or kind == "string_pattern_mismatch") and kind != "missing" and not secret
    shown = f" (given: {given!r})" if echo and isinstance(given, str | int | float) and len(repr(given)) <= 60 else ""
    return f"{where}: {said}{shown}"
