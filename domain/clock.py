"""The case clock: the investigation's own dates, whatever the server's clock says.

A case opened today runs on the real clock. A case opened in the past (a simulation, a file migrated from
another system) runs shifted by a whole number of days, so its events carry its own dates and its deadlines
use those years' holidays. The shift is fixed when the investigation opens and carried for its whole life.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict


class CaseClock(BaseModel):
    model_config = ConfigDict(frozen=True)

    offset_days: int = 0

    @classmethod
    def starting(cls, real_now: datetime, opened: date) -> CaseClock:
        return cls(offset_days=(real_now.astimezone(UTC).date() - opened).days)

    def case_time(self, real: datetime) -> datetime:
        return real.astimezone(UTC) - timedelta(days=self.offset_days)

    def real_time(self, case: datetime) -> datetime:
        return case.astimezone(UTC) + timedelta(days=self.offset_days)

    def start_of_day(self, day: date) -> datetime:
        """The real instant a day of the case calendar begins (what `NextDeadline` shows for a due date)."""
        return self.real_time(datetime.combine(day, time(0), tzinfo=UTC))

    def end_of_day(self, day: date) -> datetime:
        """The real instant a deadline due on `day` (case calendar) runs out: the start of the next day."""
        return self.real_time(datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC))
