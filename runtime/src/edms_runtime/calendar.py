"""Business calendar: Russian production calendar (with transferred days off) plus regional days off, as data.

Source: the production calendar set each year by a Decree of the Government of the Russian Federation on moving
days off (e.g. No. 1335 of 04.10.2024 for 2025); the `holidays` package carries these transfers, including
Saturdays made working days. Regional days off and per-year corrections are added on top as data (DOMAIN.md
"Deadlines": the calendar is data, per year, editable): an administrator's correction of a year
(`CalendarYear`, edms_control.domain) lists the days it makes off and the days it makes working.

One calendar for every service: control counts deadlines on it and owns the corrections, publishing each as
`CalendarCorrected`; routing counts its stage norms on it, with the corrections it learns from those events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import holidays


@dataclass
class ProductionCalendar:
    extra_days_off: set[date] = field(default_factory=set)
    extra_working_days: set[date] = field(default_factory=set)
    _years: dict[int, holidays.HolidayBase] = field(default_factory=dict, repr=False)

    def _country(self, year: int) -> holidays.HolidayBase:
        if year not in self._years:
            self._years[year] = holidays.country_holidays("RU", years=year)
        return self._years[year]

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.extra_days_off:
            return False
        return self.is_federal_working_day(day)

    def is_federal_working_day(self, day: date) -> bool:
        """By the federal production calendar alone (no regional corrections)."""
        return bool(self._country(day.year).is_working_day(day))

    def preceding_working_day(self, day: date) -> date:
        """The day itself if it is a working day, else the nearest earlier working day."""
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def add_working_days(self, start: date, days: int) -> date:
        day = start
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when `end` is not after `start`)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def with_days_off(self, days: Iterable[date]) -> ProductionCalendar:
        return ProductionCalendar(self.extra_days_off | set(days), set(self.extra_working_days))

    def with_corrections(self, year: int, days_off: Iterable[date], working_days: Iterable[date]) -> ProductionCalendar:
        """This calendar with `year`'s corrections replaced by these (the other years' kept)."""
        keep_off = {d for d in self.extra_days_off if d.year != year}
        keep_working = {d for d in self.extra_working_days if d.year != year}
        return ProductionCalendar(keep_off | set(days_off), keep_working | set(working_days), self._years)
