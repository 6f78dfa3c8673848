"""Errors the domain raises, each one line a person can act on."""

from __future__ import annotations

from pydantic import ValidationError


class DataError(Exception):
    """A file (case or procedure) that does not say what the engine needs: names the file and the field."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = source, field, message
        super().__init__(f"{source}: {field}: {message}")


class Rejected(Exception):
    """A command the investigation's current state, the actor or the payload does not allow."""


class Malformed(Rejected):
    """A command that is no action of the vocabulary, or whose fields do not fit it: bad input, refused before
    any record is asked."""


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def describe_validation_error(source: str, exc: Exception) -> DataError:
    """The first problem pydantic found, as one line naming the field."""
    if isinstance(exc, ValidationError):
        err = exc.errors(include_url=False)[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "missing"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
            # A model validator that names its own field says "field: message".
            if ": " in msg and not loc:
                field, _, rest = msg.partition(": ")
                return DataError(source, field, rest)
        return DataError(source, _loc(loc), msg)
    return DataError(source, "(file)", str(exc))
