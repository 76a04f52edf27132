"""One error family for everything cropwatch refuses, with no HTTP knowledge.

Every message says what was wrong and how to fix it. The web layer maps each class to a status code in one handler
(`api/errors.py`); the CLI prints the message. `code` is a stable, machine-readable name that API clients can test;
`reason`, where given, a finer one (`photo_too_small` under `bad_input`) that a page can show in its own language.
"""

from __future__ import annotations

import re


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
