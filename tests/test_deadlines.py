"""Due dates from the procedure's rules: the Clearview orders, month and year arithmetic, rollover, pauses,
reminders and extensions, then properties over many dates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendars import calendar_for
from domain.deadlines import (
    add_months,
    countable_days_between,
    due_date,
    extended_due,
    is_countable,
    reminder_dates,
    resume,
)
from domain.procedure import DeadlineRule, load_procedure

PROCEDURE = load_procedure("ca-joint")
SPECS = PROCEDURE.calendars
BC_COMPLIANCE = PROCEDURE.authority("oipc-bc").deadlines["compliance"]  # 30 BC PIPA days
QC_COMPLIANCE = PROCEDURE.authority("cai-qc").deadlines["compliance"]  # 90 days
OPC_REPORT = PROCEDURE.authority("opc").deadlines["report"]  # 1 year
ORDERS = date(2021, 12, 14)  # BC Order P21-08 and CAI decision 1023158-S
ROOT = Path(__file__).resolve().parent.parent


def rule(unit: str, count: int = 1, calendars: tuple[str, ...] = ("ca",), **extra) -> DeadlineRule:
    return DeadlineRule(
        kind="response",
        count=count,
        unit=unit,
        trigger="NoticeServed",
        calendars=list(calendars),
        statute="test",
        summary="test",
        **extra,
    )


def test_bc_order_p21_08_is_due_on_the_date_the_order_gave():
    assert BC_COMPLIANCE.skip == ["saturday", "sunday", "holidays"]
    due = due_date(BC_COMPLIANCE, ORDERS, SPECS)
    assert due == date(2022, 1, 25)
    assert countable_days_between(BC_COMPLIANCE, ORDERS, due, SPECS) == 30
    # It counts Dec 27 and 28, 2021 and Jan 3, 2022: the package's 'observed' days are not BC holidays.
    assert all(is_countable(BC_COMPLIANCE, date.fromisoformat(d), SPECS) for d in ("2021-12-27", "2022-01-03"))
    assert not is_countable(BC_COMPLIANCE, date(2021, 12, 25), SPECS)
    assert not is_countable(BC_COMPLIANCE, date(2022, 1, 8), SPECS)  # a Saturday


def test_quebec_decision_runs_90_calendar_days():
    # P-39.1 counts calendar days: Christmas and New Year's Day count, only a last day on a holiday moves.
    assert due_date(QC_COMPLIANCE, ORDERS, SPECS) == date(2022, 3, 14)
    assert is_countable(QC_COMPLIANCE, date(2021, 12, 25), SPECS)
    assert countable_days_between(QC_COMPLIANCE, ORDERS, date(2022, 3, 14), SPECS) == 90


def test_count_override():
    assert due_date(BC_COMPLIANCE, ORDERS, SPECS, count=5) == date(2021, 12, 21)
    assert due_date(QC_COMPLIANCE, ORDERS, SPECS, count=30) == date(2022, 1, 13)
    with pytest.raises(ValueError, match="^count: "):
        due_date(QC_COMPLIANCE, ORDERS, SPECS, count=0)


@pytest.mark.parametrize(
    ("trigger", "months", "due"),
    [
        ("2021-03-31", 1, "2021-04-30"),  # s.28: no Apr 31, so the month's last day
        ("2024-01-31", 1, "2024-02-29"),
        ("2021-01-31", 1, "2021-03-01"),  # Feb 28, 2021 is a Sunday: rolls to Monday
        ("2021-08-31", 6, "2022-02-28"),
        ("2021-11-15", 2, "2022-01-15"),  # across the year end; a Saturday is no holiday
    ],
)
def test_months_keep_the_day_or_clamp_to_the_month_end(trigger, months, due):
    assert due_date(rule("months"), date.fromisoformat(trigger), SPECS, count=months) == date.fromisoformat(due)


def test_years_from_february_29():
    years = rule("years")
    assert due_date(years, date(2024, 2, 29), SPECS) == date(2025, 2, 28)
    assert due_date(years, date(2024, 2, 29), SPECS, count=4) == date(2028, 2, 29)


def test_a_last_day_on_a_holiday_rolls_to_the_next_day_that_is_not_one():
    # PIPEDA s.13(1): a year from 2020-02-21 ends on Sunday 2021-02-21.
    assert due_date(OPC_REPORT, date(2020, 2, 21), SPECS) == date(2021, 2, 22)
    thirty = rule("days", 30, ("ca-bc",))
    # Saturday Christmas, then Sunday Boxing Day: Monday Dec 27 is a working day in BC.
    assert due_date(thirty, date(2021, 11, 25), SPECS) == date(2021, 12, 27)
    # Quebec has no Boxing Day: Sunday Christmas 2022 moves to Monday the 26th.
    assert due_date(rule("days", 30, ("ca-qc",)), date(2022, 11, 25), SPECS) == date(2022, 12, 26)
    # In BC the 26th is a holiday too.
    assert due_date(thirty, date(2022, 11, 25), SPECS) == date(2022, 12, 27)
    # New Year's Day 2022 on a Saturday, then a Sunday: Monday.
    assert due_date(thirty, date(2021, 12, 2), SPECS) == date(2022, 1, 3)
    # A plain Saturday is no holiday: a calendar-day clock can end on one.
    assert due_date(thirty, date(2021, 12, 9), SPECS) == date(2022, 1, 8)
    fixed = rule("days", 30, ("ca-bc",), rollover="none")
    assert due_date(fixed, date(2021, 11, 25), SPECS) == date(2021, 12, 25)


def test_a_pause_keeps_the_days_left_and_resumes_after_the_pause():
    due = date(2022, 1, 25)
    # A judicial review filed on Jan 10 stays the order (BC PIPA s.53): 11 BC PIPA days were left.
    left = countable_days_between(BC_COMPLIANCE, date(2022, 1, 10), due, SPECS)
    assert left == 11
    # Resumed on Feb 8: Feb 9-11, 14-18, (Family Day, Feb 21), 22-24.
    assert resume(BC_COMPLIANCE, left, date(2022, 2, 8), SPECS) == date(2022, 2, 24)
    assert resume(QC_COMPLIANCE, 20, date(2022, 2, 8), SPECS) == date(2022, 2, 28)
    # A months rule resumes in calendar days.
    assert resume(OPC_REPORT, 10, date(2021, 2, 1), SPECS) == date(2021, 2, 11)
    assert countable_days_between(BC_COMPLIANCE, due, date(2022, 1, 10), SPECS) == 0
    with pytest.raises(ValueError, match="^remaining: "):
        resume(BC_COMPLIANCE, -1, date(2022, 2, 8), SPECS)


def test_reminders_count_back_in_countable_days():
    due = date(2022, 1, 25)
    # 2 BC PIPA days before Tuesday Jan 25 is Friday Jan 21; 10 days before is Tuesday Jan 11.
    assert reminder_dates(BC_COMPLIANCE, due, SPECS) == [date(2022, 1, 11), date(2022, 1, 21)]
    assert reminder_dates(QC_COMPLIANCE, date(2022, 3, 14), SPECS) == [date(2022, 3, 4), date(2022, 3, 12)]
    # A five-day order has no room for a ten-day reminder.
    short = due_date(BC_COMPLIANCE, ORDERS, SPECS, count=5)
    assert reminder_dates(BC_COMPLIANCE, short, SPECS, trigger=ORDERS) == [date(2021, 12, 17)]
    assert reminder_dates(BC_COMPLIANCE, short, SPECS, trigger=date(2021, 12, 17)) == []


def test_extensions():
    due = date(2022, 1, 25)
    assert extended_due(BC_COMPLIANCE, due, added=10, specs=SPECS) == date(2022, 2, 8)
    assert extended_due(BC_COMPLIANCE, due, new_due=date(2022, 2, 1), specs=SPECS) == date(2022, 2, 1)
    # A new date on a Sunday still rolls to the next day that is not a holiday.
    assert extended_due(QC_COMPLIANCE, due, new_due=date(2022, 1, 30), specs=SPECS) == date(2022, 1, 31)
    for bad in (due, date(2022, 1, 20)):
        with pytest.raises(ValueError, match="^new_due: an extension cannot shorten a deadline$"):
            extended_due(BC_COMPLIANCE, due, new_due=bad, specs=SPECS)
    with pytest.raises(ValueError, match="^added: an extension cannot shorten a deadline$"):
        extended_due(BC_COMPLIANCE, due, added=0, specs=SPECS)
    with pytest.raises(ValueError, match="^new_due: give exactly one"):
        extended_due(BC_COMPLIANCE, due, new_due=date(2022, 2, 1), added=3, specs=SPECS)
    with pytest.raises(ValueError, match="^new_due: give exactly one"):
        extended_due(BC_COMPLIANCE, due, specs=SPECS)


def test_an_unknown_calendar_is_a_clear_error():
    lost = BC_COMPLIANCE.model_copy(update={"calendars": ["ca-bc", "ca-on"]})
    for call in (
        lambda: due_date(lost, ORDERS, SPECS),
        lambda: is_countable(lost, ORDERS, SPECS),
        lambda: reminder_dates(lost, ORDERS, SPECS),
    ):
        with pytest.raises(ValueError, match=r"^calendars: unknown calendar 'ca-on'$"):
            call()


def test_a_rule_that_skips_every_day_is_refused():
    never = rule("days", 3, ("ca",), skip=["saturday", "holidays"])
    # Sundays are holidays, so the rule still counts Monday to Friday.
    assert due_date(never, date(2024, 3, 1), SPECS) == date(2024, 3, 6)
    spec = SPECS["ca"].model_copy(update={"weekly": [0, 1, 2, 3, 4, 6]})
    with pytest.raises(ValueError, match="^skip: "):
        due_date(never, date(2024, 3, 1), {"ca": spec})


# ---------------------------------------------------------------- properties

days_2019_2027 = st.dates(min_value=date(2019, 1, 1), max_value=date(2027, 12, 31))
CALENDAR_SETS = [("ca",), ("ca-qc",), ("ca-bc",), ("ca-ab",), ("ca", "ca-bc"), ("ca", "ca-qc")]
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(trigger=days_2019_2027, n=st.integers(1, 120))
def test_n_countable_days_land_on_a_countable_day_with_n_in_between(trigger, n):
    due = due_date(BC_COMPLIANCE, trigger, SPECS, count=n)
    assert is_countable(BC_COMPLIANCE, due, SPECS)
    assert not calendar_for(SPECS, ["ca-bc"]).is_holiday(due)
    assert countable_days_between(BC_COMPLIANCE, trigger, due, SPECS) == n
    assert countable_days_between(BC_COMPLIANCE, trigger, due - timedelta(days=1), SPECS) == n - 1


@FAST
@given(trigger=days_2019_2027, n=st.integers(1, 400), cals=st.sampled_from(CALENDAR_SETS))
def test_rollover_never_lands_on_a_holiday_and_moves_no_further_than_needed(trigger, n, cals):
    cal = calendar_for(SPECS, cals)
    due = due_date(rule("days", n, cals), trigger, SPECS)
    last = trigger + timedelta(days=n)
    assert not cal.is_holiday(due)
    assert due >= last
    assert all(cal.is_holiday(last + timedelta(days=i)) for i in range((due - last).days))


@FAST
@given(trigger=days_2019_2027, n=st.integers(1, 90), data=st.data())
def test_pausing_and_resuming_at_once_changes_nothing(trigger, n, data):
    due = due_date(BC_COMPLIANCE, trigger, SPECS, count=n)
    paused = data.draw(st.dates(min_value=trigger, max_value=due - timedelta(days=1)))
    left = countable_days_between(BC_COMPLIANCE, paused, due, SPECS)
    assert resume(BC_COMPLIANCE, left, paused, SPECS) == due


@FAST
@given(trigger=days_2019_2027, offsets=st.lists(st.integers(1, 40), min_size=1, max_size=3))
def test_each_reminder_is_its_offset_in_countable_days_before_the_due_date(trigger, offsets):
    with_reminders = BC_COMPLIANCE.model_copy(update={"reminders": offsets})
    due = due_date(with_reminders, trigger, SPECS)
    reminders = reminder_dates(with_reminders, due, SPECS, trigger=trigger)
    assert reminders == sorted(set(reminders))
    assert {countable_days_between(BC_COMPLIANCE, r, due, SPECS) for r in reminders} <= set(offsets)
    assert all(is_countable(BC_COMPLIANCE, r, SPECS) and trigger < r < due for r in reminders)
    # Only reminders that would fall on or before the trigger are dropped.
    assert len(reminders) == len({o for o in offsets if o < 30})


@FAST
@given(d=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)), months=st.integers(0, 600))
def test_month_arithmetic(d, months):
    out = add_months(d, months)
    assert (out.year - d.year) * 12 + out.month - d.month == months
    assert out.day == d.day or (out.day < d.day and (out + timedelta(days=1)).day == 1)


# ---------------------------------------------------------------- the process's time zone and locale

PROBE = """
import json
from datetime import date
from domain.procedure import load_procedure
from domain.deadlines import due_date, reminder_dates
from domain.calendars import calendar_for
p = load_procedure("ca-joint")
out = {}
for aid, auth in p.authorities.items():
    for kind, rule in auth.deadlines.items():
        due = due_date(rule, date(2021, 12, 14), p.calendars)
        out[f"{aid}/{kind}"] = [str(due), *map(str, reminder_dates(rule, due, p.calendars))]
for cid in p.calendars:
    out[cid] = {str(d): n for d, n in calendar_for(p.calendars, [cid]).holidays_in(2023, weekly=False).items()}
print(json.dumps(out, sort_keys=True))
"""


def test_results_do_not_depend_on_the_time_zone_or_the_locale():
    """UTC+14 and UTC-3:30 (a date boundary apart), with French and Thai locales: same dates, same names."""
    settings = [("UTC", "en"), ("Pacific/Kiritimati", "fr"), ("America/St_Johns", "th")]
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE],
            cwd=ROOT,
            env={**os.environ, "TZ": tz, "LANGUAGE": lang, "LC_ALL": "C.UTF-8"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for tz, lang in settings
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs)
    utc, *others = (json.loads(out) for out in outputs)
    assert utc["oipc-bc/compliance"] == ["2022-01-25", "2022-01-11", "2022-01-21"]
    assert utc["ca-qc"]["2023-06-24"] == "Saint Jean Baptiste Day"
    assert others == [utc, utc]
