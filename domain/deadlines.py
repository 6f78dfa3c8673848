"""Due dates from a procedure's DeadlineRule: pure date arithmetic, safe inside a workflow.

Counting follows the Interpretation Acts (and Regulation (EEC, Euratom) No 1182/71 for the EU, which counts
the same way: Art. 3(1) leaves out the day of the event, Art. 3(2)(b)-(c) ends a period in weeks on the same
weekday and one in months on the same date, or the month's last day, and Art. 3(4) moves an end on a public
holiday, a Saturday or a Sunday to the next working day, which a calendar with `weekly = [5, 6]` says):
the trigger day is not counted and the last day is (BC s.25, Alberta s.22, Canada s.27); months keep the
day's number or clamp to the month's end (Canada s.28); a last day on a holiday moves to the next day that
is not one (Canada s.26, Quebec s.52). A rule with `skip` counts only the days its statute calls days (BC
PIPA: not Saturdays, not holidays). Weeks are seven calendar days each.

`remaining` counts (for pauses and extensions) are in the rule's countable days. A months or years rule
has no day unit of its own, so for it they are calendar days.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Mapping
from datetime import date, timedelta

from domain.calendars import Calendar, calendar_for
from domain.procedure import CalendarSpec, DeadlineRule, DeadlineUnit, Rollover, SkipDay

Specs = Mapping[str, CalendarSpec]
_ONE_DAY = timedelta(days=1)
_SKIPPED_WEEKDAY = {SkipDay.SATURDAY: 5, SkipDay.SUNDAY: 6}


def due_date(rule: DeadlineRule, trigger: date, specs: Specs, *, count: int | None = None) -> date:
    """The last day to act on a clock started by `trigger`; `count` replaces the rule's (an order may set
    its own period)."""
    cal = _calendar(rule, specs)
    n = rule.count if count is None else count
    if n <= 0:
        raise ValueError(f"count: must be a positive number of {rule.unit}, not {n}")
    return _roll(rule, cal, _end(rule, cal, trigger, n, rule.unit))


def _end(rule: DeadlineRule, cal: Calendar, start: date, n: int, unit: DeadlineUnit) -> date:
    """The last day of a period of `n` units from `start`, before any rollover."""
    if unit == DeadlineUnit.MONTHS:
        return add_months(start, n)
    if unit == DeadlineUnit.YEARS:
        return add_months(start, 12 * n)
    if unit == DeadlineUnit.WEEKS:
        return start + timedelta(weeks=n)
    return _step(rule, cal, start, n)


def extended_by_period(
    rule: DeadlineRule, trigger: date, count: int, due: date, added: int, unit: DeadlineUnit, specs: Specs
) -> date:
    """The due date after an extension by a period (GDPR Art. 65(2): "by a further month"). In the rule's own
    unit the period is counted whole from the trigger (1 month + 1 month = 2 months from the referral, so a
    first end rolled off a weekend does not push the second); in another unit it runs on from the due date."""
    if added <= 0:
        raise ValueError("added: an extension cannot shorten a deadline")
    cal = _calendar(rule, specs)
    if unit == rule.unit and count > 0:
        new = _roll(rule, cal, _end(rule, cal, trigger, count + added, unit))
    else:
        new = _roll(rule, cal, _end(rule, cal, due, added, unit))
    if new <= due:
        raise ValueError("added: an extension cannot shorten a deadline")
    return new


def is_countable(rule: DeadlineRule, d: date, specs: Specs) -> bool:
    """Whether `d` counts as one of the rule's days (every day does unless the rule skips some)."""
    return _countable(rule, _calendar(rule, specs), d)


def countable_days_between(rule: DeadlineRule, start: date, end: date, specs: Specs) -> int:
    """Countable days in (start, end]: what is left of a clock paused on `start` and due on `end`. For a
    calendar-day rule whose due date was rolled off a holiday, the rolled days are part of what is left."""
    if end <= start:
        return 0
    if not rule.skip or rule.unit != DeadlineUnit.DAYS:
        return (end - start).days
    cal = _calendar(rule, specs)
    return sum(_countable(rule, cal, start + timedelta(days=i)) for i in range(1, (end - start).days + 1))


def resume(rule: DeadlineRule, remaining: int, resumed_on: date, specs: Specs) -> date:
    """The new due date when a paused clock restarts: `remaining` countable days after `resumed_on`, which,
    like a trigger, is not counted."""
    if remaining < 0:
        raise ValueError(f"remaining: cannot be negative, not {remaining}")
    cal = _calendar(rule, specs)
    return _roll(rule, cal, _step(rule, cal, resumed_on, remaining))


def reminder_dates(rule: DeadlineRule, due: date, specs: Specs, *, trigger: date | None = None) -> list[date]:
    """Reminder days, earliest first: each `rule.reminders` offset counted back from `due` in countable
    days, so a reminder never falls on a day that does not count. Days not after `trigger` are dropped:
    a short period has no room for a long reminder."""
    cal = _calendar(rule, specs)
    out: set[date] = set()
    for offset in rule.reminders:
        if offset <= 0:
            raise ValueError(f"reminders: offsets must be positive, not {offset}")
        d = _step(rule, cal, due, offset, back=True)
        if trigger is None or d > trigger:
            out.add(d)
    return sorted(out)


def extended_due(
    rule: DeadlineRule,
    due: date,
    *,
    new_due: date | None = None,
    added: int | None = None,
    specs: Specs,
) -> date:
    """The due date after an extension: either a new date, or `added` countable days after `due`."""
    if (new_due is None) == (added is None):
        raise ValueError("new_due: give exactly one of new_due or added")
    cal = _calendar(rule, specs)
    if added is not None:
        if added <= 0:
            raise ValueError("added: an extension cannot shorten a deadline")
        return _roll(rule, cal, _step(rule, cal, due, added))
    assert new_due is not None
    if new_due <= due:
        raise ValueError("new_due: an extension cannot shorten a deadline")
    # A date set by an order is still a 'time limited' that rolls off a holiday (Canada s.26).
    return _roll(rule, cal, new_due)


def rule_text(summary: str, statute: str) -> str:
    """A clock's rule for people: its summary, with its statute where the summary does not already cite it."""
    return summary if not statute or statute in summary else f"{summary} ({statute})"


def add_months(d: date, months: int) -> date:
    """Same day number `months` later, or the month's last day if it has no such day (Canada s.28:
    Mar 31 + 1 month = Apr 30; Feb 29 + 12 months = Feb 28)."""
    year, month0 = divmod(d.month - 1 + months, 12)
    year += d.year
    return date(year, month0 + 1, min(d.day, monthrange(year, month0 + 1)[1]))


def _calendar(rule: DeadlineRule, specs: Specs) -> Calendar:
    return calendar_for(specs, rule.calendars)


def _countable(rule: DeadlineRule, cal: Calendar, d: date) -> bool:
    if d.weekday() in _skipped_weekdays(rule, cal):
        return False
    return not (SkipDay.HOLIDAYS in rule.skip and cal.is_holiday(d))


def _skipped_weekdays(rule: DeadlineRule, cal: Calendar) -> set[int]:
    days = {_SKIPPED_WEEKDAY[s] for s in rule.skip if s in _SKIPPED_WEEKDAY}
    return (days | cal.weekly) if SkipDay.HOLIDAYS in rule.skip else days


def _step(rule: DeadlineRule, cal: Calendar, start: date, n: int, *, back: bool = False) -> date:
    """The n-th countable day after (or before) `start`; calendar days unless the rule skips some."""
    sign = -1 if back else 1
    if not rule.skip or rule.unit != DeadlineUnit.DAYS:
        return start + sign * timedelta(days=n)
    if len(_skipped_weekdays(rule, cal)) == 7:
        # The loop below would never end.
        raise ValueError("skip: the rule leaves no day of the week to count")
    d = start
    for _ in range(n):
        d += sign * _ONE_DAY
        while not _countable(rule, cal, d):
            d += sign * _ONE_DAY
    return d


def _roll(rule: DeadlineRule, cal: Calendar, d: date) -> date:
    if rule.rollover == Rollover.NEXT_DAY:
        while cal.is_holiday(d):
            d += _ONE_DAY
    return d
