"""Holiday calendars: the shipped procedure's lists against the Interpretation Acts, year by year.

The expected lists below are written from the statutes' own rules (nth Monday, fixed dates, Easter), not
from the `holidays` package, so a package upgrade or a TOML edit that changes a list fails here.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import holidays
import pytest
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from worker import RUNNER
    from workflows.record import pure
from temporalio.worker import Worker

from domain.calendars import Calendar, calendar_for
from domain.procedure import CalendarDay, CalendarSpec, load_procedure

SPECS = load_procedure("ca-joint").calendars
YEARS = [2018, *range(2020, 2027), 2029]
# Western Easter Sundays, from the almanac rather than from code under test.
EASTER = {
    2018: date(2018, 4, 1),
    2020: date(2020, 4, 12),
    2021: date(2021, 4, 4),
    2022: date(2022, 4, 17),
    2023: date(2023, 4, 9),
    2024: date(2024, 3, 31),
    2025: date(2025, 4, 20),
    2026: date(2026, 4, 5),
    2029: date(2029, 4, 1),
}


def monday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))


def monday_before_may_25(year: int) -> date:
    d = date(year, 5, 24)
    return d - timedelta(days=d.weekday())


def next_day_if_sunday(*days: date) -> set[date]:
    return {d + timedelta(days=1) for d in days if d.weekday() == 6}


def federal(y: int) -> set[date]:
    """Interpretation Act (Canada) s.35(1), Holidays Act s.2, s.35(2)."""
    days = {
        date(y, 1, 1),
        EASTER[y] - timedelta(days=2),
        EASTER[y] + timedelta(days=1),
        monday_before_may_25(y),
        date(y, 7, 1),
        monday(y, 9, 1),
        monday(y, 10, 2),
        date(y, 11, 11),
        date(y, 12, 25),
    }
    if y >= 2021:
        days.add(date(y, 9, 30))
    return days | next_day_if_sunday(date(y, 1, 1), date(y, 7, 1), date(y, 11, 11))


def quebec(y: int) -> set[date]:
    """Interpretation Act (Quebec) s.61(23)."""
    days = {
        date(y, 1, 1),
        EASTER[y] - timedelta(days=2),
        EASTER[y] + timedelta(days=1),
        monday_before_may_25(y),
        date(y, 6, 24),
        date(y, 7, 1),
        monday(y, 9, 1),
        monday(y, 10, 2),
        date(y, 12, 25),
    }
    return days | next_day_if_sunday(date(y, 7, 1))


def british_columbia(y: int) -> set[date]:
    """Interpretation Act (BC) s.29: named dates, no observed days, no July 2."""
    days = {
        date(y, 1, 1),
        monday(y, 2, 3 if y >= 2019 else 2),
        EASTER[y] - timedelta(days=2),
        EASTER[y] + timedelta(days=1),
        monday_before_may_25(y),
        date(y, 7, 1),
        monday(y, 8, 1),
        monday(y, 9, 1),
        monday(y, 10, 2),
        date(y, 11, 11),
        date(y, 12, 25),
        date(y, 12, 26),
    }
    if y >= 2023:
        days.add(date(y, 9, 30))
    return days


def alberta(y: int) -> set[date]:
    """Interpretation Act (Alberta) s.28(1), as best known (see the procedure file)."""
    days = {
        date(y, 1, 1),
        monday(y, 2, 3),
        EASTER[y] - timedelta(days=2),
        EASTER[y] + timedelta(days=1),
        monday_before_may_25(y),
        date(y, 7, 1),
        monday(y, 9, 1),
        monday(y, 10, 2),
        date(y, 11, 11),
        date(y, 12, 25),
    }
    return days | next_day_if_sunday(date(y, 7, 1))


STATUTES = {"ca": federal, "ca-qc": quebec, "ca-bc": british_columbia, "ca-ab": alberta}


@pytest.mark.parametrize("cid", STATUTES)
@pytest.mark.parametrize("year", YEARS)
def test_each_calendar_is_its_statutes_list(cid: str, year: int):
    cal = calendar_for(SPECS, [cid])
    expected = STATUTES[cid](year)
    assert set(cal.holidays_in(year, weekly=False)) == expected
    d = date(year, 1, 1)
    while d.year == year:
        assert cal.is_holiday(d) == (d in expected or d.weekday() == 6), d
        d += timedelta(days=1)


def test_the_cases_dates():
    qc, bc, ca, ab = (calendar_for(SPECS, [c]) for c in ("ca-qc", "ca-bc", "ca", "ca-ab"))
    # The Fête nationale stays on its Saturday: the Act does not move it.
    assert date(2023, 6, 24).weekday() == 5
    assert qc.holiday_name(date(2023, 6, 24)) == "Saint Jean Baptiste Day"
    assert not qc.is_holiday(date(2023, 6, 26))
    # Canada Day 2023 was a Saturday: no July 2 (a Sunday anyway) nor July 3.
    assert date(2023, 7, 1).weekday() == 5 and not qc.is_holiday(date(2023, 7, 3))
    # The package's employment-standards 'observed' Mondays are not BC holidays.
    assert not bc.is_holiday(date(2021, 12, 27)) and not bc.is_holiday(date(2021, 12, 28))
    assert not bc.is_holiday(date(2022, 1, 3))
    assert bc.holiday_name(date(2022, 2, 21)) == "Family Day"
    assert bc.holiday_name(date(2024, 8, 5)) == "British Columbia Day"
    assert bc.holiday_name(date(2021, 4, 5)) == "Easter Monday"
    assert bc.holiday_name(date(2022, 12, 26)) == "Boxing Day"
    # The federal list has no Boxing Day and no Queen's funeral.
    assert not ca.is_holiday(date(2022, 12, 26)) and not ca.is_holiday(date(2022, 9, 19))
    assert not bc.is_holiday(date(2022, 9, 19))
    assert ca.holiday_name(date(2021, 9, 30)) == "National Day for Truth and Reconciliation"
    assert not ab.is_holiday(date(2021, 9, 30)) and not ab.is_holiday(date(2024, 8, 5))


@pytest.mark.parametrize("year", [2018, 2029])
def test_july_2_when_july_1_is_a_sunday(year: int):
    assert date(year, 7, 1).weekday() == 6
    july_2 = date(year, 7, 2)
    for cid in ("ca", "ca-qc", "ca-ab"):
        assert calendar_for(SPECS, [cid]).holiday_name(july_2) == "Canada Day (day after a Sunday)", cid
    # BC's Act names July 1 itself.
    assert not calendar_for(SPECS, ["ca-bc"]).is_holiday(july_2)


def test_names_and_sundays():
    qc = calendar_for(SPECS, ["ca-qc"])
    assert qc.holiday_name(date(2024, 3, 3)) == "Sunday"
    assert qc.holiday_name(date(2024, 3, 4)) is None
    # A named holiday on a Sunday is called by its name.
    assert qc.holiday_name(date(2022, 12, 25)) == "Christmas Day"
    year = qc.holidays_in(2024)
    assert sum(d.weekday() == 6 for d in year) == 52
    assert all(qc.is_holiday(d) for d in year)
    assert year[date(2024, 6, 24)] == "Saint Jean Baptiste Day"


def test_a_federal_case_in_a_province_takes_the_provinces_days_too():
    # Interpretation Act (Canada) s.35: "holiday" includes the province's non-juridical days.
    union = calendar_for(SPECS, ["ca", "ca-bc"])
    assert union.is_holiday(date(2022, 12, 26))  # BC only
    assert union.is_holiday(date(2022, 9, 30))  # federal only (BC from 2023)
    assert not union.is_holiday(date(2022, 12, 27))
    both = calendar_for(SPECS, ["ca", "ca-qc"])
    assert both.holiday_name(date(2024, 5, 20)) == "Victoria Day; National Patriots' Day"
    assert both.holiday_name(date(2024, 12, 25)) == "Christmas Day"
    assert set(both.holidays_in(2024, weekly=False)) == federal(2024) | quebec(2024)


def test_calendars_are_values():
    a, b = calendar_for(SPECS, ["ca-bc"]), calendar_for(dict(SPECS), ["ca-bc"])
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != calendar_for(SPECS, ["ca-ab"])
    assert isinstance(a, Calendar) and a.ids == ("ca-bc",)


@pytest.mark.parametrize("ids", [["nowhere"], ["ca", "nowhere"]])
def test_unknown_calendar_is_named(ids):
    with pytest.raises(ValueError, match=r"^calendars: unknown calendar 'nowhere'$"):
        calendar_for(SPECS, ids)


def test_every_included_name_exists_in_the_package():
    """A misspelt name in `include` would silently drop a holiday."""
    for cid, spec in SPECS.items():
        cal = calendar_for(SPECS, [cid])
        seen = {n for y in range(2020, 2027) for n in cal.holidays_in(y, weekly=False).values()}
        assert set(spec.include) <= seen, (cid, set(spec.include) - seen)


def test_add_and_remove_dated_days():
    spec = CalendarSpec(
        subdiv="BC",
        language="en_CA",
        add=[CalendarDay(date=date(2022, 9, 20), name="Day of mourning", cite="a proclamation")],
        remove=[CalendarDay(date=date(2022, 8, 1), name="British Columbia Day", cite="a repeal")],
    )
    cal = calendar_for({"x": spec}, ["x"])
    assert cal.holiday_name(date(2022, 9, 20)) == "Day of mourning"
    assert not cal.is_holiday(date(2022, 8, 1))
    assert cal.is_holiday(date(2023, 8, 7))  # a dated removal is one day, not the holiday


def test_stale_data_is_refused():
    stale = CalendarSpec(remove=[CalendarDay(date=date(2022, 8, 2), name="British Columbia Day", cite="x")])
    with pytest.raises(ValueError, match="calendars.remove: 2022-08-02"):
        calendar_for({"x": stale}, ["x"]).is_holiday(date(2022, 3, 1))
    with pytest.raises(ValueError, match="calendars.language"):
        calendar_for({"x": CalendarSpec(language="xx")}, ["x"]).is_holiday(date(2022, 3, 1))
    with pytest.raises(ValueError, match="calendars.x.weekly"):
        calendar_for({"x": CalendarSpec(weekly=[7])}, ["x"])


def test_the_package_defaults_are_not_the_statutes():
    """Why the procedure file corrects the package (holidays 0.109); if this changes, re-check the TOML."""
    bc = holidays.country_holidays("CA", subdiv="BC", years=[2021, 2022], language="en_CA")
    assert date(2021, 12, 27) in bc  # 'observed' Christmas: not in BC's Interpretation Act
    assert date(2021, 4, 5) not in bc  # Easter Monday: in s.29, not in the package
    assert date(2022, 9, 19) in bc  # the Queen's funeral
    federal_government = holidays.country_holidays("CA", years=2022, categories=("government",), language="en_CA")
    assert date(2022, 12, 26) in federal_government  # Boxing Day: Canada Labour Code, not s.35
    assert date(2022, 4, 18) not in federal_government  # Easter Monday: in s.35, not in the package
    quebec_public = holidays.country_holidays("CA", subdiv="QC", years=2018, language="en_CA")
    assert date(2018, 6, 25) in quebec_public  # June 24 moved off its Sunday: s.61(23) does not
    # Names follow the process locale unless the language is explicit.
    assert holidays.country_holidays("CA", years=2024, language="fr")[date(2024, 9, 2)] == "Fête du Travail"


@workflow.defn(sandboxed=True)
class _HolidaysInTheSandbox:
    @workflow.run
    async def run(self, days: list[str]) -> list[str | None]:
        # As the investigation workflows do: domain code runs through `pure`.
        cal = pure(calendar_for, load_procedure_calendars(), ["ca-bc", "ca-qc"])
        return [pure(cal.holiday_name, date.fromisoformat(d)) for d in days]


def load_procedure_calendars():
    # Procedure files are read outside the sandbox in real workflows; here the parsed specs are rebuilt
    # from a module-level value so that the workflow itself reads no file.
    return SPECS


async def test_calendars_work_inside_the_workflow_sandbox(skipping_env, task_queue):
    """The sandbox forbids what `holidays` does on first use (importing dateutil.parser, gettext)."""
    # Years no test above has built, so the sandboxed run builds them itself.
    days = ["2031-06-24", "2032-12-26", "2033-03-08"]
    # Any error fails the workflow at once instead of retrying its task until the test times out.
    async with Worker(
        skipping_env.client,
        task_queue=task_queue,
        workflows=[_HolidaysInTheSandbox],
        workflow_runner=RUNNER,
        workflow_failure_exception_types=[Exception],
    ):
        names = await skipping_env.client.execute_workflow(
            _HolidaysInTheSandbox.run, days, id=f"calendars-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert names == ["Saint Jean Baptiste Day", "Boxing Day", None]
