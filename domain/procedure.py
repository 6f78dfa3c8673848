"""Procedures as data: which authorities a procedure knows, their powers, calendars and clocks.

A procedure file is TOML validated by these models. Adding a procedure (the EU one-stop-shop, say) is a
new file, not new workflow code.
"""

from __future__ import annotations

import tomllib
from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import DataError, describe_validation_error
from domain.limits import LIST_MAX, PROCEDURE_FILE_BYTES_MAX, TEXT_MAX, Id, Short, check_depth, check_file


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=TEXT_MAX)

    @model_validator(mode="before")
    @classmethod
    def _lists_bounded(cls, data: object) -> object:
        # Every list and table of a procedure file holds at most LIST_MAX entries.
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, list | dict) and len(value) > LIST_MAX:
                    raise ValueError(f"{key}: at most {LIST_MAX} items")
        return data


class Power(StrEnum):
    RECOMMEND = "recommend"
    ORDER_AFTER_INVESTIGATION = "order-after-investigation"
    ORDER_AFTER_INQUIRY = "order-after-inquiry"
    COURT_APPLICATION = "court-application"
    COMPLIANCE_AGREEMENT = "compliance-agreement"
    MONETARY_PENALTY = "monetary-penalty"


class DeadlineKind(StrEnum):
    REPORT = "report"
    RESPONSE = "response"
    REPRESENTATIONS = "representations"
    INFORMATION = "information"
    INQUIRY = "inquiry"
    COMPLIANCE = "compliance"
    COURT_APPLICATION = "court-application"
    OBJECTION = "objection"
    COMMENTS = "comments"


class DeadlineUnit(StrEnum):
    DAYS = "days"
    MONTHS = "months"
    YEARS = "years"


class SkipDay(StrEnum):
    """Days a statute-defined 'day' does not count (BC PIPA: Saturdays and holidays)."""

    SATURDAY = "saturday"
    SUNDAY = "sunday"
    HOLIDAYS = "holidays"


class Rollover(StrEnum):
    NONE = "none"
    # Interpretation Acts: a last day on a holiday moves to the next day that is not one.
    NEXT_DAY = "next-day"


class CalendarDay(Strict):
    date: date
    name: str
    cite: str = Field(description="The statute that adds or removes this day")


class CalendarSpec(Strict):
    """A jurisdiction's holidays: the `holidays` package's list, corrected to what the statute says."""

    country: Id = "CA"
    subdiv: Id | None = None
    # The package's lists by purpose: 'public' (employment standards), 'government' (federal workplaces),
    # 'optional'. None of them is an Interpretation Act's list; `include` picks the statute's names from them.
    categories: list[str] = Field(default_factory=lambda: ["public"])
    # Names are matched in this language. Without it the package follows the process locale (LANGUAGE,
    # LANG), so the same calendar would have other names, and lose its include/exclude, on another machine.
    language: str | None = Field(default=None, description="Default: the package's language for the country")
    # The package moves holidays that fall on a weekend to an 'observed' weekday; no Interpretation Act does.
    observed: bool = False
    # Weekdays that are holidays every week (0 = Monday ... 6 = Sunday): Sunday is a holiday in every Act.
    weekly: list[int] = [6]
    include: list[str] = Field(
        default_factory=list, description="Holiday names kept from the package; empty keeps all of them"
    )
    exclude: list[str] = Field(default_factory=list, description="Holiday names the statute does not list")
    easter_offsets: dict[str, int] = Field(
        default_factory=dict,
        description="Holidays the package lacks, by name, in days from Easter Sunday (Easter Monday = 1)",
    )
    sunday_next: list[str] = Field(
        default_factory=list,
        description="Holiday names whose next day is also a holiday when they fall on a Sunday "
        "(Holidays Act (Canada) s.2: Canada Day is July 2 when July 1 is a Sunday)",
    )
    add: list[CalendarDay] = Field(default_factory=list)
    remove: list[CalendarDay] = Field(default_factory=list)
    statute: str = ""


class DeadlineRule(Strict):
    """How a statute counts one clock. The engine computes every due date from these; no case file holds one."""

    kind: DeadlineKind
    count: int = Field(gt=0, le=36500)
    unit: DeadlineUnit
    skip: list[SkipDay] = Field(default_factory=list)
    trigger: str = Field(description="The event type the clock runs from")
    # Deadlines run from receipt of a notice: `service` starts the clock when the trigger's notice is served.
    runs_from: Literal["event", "service"] = "event"
    calendars: list[str] = Field(min_length=1)
    rollover: Rollover = Rollover.NEXT_DAY
    pausable: bool = False
    met_by: list[str] = Field(default_factory=list, description="Event types that meet the deadline")
    # `all-answered`: met only once every recommendation has its answer (the response to a report).
    met_when: Literal["any", "all-answered"] = "any"
    paused_by: list[str] = Field(default_factory=list, description="Event types that stop the clock")
    resumed_by: list[str] = Field(default_factory=list, description="Event types that restart a stopped clock")
    reminders: list[int] = Field(default_factory=list, description="Countable days before the due date")
    on_missed: Literal["flag", "deemed-refusal", "non-compliance", "close-track", "decide-findings"] = "flag"
    owed_by: Literal["respondent", "authority"] = "respondent"
    extend_by: Literal["authority", "lead", "none"] = "authority"
    extension_needs_completion_date: bool = False
    statute: str
    summary: str = Field(description="A line for people, e.g. 'BC PIPA s.53: comply with order {order}'")

    @model_validator(mode="after")
    def _pauses(self) -> DeadlineRule:
        if self.paused_by and not self.pausable:
            raise ValueError("paused_by: this clock is not pausable (set pausable = true)")
        return self


class NoticeSpec(Strict):
    """Which notice an event sends, to whom, under which of the sender's sections."""

    kind: str
    # `addressees`: the authorities the event names in its `to` (a message between authorities).
    to: Literal["respondent", "co-authorities", "addressees"] = "respondent"
    # `all`: a joint act, sent by every authority of the case; `actor`: by the authority that acted.
    senders: Literal["all", "actor"] = "actor"
    section: str = "notice"


class AuthorityDef(Strict):
    name: Short
    short: Short
    statute: str
    cite: str = Field(description="The statute's short citation, e.g. 'BC PIPA'")
    jurisdiction: str
    calendar: str
    language: Literal["en", "fr"] = "en"
    powers: list[Power]
    sections: dict[str, str] = Field(default_factory=dict, description="Statutory section per step")
    deadlines: dict[str, DeadlineRule] = Field(default_factory=dict)
    court: str = ""


class FindingsRule(StrEnum):
    UNANIMITY = "unanimity"
    PROCEED_WITH_CONCURRING = "proceed-with-concurring"


class Procedure(Strict):
    id: Id
    title: Short
    description: str = ""
    findings_rule: FindingsRule = FindingsRule.PROCEED_WITH_CONCURRING
    calendars: dict[str, CalendarSpec]
    authorities: dict[str, AuthorityDef]
    notices: dict[str, NoticeSpec] = Field(default_factory=dict, description="Event type -> the notice it sends")
    # The joint clocks, which the joint record runs for the case (the lead grants their extensions);
    # each authority's own clocks are under `authorities.<id>.deadlines` and run on its track.
    deadlines: dict[str, DeadlineRule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _calendars_known(self) -> Procedure:
        for kind, rule in self.deadlines.items():
            for cal in rule.calendars:
                if cal not in self.calendars:
                    raise ValueError(f"deadlines.{kind}.calendars: unknown calendar {cal!r}")
        for aid, auth in self.authorities.items():
            if auth.calendar not in self.calendars:
                raise ValueError(f"authorities.{aid}.calendar: unknown calendar {auth.calendar!r}")
            for kind, rule in auth.deadlines.items():
                for cal in rule.calendars:
                    if cal not in self.calendars:
                        raise ValueError(f"authorities.{aid}.deadlines.{kind}.calendars: unknown calendar {cal!r}")
        return self

    def authority(self, aid: str) -> AuthorityDef:
        return self.authorities[aid]

    def rules(self, owner: str) -> dict[str, DeadlineRule]:
        """The clocks a record runs: `case` for the joint ones, an authority id for its track's."""
        return self.deadlines if owner == "case" else self.authorities[owner].deadlines

    def deadline_rule(self, owner: str, key: str) -> DeadlineRule:
        return self.rules(owner)[key]


PROCEDURES_DIR = resources.files("domain") / "procedures"


def parse_procedure(text: str, source: str) -> Procedure:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataError(source, "(file)", f"not valid TOML: {e}") from None
    check_depth(data, source)
    try:
        procedure = Procedure.model_validate(data)
    except Exception as e:  # pydantic.ValidationError, or a validator's ValueError
        raise describe_validation_error(source, e) from None
    check_names(procedure, source)
    return procedure


def check_names(procedure: Procedure, source: str) -> None:
    """What a procedure names outside itself, checked when its file is read (not each time a workflow decodes
    it): the events its clocks run from, and the calendars the `holidays` package must know."""
    import holidays

    from domain.events import EVENT_TYPES  # the events know the procedure's types, not the reverse

    supported = holidays.list_supported_countries()
    for cid, spec in procedure.calendars.items():
        if spec.country not in supported:
            raise DataError(
                source, f"calendars.{cid}.country", f"{spec.country!r} is not a country the holidays package knows"
            )
        if spec.subdiv is not None and spec.subdiv not in supported[spec.country]:
            known = ", ".join(supported[spec.country]) or "none"
            raise DataError(
                source,
                f"calendars.{cid}.subdiv",
                f"{spec.subdiv!r} is not a subdivision of {spec.country} (known: {known})",
            )
    clocks = [(f"deadlines.{k}", r) for k, r in procedure.deadlines.items()]
    for aid, auth in procedure.authorities.items():
        clocks += [(f"authorities.{aid}.deadlines.{k}", r) for k, r in auth.deadlines.items()]
    for where, rule in clocks:
        named = [("trigger", rule.trigger)]
        for field in ("met_by", "paused_by", "resumed_by"):
            named += [(f"{field}[{i}]", t) for i, t in enumerate(getattr(rule, field))]
        for field, t in named:
            if t not in EVENT_TYPES:
                raise DataError(source, f"{where}.{field}", f"{t!r} is not an event type (see domain/events.py)")


def load_procedure(pid: str, search: list[Path] | None = None) -> Procedure:
    """Find a procedure by id: in the given folders first, then among those shipped with the package."""
    for folder in search or []:
        path = Path(folder) / f"{pid}.toml"
        if path.is_file():
            with path.open("rb") as f:
                raw = f.read(PROCEDURE_FILE_BYTES_MAX + 1)
            return parse_procedure(check_file(raw, str(path), PROCEDURE_FILE_BYTES_MAX), str(path))
    shipped = PROCEDURES_DIR / f"{pid}.toml"
    if shipped.is_file():
        source = f"procedure {pid}"
        return parse_procedure(check_file(shipped.read_bytes(), source, PROCEDURE_FILE_BYTES_MAX), source)
    raise KeyError(pid)


def known_procedures() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in PROCEDURES_DIR.iterdir() if p.name.endswith(".toml"))
