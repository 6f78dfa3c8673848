"""Procedures as data: which authorities a procedure knows, their powers, calendars and clocks.

A procedure file is TOML validated by these models. Adding a procedure (the EU one-stop-shop, say) is a
new file, not new workflow code.
"""

from __future__ import annotations

import json
import tomllib
from collections import OrderedDict
from datetime import date
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, ValidationInfo, model_validator

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
    # The EU one-stop-shop's clocks (GDPR Art. 60, 61, 65, 66; Regulation (EU) 2025/2518).
    DECISION = "decision"
    ASSISTANCE = "assistance"
    MEASURE = "measure"
    INVESTIGATION = "investigation"


class DeadlineUnit(StrEnum):
    DAYS = "days"
    # Regulation 1182/71 Art. 3(2)(b): a period in weeks ends on the same weekday as the event's.
    WEEKS = "weeks"
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

    # "": no list from the package, only the days this table names (`annual`, `easter_offsets`, `add`).
    country: Literal[""] | Id = "CA"
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
    annual: dict[str, str] = Field(
        default_factory=dict,
        description="Holidays on the same date every year, by name, as MM-DD (a list published as data)",
    )
    add: list[CalendarDay] = Field(default_factory=list)
    remove: list[CalendarDay] = Field(default_factory=list)

    @model_validator(mode="after")
    def _annual_dates(self) -> CalendarSpec:
        for name, md in self.annual.items():
            try:
                date.fromisoformat(f"2000-{md}")
            except ValueError:
                raise ValueError(f"annual.{name}: {md!r} is not a month and day (MM-DD)") from None
        return self

    statute: str = ""


# In a rule's `calendars`: the calendar of the authority whose clock it is (the requested authority's for a
# request for mutual assistance, GDPR Art. 61), whoever that is in a case.
PARTY_CALENDAR = "@party"


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
    # `step`: when the period runs out, the procedure's step `then` is recorded (by the record itself); with
    # `unless`, the step `otherwise` instead if one of those events was recorded since the trigger (a window
    # for objections: deemed agreement without one, GDPR Art. 60(6)).
    on_missed: Literal["flag", "deemed-refusal", "non-compliance", "close-track", "decide-findings", "step"] = "flag"
    then: str = Field(default="", description="The procedure step recorded when the period runs out")
    unless: list[str] = Field(default_factory=list, description="Events since the trigger that make it `otherwise`")
    otherwise: str = Field(default="", description="The step recorded instead when one of `unless` happened")
    # A window closes, it is not missed: a period for others to act (objections) that owes nobody anything.
    window: bool = False
    # Whose clock it is on the joint record: the lead (default), the authority that recorded the trigger
    # (`actor`), the one the trigger is addressed to (`addressee`), or the authority with a role (`board`).
    party: Literal["lead", "actor", "addressee", "board"] = "lead"
    owed_by: Literal["respondent", "authority"] = "respondent"
    extend_by: Literal["authority", "lead", "none"] = "authority"
    extension_needs_completion_date: bool = False
    # How many times it may be extended (None: no limit), and by how much when the extension names no amount
    # (GDPR Art. 65(2): "by a further month").
    extensions_max: int | None = Field(default=None, ge=0, le=LIST_MAX)
    extend_count: int | None = Field(default=None, gt=0, le=36500)
    extend_unit: DeadlineUnit | None = None
    statute: str
    summary: str = Field(description="A line for people, e.g. 'BC PIPA s.53: comply with order {order}'")

    def for_holder(self, calendar: str) -> DeadlineRule:
        """The rule with `@party` (the calendar of whoever holds the clock) replaced by that calendar."""
        if PARTY_CALENDAR not in self.calendars:
            return self
        cals = list(dict.fromkeys(calendar if c == PARTY_CALENDAR else c for c in self.calendars))
        return self.model_copy(update={"calendars": cals})

    @model_validator(mode="after")
    def _pauses(self) -> DeadlineRule:
        if self.paused_by and not self.pausable:
            raise ValueError("paused_by: this clock is not pausable (set pausable = true)")
        if self.on_missed == "step" and not self.then:
            raise ValueError("then: on_missed = 'step' names the step to record")
        if self.on_missed != "step" and (self.then or self.otherwise or self.unless):
            raise ValueError("then: only with on_missed = 'step'")
        if bool(self.unless) != bool(self.otherwise):
            raise ValueError("otherwise: `unless` and `otherwise` go together")
        if (self.extend_count is None) != (self.extend_unit is None):
            raise ValueError("extend_unit: `extend_count` and `extend_unit` go together")
        return self


class NoticeSpec(Strict):
    """Which notice an event sends, to whom, under which of the sender's sections."""

    kind: str
    # `addressees`: the authorities the event names in its `to` (a message between authorities).
    # `concerned`: the other authorities but a board; `board`: the authority with role = board; `lead`.
    to: Literal["respondent", "co-authorities", "addressees", "concerned", "board", "lead"] = "respondent"
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
    # `board`: a body that is no party to the investigation and acts only at some phases (the EDPB).
    role: Literal["authority", "board"] = "authority"
    phases: list[str] = Field(default_factory=list, description="The only phases it acts in; empty: any")


StepActor = Literal["lead", "concerned", "authority", "board", "respondent", "system"]


class StepDef(Strict):
    """A step of the procedure: who takes it, in which phases, the event it records (a name of the procedure's
    own vocabulary, which clocks and notices refer to) and the phase it leads to."""

    records: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$", description="The event name, e.g. DraftDecisionCirculated")
    label: Short = Field(min_length=1, description="What it is called in the procedure's own words")
    by: list[StepActor] = Field(min_length=1)
    phases: list[str] = Field(default_factory=list, description="The phases it may be taken in; empty: any")
    to_phase: str = ""
    statute: str = ""
    help: str = ""
    # What the step must carry: a text (`summary`), what it is about (`subject`), whom it is addressed to (`to`).
    requires: list[Literal["summary", "subject", "to"]] = Field(default_factory=list)
    # A prefix: each such step gets its own subject, numbered (`MA` -> MA-1, MA-2), which later steps name.
    numbered: str = Field(default="", pattern=r"^([A-Z]{1,8})?$")
    # The subject must be one a step of this event opened (a reply names its request).
    answers: str = ""
    # Clocks (rule keys) that stop when it is recorded (a revised draft ends the window on the old one).
    stops: list[str] = Field(default_factory=list)
    closes: bool = False
    # The earlier step whose text its notice quotes (a notification quotes the decision it notifies).
    quotes: str = ""


class FindingsRule(StrEnum):
    UNANIMITY = "unanimity"
    PROCEED_WITH_CONCURRING = "proceed-with-concurring"


# Procedures decoded from the same text, shared: every workflow of every case decodes its procedure from its
# input (five a Clearview case, ~76 KiB of Python objects each), and a worker caching 10,000 cases would hold
# 50,000 copies of a few procedures. A Procedure is frozen and nothing changes it once validated (its lists
# and tables included), so one object per distinct text serves every run; a run sees the same values either way.
SHARED_MAX = 64
_shared: OrderedDict[tuple[str, str], Procedure] = OrderedDict()


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
    # A procedure of its own steps (the EU one-stop-shop): its phases, the first of which a case opens in,
    # its steps, and which of the common actions (domain/actions.py) it keeps (None: all of them).
    phases: list[str] = Field(default_factory=list)
    steps: dict[str, StepDef] = Field(default_factory=dict)
    actions: list[str] | None = None
    # What the procedure calls things, for the report: `report`, `lead`, `concerned`, `board`, `respondent`,
    # `authorities` (e.g. "lead supervisory authority"); the report's own words where one is missing.
    terms: dict[str, Short] = Field(default_factory=dict)
    # The date this version of the procedure applies from (a case takes the version in force when it opens).
    in_force: date | None = None
    version: Short = ""

    @model_validator(mode="wrap")
    @classmethod
    def _one_per_text(cls, data: object, handler: ModelWrapValidatorHandler[Procedure], info: ValidationInfo):
        # Only plain JSON data (a workflow's decoded input, a parsed file), keyed by the mode too: python-mode
        # validation is stricter (a date given as text), so a text seen in one mode answers only for that mode.
        if not isinstance(data, dict) or info.context is not None:
            return handler(data)
        try:
            key = (info.mode, json.dumps(data, sort_keys=True, separators=(",", ":")))
        except (TypeError, ValueError):
            return handler(data)
        hit = _shared.get(key)
        if hit is not None:
            _shared.move_to_end(key)
            return hit
        made = handler(data)
        _shared[key] = made
        if len(_shared) > SHARED_MAX:
            _shared.popitem(last=False)
        return made

    @property
    def first_phase(self) -> str:
        return self.phases[0] if self.phases else ""

    def next_actor(self, phase: str) -> StepActor | None:
        """Who takes the phase's next step: the first, in the procedure's order, of the steps that belong to
        `phase` and move the case on (to another phase, or closed), else of those that belong to it at all.
        Steps of any phase and the system's own are no party's move; None where the phase has none."""
        steps = [s for s in self.steps.values() if phase in s.phases and s.by[0] != "system"]
        onward = [s for s in steps if s.to_phase or s.closes]
        return (onward or steps)[0].by[0] if steps else None

    def step_named(self, event_name: str) -> tuple[str, StepDef] | None:
        for key, step in self.steps.items():
            if step.records == event_name:
                return key, step
        return None

    @property
    def own_events(self) -> dict[str, str]:
        """The procedure's own event names, each with the step that records it."""
        return {step.records: key for key, step in self.steps.items()}

    @model_validator(mode="after")
    def _steps_known(self) -> Procedure:
        phases = set(self.phases)
        if self.steps and not phases:
            raise ValueError("phases: a procedure with steps lists its phases")
        names: dict[str, str] = {}
        for key, step in self.steps.items():
            if step.records in names:
                raise ValueError(
                    f"steps.{key}.records: {step.records!r} is recorded by steps.{names[step.records]} too"
                )
            names[step.records] = key
            for i, ph in enumerate(step.phases):
                if ph not in phases:
                    raise ValueError(f"steps.{key}.phases[{i}]: unknown phase {ph!r}")
            if step.to_phase and step.to_phase not in phases:
                raise ValueError(f"steps.{key}.to_phase: unknown phase {step.to_phase!r}")
            for i, rule in enumerate(step.stops):
                if rule not in self.deadlines:
                    raise ValueError(f"steps.{key}.stops[{i}]: {rule!r} is not a clock of deadlines")
        for key, step in self.steps.items():
            if step.quotes and step.quotes not in names:
                raise ValueError(f"steps.{key}.quotes: {step.quotes!r} is not an event of the procedure's steps")
            if step.answers and step.answers not in names:
                raise ValueError(f"steps.{key}.answers: {step.answers!r} is not an event of the procedure's steps")
        for aid, auth in self.authorities.items():
            for i, ph in enumerate(auth.phases):
                if ph not in phases:
                    raise ValueError(f"authorities.{aid}.phases[{i}]: unknown phase {ph!r}")
        return self

    @model_validator(mode="after")
    def _calendars_known(self) -> Procedure:
        for kind, rule in self.deadlines.items():
            for cal in rule.calendars:
                if cal not in self.calendars and cal != PARTY_CALENDAR:
                    raise ValueError(f"deadlines.{kind}.calendars: unknown calendar {cal!r}")
        for aid, auth in self.authorities.items():
            if auth.calendar not in self.calendars:
                raise ValueError(f"authorities.{aid}.calendar: unknown calendar {auth.calendar!r}")
            for kind, rule in auth.deadlines.items():
                for cal in rule.calendars:
                    if cal not in self.calendars and cal != PARTY_CALENDAR:
                        raise ValueError(f"authorities.{aid}.deadlines.{kind}.calendars: unknown calendar {cal!r}")
        return self

    def authority(self, aid: str) -> AuthorityDef:
        return self.authorities[aid]

    def rules(self, owner: str) -> dict[str, DeadlineRule]:
        """The clocks a record runs: `case` for the joint ones, an authority id for its track's."""
        return self.deadlines if owner == "case" else self.authorities[owner].deadlines

    def deadline_rule(self, owner: str, key: str, holder: str = "") -> DeadlineRule:
        """A clock's rule; with its holder, counted on the holder's calendar where it says `@party`."""
        rule = self.rules(owner)[key]
        if holder in self.authorities:
            return rule.for_holder(self.authorities[holder].calendar)
        return rule


# What a case's parties and record are called where the procedure does not say (`terms`).
TERMS = {
    "report": "Report of findings",
    "lead": "lead",
    "concerned": "co-investigator",
    "board": "board",
    "respondent": "respondent",
    "authorities": "authorities",
}


def terms_of(procedure: Procedure | None) -> dict[str, str]:
    """The procedure's words for the parties and the record, the common ones where it has none."""
    return TERMS | (procedure.terms if procedure else {})


def role_in(aid: str, lead: str, procedure: Procedure | None) -> str:
    """An authority's part in a case, in the procedure's words: the lead, a board (the EDPB, which acts only in
    the dispute resolution) or a concerned authority."""
    terms = terms_of(procedure)
    if aid == lead:
        return terms["lead"]
    auth = procedure.authorities.get(aid) if procedure else None
    return terms["board"] if auth is not None and auth.role == "board" else terms["concerned"]


PROCEDURES_DIR = resources.files("domain") / "procedures"


def parse_procedure(text: str, source: str) -> Procedure:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataError(source, "(file)", f"not valid TOML: {e}") from None
    check_depth(data, source)
    return parse_procedure_data(data, source)


def check_names(procedure: Procedure, source: str) -> None:
    """What a procedure names outside itself or across its tables, checked when its file is read (not each time
    a workflow decodes it): the events its clocks run from, meet, stop and restart on (the common vocabulary
    of domain/events.py and the procedure's own steps), the steps a clock's end records, the events that send
    notices, the common actions it keeps, and the calendars the `holidays` package must know."""
    import holidays

    from domain.actions import ACTIONS  # the actions and events know the procedure's types, not the reverse
    from domain.events import EVENT_TYPES

    supported = holidays.list_supported_countries()
    for cid, spec in procedure.calendars.items():
        if not spec.country:
            continue
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
    own = procedure.own_events
    for name in own:
        if name in EVENT_TYPES:
            key = own[name]
            raise DataError(source, f"steps.{key}.records", f"{name!r} is an event of domain/events.py already")
    vocabulary = f"an event of domain/events.py or of this procedure's steps ({', '.join(own) or 'none'})"
    clocks = [(f"deadlines.{k}", r) for k, r in procedure.deadlines.items()]
    for aid, auth in procedure.authorities.items():
        clocks += [(f"authorities.{aid}.deadlines.{k}", r) for k, r in auth.deadlines.items()]
    boards = [a for a, auth in procedure.authorities.items() if auth.role == "board"]
    for where, rule in clocks:
        named = [("trigger", rule.trigger)]
        for field in ("met_by", "paused_by", "resumed_by", "unless"):
            named += [(f"{field}[{i}]", t) for i, t in enumerate(getattr(rule, field))]
        for field, t in named:
            if t not in EVENT_TYPES and t not in own:
                raise DataError(source, f"{where}.{field}", f"{t!r} is not {vocabulary}")
        for field in ("then", "otherwise"):
            step = getattr(rule, field)
            if step and step not in procedure.steps:
                known = ", ".join(procedure.steps) or "none"
                raise DataError(
                    source, f"{where}.{field}", f"{step!r} is not a step of this procedure (steps: {known})"
                )
            if step and "system" not in procedure.steps[step].by:
                raise DataError(source, f"{where}.{field}", f"step {step!r} is not one the record takes (by = system)")
        if rule.party == "board" and len(boards) != 1:
            raise DataError(source, f"{where}.party", "'board' needs exactly one authority with role = 'board'")
    for event in procedure.notices:
        if event not in EVENT_TYPES and event not in own:
            raise DataError(source, f"notices.{event}", f"{event!r} is not {vocabulary}")
    for i, name in enumerate(procedure.actions or []):
        if name not in ACTIONS:
            raise DataError(source, f"actions[{i}]", f"{name!r} is not an action (see domain/actions.py)")


def _merged(base: dict, over: dict) -> dict:
    """A version's file over its base: tables merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read(path: Path | Traversable, source: str) -> dict:
    raw = path.read_bytes() if not isinstance(path, Path) else _head(path)
    text = check_file(raw, source, PROCEDURE_FILE_BYTES_MAX)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataError(source, "(file)", f"not valid TOML: {e}") from None
    check_depth(data, source)
    return data


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(PROCEDURE_FILE_BYTES_MAX + 1)


def _versions(folder: Path | Traversable, pid: str) -> list[tuple[date, Path | Traversable]]:
    """`<pid>@<YYYY-MM-DD>.toml` files: later versions of a procedure, each applying from its date."""
    out = []
    if not folder.is_dir():
        return out
    for entry in folder.iterdir():
        stem, at, day = entry.name.removesuffix(".toml").partition("@")
        if entry.name.endswith(".toml") and at and stem == pid:
            try:
                out.append((date.fromisoformat(day), entry))
            except ValueError:
                continue
    return sorted(out, key=lambda v: v[0])


def _version(folder: Path | Traversable, pid: str, base: Path | Traversable, on: date | None, source: str) -> Procedure:
    data = _read(base, source)
    where = source
    for start, entry in _versions(folder, pid):
        if on is None or start > on:
            break
        where = f"{source} as in force from {start}" if source.startswith("procedure ") else str(entry)
        over = _read(entry, where)
        if over.get("in_force") != start:
            raise DataError(where, "in_force", f"the file applies from {start}: say in_force = {start}")
        data = _merged(data, over)
    return parse_procedure_data(data, where)


def parse_procedure_data(data: dict, source: str) -> Procedure:
    try:
        procedure = Procedure.model_validate(data)
    except Exception as e:  # pydantic.ValidationError, or a validator's ValueError
        raise describe_validation_error(source, e) from None
    check_names(procedure, source)
    return procedure


def load_procedure(pid: str, search: list[Path] | None = None, on: date | None = None) -> Procedure:
    """Find a procedure by id: in the given folders first, then among those shipped with the package. With
    `on` (a case's opening date), the version in force that day: the base file, and over it each
    `<pid>@<date>.toml` whose date is not after `on`. Without it, the base file alone."""
    for folder in search or []:
        path = Path(folder) / f"{pid}.toml"
        if path.is_file():
            return _version(Path(folder), pid, path, on, str(path))
    shipped = PROCEDURES_DIR / f"{pid}.toml"
    if shipped.is_file():
        return _version(PROCEDURES_DIR, pid, shipped, on, f"procedure {pid}")
    raise KeyError(pid)


def known_procedures() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml") for p in PROCEDURES_DIR.iterdir() if p.name.endswith(".toml") and "@" not in p.name
    )
