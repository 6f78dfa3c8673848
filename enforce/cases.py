"""Reading case files from disk into validated domain models."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from activities.render import template_problems
from domain.case import CaseFile, parse_case
from domain.errors import DataError
from domain.limits import CASE_FILE_BYTES_MAX, check_file
from domain.procedure import Procedure, load_procedure


def load_case(path: Path, today: date | None = None, forecast: bool = False) -> tuple[CaseFile, Procedure]:
    """The case file and its procedure, or a DataError naming the file and the field. `today` (default: the
    real date) is the case clock's source: a case cannot open after it. A `forecast` (a simulation) may open on
    a later date, as a regulator planning next year's work writes it."""
    source = str(path)
    try:
        with path.open("rb") as f:
            raw = f.read(CASE_FILE_BYTES_MAX + 1)
    except FileNotFoundError:
        raise DataError(source, "(file)", "no such file") from None
    except OSError as e:
        raise DataError(source, "(file)", f"cannot be read: {e.strerror or e}") from None
    text = check_file(raw, source, CASE_FILE_BYTES_MAX)
    # Procedures next to the case files (a `procedures/` folder beside them) win over the shipped ones.
    search = [path.parent / "procedures", path.parent.parent / "procedures"]
    procedures: dict[str, Procedure] = {}

    def lookup(pid: str, opened: date | None) -> Procedure:
        # The version of the procedure in force on the day the case opens.
        procedures[pid] = load_procedure(pid, search, on=opened)
        return procedures[pid]

    case = parse_case(text, source, lookup, None if forecast else today or date.today())
    procedure = procedures[case.procedure]
    kinds = {f"notices.{event}.kind": spec.kind for event, spec in procedure.notices.items()}
    for field, problem in template_problems(procedure.id, {**kinds, "reminders": "reminder"}):
        raise DataError(f"procedure {procedure.id}", field, problem)
    return case, procedure
