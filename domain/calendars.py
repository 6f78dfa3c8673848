"""Holiday calendars as the statutes define them, built from a procedure's `[calendars.*]` tables.

The `holidays` package supplies the dates; the procedure file corrects its lists to the Interpretation Act's
(see CalendarSpec). Everything here is a pure function of the spec and the year: no clock, no state besides
a cache, so workflow code may call it: the workflows import this module through the sandbox (passed
through) and call it with the sandbox's restrictions lifted (`workflows.record.pure`), because the package
reads its own translation files when it names a year's holidays.
"""

from __future__ import annotations

import calendar as _weekdays
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType

# All the country classes now, with this module: the package would otherwise import a country on first use,
# which inside a workflow the sandbox stops (dateutil reads the local time when imported).
import holidays.countries
from dateutil.easter import easter

from domain.procedure import CalendarSpec

_SUNDAY = 6


@dataclass(frozen=True)
class Calendar:
    """The union of one or more jurisdictions' holidays (Interpretation Act (Canada) s.35: in a province,
    a federal 'holiday' includes the province's non-juridical days). Hashable and cheap to build."""

    ids: tuple[str, ...]
    # Specs as canonical JSON: hashable cache keys that also compare by content, not by id.
    _keys: tuple[str, ...] = field(repr=False)
    weekly: frozenset[int]

    def is_holiday(self, d: date) -> bool:
        return d.weekday() in self.weekly or any(d in _year_table(k, d.year) for k in self._keys)

    def holiday_name(self, d: date) -> str | None:
        names: list[str] = []
        for key in self._keys:
            for name in _year_table(key, d.year).get(d, ()):
                if name not in names:
                    names.append(name)
        if not names and d.weekday() in self.weekly:
            names.append(_weekdays.day_name[d.weekday()])
        return "; ".join(names) or None

    def holidays_in(self, year: int, *, weekly: bool = True) -> dict[date, str]:
        """Every holiday of the year with its name; `weekly=False` leaves out the plain Sundays."""
        days: set[date] = set()
        for key in self._keys:
            days.update(_year_table(key, year))
        if weekly:
            d = date(year, 1, 1)
            while d.year == year:
                if d.weekday() in self.weekly:
                    days.add(d)
                d += timedelta(days=1)
        return {d: name for d in sorted(days) if (name := self.holiday_name(d))}


def calendar_for(specs: Mapping[str, CalendarSpec], ids: Sequence[str]) -> Calendar:
    if isinstance(ids, str) or not ids:
        raise ValueError("calendars: name at least one calendar")
    for cid in ids:
        if cid not in specs:
            raise ValueError(f"calendars: unknown calendar {cid!r}")
    chosen = [specs[cid] for cid in ids]
    for cid, spec in zip(ids, chosen, strict=True):
        if any(not 0 <= w <= 6 for w in spec.weekly):
            raise ValueError(f"calendars.{cid}.weekly: weekdays run from 0 (Monday) to 6 (Sunday)")
    weekly = frozenset(w for spec in chosen for w in spec.weekly)
    if len(weekly) == 7:
        # No day would be left for a deadline to roll over to.
        raise ValueError("calendars: weekly holidays cover the whole week")
    return Calendar(
        ids=tuple(ids),
        _keys=tuple(spec.model_dump_json() for spec in chosen),
        weekly=weekly,
    )


@lru_cache(maxsize=1024)
def _year_table(key: str, year: int) -> Mapping[date, tuple[str, ...]]:
    """The named (not weekly) holidays of one spec in one year."""
    spec = CalendarSpec.model_validate_json(key)
    # The year before too: a Dec 31 on a Sunday would make Jan 1 a holiday under `sunday_next`.
    days = _named_days(spec, year - 1) if spec.sunday_next else {}
    days |= _named_days(spec, year)
    for name in spec.sunday_next:
        for d in [d for d, names in days.items() if name in names and d.weekday() == _SUNDAY]:
            days.setdefault(d + timedelta(days=1), set()).add(f"{name} (day after a Sunday)")
    for extra in spec.add:
        days.setdefault(extra.date, set()).add(extra.name)
    for gone in spec.remove:
        if gone.date.year != year:
            continue
        if gone.name not in days.get(gone.date, ()):
            # Stale data (a package upgrade, a typo) must not silently leave a day in or out.
            raise ValueError(f"calendars.remove: {gone.date} is not {gone.name!r} in the package's list")
        days[gone.date].discard(gone.name)
    return MappingProxyType({d: tuple(sorted(n)) for d, n in sorted(days.items()) if d.year == year and n})


def _named_days(spec: CalendarSpec, year: int) -> dict[date, set[str]]:
    days: dict[date, set[str]] = {}
    if spec.country:
        days = _package_days(spec, year)
    for name, month_day in spec.annual.items():
        if name not in spec.exclude:
            days.setdefault(date.fromisoformat(f"{year:04d}-{month_day}"), set()).add(name)
    sunday = easter(year)
    for name, offset in spec.easter_offsets.items():
        if name not in spec.exclude:
            days.setdefault(sunday + timedelta(days=offset), set()).add(name)
    return days


def _package_days(spec: CalendarSpec, year: int) -> dict[date, set[str]]:
    entity = getattr(holidays.countries, spec.country or "", None)
    if not isinstance(entity, type):
        raise ValueError(f"calendars.country: the holidays package has no country {spec.country!r}")
    language = spec.language or entity.default_language
    if language not in entity.supported_languages:
        # The package would fall back to the process locale's language: names would vary by machine.
        raise ValueError(f"calendars.language: {language!r} is not one of {sorted(entity.supported_languages)}")
    # The package names holidays through gettext, reading its own translation files: same pinned files and
    # an explicit language, the same names on every worker.
    package = entity(
        subdiv=spec.subdiv,
        years=year,
        observed=spec.observed,
        categories=tuple(spec.categories),
        language=language,
    )
    days: dict[date, set[str]] = {}
    for d in package:
        for name in package.get_list(d):
            if (not spec.include or name in spec.include) and name not in spec.exclude:
                days.setdefault(d, set()).add(name)
    return days
