"""Errors the domain raises, each one line a person can act on."""

from __future__ import annotations

import re

from pydantic import ValidationError

from domain.limits import limit_message


class DataError(Exception):
    """A file (case or procedure) that does not say what the engine needs: names the file and the field."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = source, field, message
        super().__init__(f"{source}: {field}: {message}")


class Rejected(Exception):
    """A command the investigation's current state, the actor or the payload does not allow."""


class BadInput(Rejected):
    """A payload that is not an action's fields at all (unknown action, wrong type, over a limit, missing)."""


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
        msg = limit_message(err) or err["msg"]
        if err["type"] == "missing":
            msg = "missing"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
            # A model validator that names its own field says "field: message", below the model's place.
            m = re.match(r"^([A-Za-z_][\w.\[\]-]*): (.*)$", msg, re.S)
            if m:
                field = m.group(1) if not loc else f"{_loc(loc)}.{m.group(1)}"
                return DataError(source, field, m.group(2))
        return DataError(source, _loc(loc), msg)
    return DataError(source, "(file)", str(exc))
