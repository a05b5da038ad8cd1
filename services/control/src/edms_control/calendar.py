"""Business calendar: Russian production calendar (with transferred days off) plus regional days off, as data.

Source: the production calendar set each year by a Decree of the Government of the Russian Federation on moving
days off (e.g. No. 1335 of 04.10.2024 for 2025); the `holidays` package carries these transfers, including
Saturdays made working days. Regional days off and per-year corrections are added on top as data.
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

    def with_days_off(self, days: Iterable[date]) -> ProductionCalendar:
        return ProductionCalendar(self.extra_days_off | set(days), set(self.extra_working_days))
