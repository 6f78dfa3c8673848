"""A case file: what a case officer writes to open an investigation (documented in docs/case-file.md)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from domain.errors import DataError, describe_validation_error
from domain.limits import LIST_MAX, PARAGRAPH_MAX, SLUG_MAX, TEXT_MAX, Day, Id, Short, check_depth
from domain.procedure import Procedure

SLUG = rf"^[a-z0-9][a-z0-9-]{{0,{SLUG_MAX - 1}}}$"
RESPONDENT = "respondent"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=TEXT_MAX)


class Party(Strict):
    name: Short = Field(min_length=1)
    # Only organisations are named in search attributes; a person's name stays in the encrypted-able payloads.
    kind: Literal["organisation", "person"] = "organisation"


Channel = Literal["outbox", "smtp"]
EMAIL = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+$")


def _check_email(email: str, channel: str) -> str:
    """The address a channel needs: `smtp` cannot serve a notice without one. Checked on the `email` field
    (not the model), so a refusal names `respondent.email` or `contacts.<id>.email`."""
    email = email.strip()
    if channel == "smtp" and not email:
        raise ValueError("required when channel is smtp (the address notices are sent to)")
    if email and not EMAIL.match(email):
        raise ValueError(f"{email!r} is not an email address")
    return email


class Delivery(Strict):
    """How notices reach a party: `outbox` (a folder per recipient) or `smtp` (email to `email`)."""

    channel: Channel = "outbox"
    email: Short = Field(default="", validate_default=True)

    @field_validator("email")
    @classmethod
    def _address(cls, v: str, info: ValidationInfo) -> str:
        return _check_email(v, info.data.get("channel", "outbox"))


class Recipient(Delivery):
    id: Id
    name: Short


class RespondentSpec(Delivery, Party):
    def party(self) -> Party:
        return Party(name=self.name, kind=self.kind)

    def recipient(self) -> Recipient:
        return Recipient(id=RESPONDENT, name=self.name, channel=self.channel, email=self.email)


class Issue(Strict):
    id: Id = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: Short = Field(min_length=1)


class Recommendation(Strict):
    id: Id = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")
    text: str = Field(min_length=1, max_length=PARAGRAPH_MAX)


class Step(BaseModel):
    """A scripted step for simulation: when, who, which action; the action's own fields ride along."""

    model_config = ConfigDict(extra="allow", frozen=True)

    on: Day
    by: Id
    action: Id = Field(min_length=1)

    def fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class CaseFile(Strict):
    slug: str = Field(pattern=SLUG)
    title: Short = Field(min_length=1)
    procedure: Id
    opened: Day
    lead: Id
    authorities: list[Id] = Field(min_length=1, max_length=LIST_MAX)
    respondent: RespondentSpec
    issues: list[Issue] = Field(min_length=1, max_length=LIST_MAX)
    files: dict[Id, Short] = Field(default_factory=dict, max_length=LIST_MAX, description="File number per authority")
    linked: list[Annotated[str, Field(pattern=SLUG)]] = Field(
        default_factory=list, max_length=LIST_MAX, description="Slugs of linked cases"
    )
    contacts: dict[Id, Recipient] = Field(
        default_factory=dict, max_length=LIST_MAX, description="Where an authority's notices go"
    )
    steps: list[Step] = Field(default_factory=list, max_length=LIST_MAX)

    @field_validator("contacts", mode="before")
    @classmethod
    def _contact_ids(cls, v: object) -> object:
        # `[contacts.cai-qc]` names its recipient by the table's key.
        if isinstance(v, dict):
            return {k: {"id": k, **c} if isinstance(c, dict) else c for k, c in v.items()}
        return v

    @field_validator("authorities")
    @classmethod
    def _no_repeats(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("an authority is listed twice")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CaseFile:
        if self.lead not in self.authorities:
            raise ValueError(f"lead: {self.lead!r} is not among the authorities {self.authorities}")
        ids: set[str] = set()
        for i, issue in enumerate(self.issues):
            if issue.id in ids:
                raise ValueError(f"issues[{i}].id: {issue.id!r} is listed twice")
            ids.add(issue.id)
        for aid in self.files:
            if aid not in self.authorities:
                raise ValueError(f"files.{aid}: not among the authorities {self.authorities}")
        for aid in self.contacts:
            if aid not in self.authorities:
                raise ValueError(f"contacts.{aid}: not among the authorities {self.authorities}")
        seen: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.on < self.opened:
                raise ValueError(f"steps[{i}].on: {step.on} is before the case opened ({self.opened})")
            if i and step.on < self.steps[i - 1].on:
                raise ValueError(f"steps[{i}].on: steps must be in date order")
            first = seen.setdefault(step.model_dump_json(), i)
            if first != i:
                raise ValueError(f"steps[{i}]: the same step as steps[{first}], twice")
            if step.by not in self.authorities and step.by != RESPONDENT:
                raise ValueError(
                    f"steps[{i}].by: {step.by!r} is neither an authority of the case nor 'respondent' "
                    "(a party that acts, the EDPB too, is listed in `authorities`)"
                )
        return self


def _field_at(text: str, line_no: int) -> str:
    """The key on a TOML line, to name the field when the TOML parser rejects a value."""
    lines = text.splitlines()
    if 0 < line_no <= len(lines):
        m = re.match(r"\s*([A-Za-z0-9_.\"-]+)\s*=", lines[line_no - 1])
        if m:
            return m.group(1).strip('"')
    return f"line {line_no}"


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        field = _field_at(text, int(m.group(1))) if m else "(file)"
        raise DataError(source, field, f"not valid TOML: {str(e).split(' (at')[0]}") from None


def parse_case(
    text: str, source: str, lookup: Callable[[str, date | None], Procedure] | None = None, today: date | None = None
) -> CaseFile:
    """Validate a case file's text; `lookup(pid, opened)` finds its procedure, the version in force on the
    opening date (KeyError when unknown). `today` is the case clock's source: a case cannot open after it."""
    data = parse_toml(text, source)
    check_depth(data, source)
    procedure = None
    opened = data.get("opened")
    on = opened if isinstance(opened, date) and not isinstance(opened, datetime) else None
    # The procedure decides which authorities exist, so it is checked before the fields that name them.
    if lookup is not None and isinstance(data.get("procedure"), str):
        try:
            procedure = lookup(data["procedure"], on)
        except KeyError:
            raise DataError(source, "procedure", f"unknown procedure {data['procedure']!r}") from None
        if isinstance(data.get("authorities"), list):
            check_authorities(data["authorities"], procedure, source)
    # Before the model: a future opening would otherwise be reported as steps dated before it.
    if today is not None and isinstance(opened, date) and not isinstance(opened, datetime) and opened > today:
        raise DataError(source, "opened", f"{opened} is in the future (today is {today})")
    try:
        case = CaseFile.model_validate(data)
    except Exception as e:
        raise _name_step(describe_validation_error(source, e), data) from None
    check_steps(case, source, procedure)
    return case


def step_label(i: int, step: object) -> str:
    """`steps[3] (2021-02-02 draft-findings)`: a step named so that a person finds it in the file."""
    if isinstance(step, Step):
        return f"steps[{i}] ({step.on} {step.action})"
    if isinstance(step, dict):
        what = " ".join(str(step[k])[:40] for k in ("on", "action") if k in step)
        if what:
            return f"steps[{i}] ({what})"
    return f"steps[{i}]"


def _name_step(e: DataError, data: dict[str, Any]) -> DataError:
    m = re.match(r"^steps\[(\d+)\]", e.field)
    steps = data.get("steps")
    if not m or not isinstance(steps, list) or int(m.group(1)) >= len(steps):
        return e
    i = int(m.group(1))
    return DataError(e.source, step_label(i, steps[i]) + e.field[m.end() :], e.message)


def check_steps(case: CaseFile, source: str, procedure: Procedure | None = None) -> None:
    """Each scripted step must be an action of the vocabulary with the fields that action takes (a step of
    the case's procedure counts as one)."""
    from domain.actions import parse_action  # the actions know the case's types, not the reverse
    from domain.errors import Rejected

    for i, step in enumerate(case.steps):
        try:
            action = parse_action(step.action, {"by": step.by, **step.fields()}, procedure)
            if procedure is not None and action.name == "extend-deadline":
                _check_clock_name(action.deadline, procedure, source, step_label(i, step))
        except Rejected as e:
            field, _, msg = str(e).partition(": ")
            if field == step.action and ": " in msg:
                field, _, msg = msg.partition(": ")
                raise DataError(source, f"{step_label(i, step)}.{field}", msg) from None
            raise DataError(source, f"{step_label(i, step)}.action", str(e)) from None


def _check_clock_name(ref: str, procedure: Procedure, source: str, where: str) -> None:
    """An extension names a clock of the procedure (`edpb:binding-decision`, `inquiry`), or a clock's id, which
    only the running case knows."""
    parts = ref.split(":")
    if len(parts) == 3 and parts[2].isdigit():
        return
    who, rule = parts if len(parts) == 2 else ("", ref)
    rules = set(procedure.deadlines).union(*(a.deadlines for a in procedure.authorities.values()))
    if who and who not in procedure.authorities:
        raise DataError(source, f"{where}.deadline", f"{who!r} in {ref!r} is no authority of procedure {procedure.id}")
    if rule not in rules:
        raise DataError(
            source,
            f"{where}.deadline",
            f"{rule!r} is no clock of procedure {procedure.id} (its clocks: {', '.join(sorted(rules))})",
        )


def check_authorities(authorities: list, procedure: Procedure, source: str) -> None:
    known = ", ".join(procedure.authorities)
    for i, aid in enumerate(authorities):
        if aid not in procedure.authorities:
            raise DataError(
                source, f"authorities[{i}]", f"unknown authority {aid!r} (procedure {procedure.id} knows {known})"
            )
