"""The production calendar (pure): weekends, public holidays and the days off the Government transfers each year.

Sources: Labour Code of the RF, art. 112 (public holidays and the transfer of days off); the Decrees of the
Government of the RF on transferring days off — No. 1335 of 04.10.2024 for 2025 (e.g. Saturday 04.01 -> Friday 02.05,
Sunday 05.01 -> Wednesday 31.12, Saturday 01.11 worked for Monday 03.11) and the decree for 2026 (Saturday 03.01 ->
Friday 09.01, Sunday 04.01 -> Thursday 31.12). DOMAIN.md "Deadlines": working days follow the Russian production
calendar plus regional days off; the calendar is data, per year, editable.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from edms_runtime.calendar import ProductionCalendar


@pytest.fixture
def calendar() -> ProductionCalendar:
    return ProductionCalendar()


#: (day, working?, why) — the production calendar's notable days of 2025 and 2026.
CALENDAR_DAYS: list[tuple[date, bool, str]] = [
    (date(2025, 11, 1), True, "a Saturday made a working day (decree No. 1335 of 04.10.2024)"),
    (date(2025, 11, 3), False, "the Monday off in exchange for Saturday 01.11.2025"),
    (date(2025, 11, 4), False, "Unity Day"),
    (date(2025, 5, 2), False, "transferred from Saturday 04.01.2025"),
    (date(2025, 12, 31), False, "transferred from Sunday 05.01.2025"),
    (date(2026, 1, 8), False, "New Year holidays"),
    (date(2026, 1, 9), False, "transferred from Saturday 03.01.2026"),
    (date(2026, 1, 12), True, "the first working day of 2026"),
    (date(2026, 12, 31), False, "transferred from Sunday 04.01.2026"),
    (date(2026, 12, 5), False, "an ordinary Saturday"),
    (date(2026, 12, 6), False, "an ordinary Sunday"),
    (date(2026, 12, 4), True, "an ordinary Friday"),
    (date(2026, 11, 25), True, "an ordinary Wednesday"),
    (date(2026, 12, 30), True, "the last working day of 2026"),
]


@pytest.mark.parametrize(("day", "working", "why"), CALENDAR_DAYS, ids=[d.isoformat() for d, _, _ in CALENDAR_DAYS])
def test_production_calendar_days(calendar: ProductionCalendar, day: date, working: bool, why: str) -> None:
    """Government decrees on transferring days off (2025: No. 1335 of 04.10.2024; 2026)."""
    assert calendar.is_working_day(day) is working, f"{day}: {why}"


def test_a_year_has_the_usual_number_of_working_days(calendar: ProductionCalendar) -> None:
    """Production calendar: 2025 has 247 working days, 2026 has 247 (the published norms of working time)."""
    for year, expected in ((2025, 247), (2026, 247)):
        day, count = date(year, 1, 1), 0
        while day.year == year:
            count += calendar.is_working_day(day)
            day += timedelta(days=1)
        assert count == expected, year


# -- preceding working day ---------------------------------------------------------------------------------------------
def test_preceding_working_day_of_a_working_day_is_the_day_itself(calendar: ProductionCalendar) -> None:
    assert calendar.preceding_working_day(date(2026, 11, 25)) == date(2026, 11, 25)
    assert calendar.preceding_working_day(date(2025, 11, 1)) == date(2025, 11, 1)  # working Saturday


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 12, 5), date(2026, 12, 4)),  # Saturday -> Friday
        (date(2026, 12, 6), date(2026, 12, 4)),  # Sunday -> Friday
        (date(2025, 11, 4), date(2025, 11, 1)),  # Unity Day, Monday 03.11 off -> the working Saturday 01.11
        (date(2025, 5, 4), date(2025, 4, 30)),  # 01.05 - 04.05.2025 are all days off
        (date(2026, 1, 9), date(2025, 12, 30)),  # New Year holidays reach back into the previous year
    ],
)
def test_preceding_working_day_skips_back_over_days_off(
    calendar: ProductionCalendar, day: date, expected: date
) -> None:
    """DOMAIN.md "Deadlines": a deadline that falls on a non-working day moves to the preceding working day."""
    assert calendar.preceding_working_day(day) == expected


# -- adding working days -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 11, 25), 1, date(2026, 11, 26)),
        (date(2026, 11, 27), 1, date(2026, 11, 30)),  # Friday -> Monday
        (date(2026, 11, 27), 5, date(2026, 12, 4)),
        (date(2025, 10, 31), 1, date(2025, 11, 1)),  # Friday -> the working Saturday
        (date(2025, 11, 1), 1, date(2025, 11, 5)),  # over 02.11 (Sunday), 03.11 (transferred) and 04.11 (Unity Day)
        (date(2026, 12, 30), 1, date(2027, 1, 11)),  # over 31.12 and the New Year holidays
        (date(2026, 11, 25), 0, date(2026, 11, 25)),
    ],
)
def test_add_working_days(calendar: ProductionCalendar, start: date, days: int, expected: date) -> None:
    """DOMAIN.md "Deadlines": "весьма срочно" = 1 working day, counted by the production calendar."""
    assert calendar.add_working_days(start, days) == expected


def test_add_working_days_from_a_day_off_counts_the_next_working_day(calendar: ProductionCalendar) -> None:
    assert calendar.add_working_days(date(2026, 12, 5), 1) == date(2026, 12, 7)  # Saturday -> Monday


# -- regional corrections ----------------------------------------------------------------------------------------------
def test_regional_days_off_are_added_as_data(calendar: ProductionCalendar) -> None:
    """DOMAIN.md "Deadlines": the production calendar plus regional days off; the calendar is data, editable."""
    regional_holiday = date(2026, 11, 26)  # a Thursday declared a day off by the region
    regional = calendar.with_days_off({regional_holiday})
    assert not regional.is_working_day(regional_holiday)
    assert calendar.is_working_day(regional_holiday)  # the federal calendar is not changed
    assert regional.preceding_working_day(regional_holiday) == date(2026, 11, 25)
    assert regional.add_working_days(date(2026, 11, 25), 1) == date(2026, 11, 27)


def test_extra_working_days_override_the_federal_calendar() -> None:
    saturday = date(2026, 12, 5)
    corrected = ProductionCalendar(extra_working_days={saturday})
    assert corrected.is_working_day(saturday)
    assert corrected.preceding_working_day(date(2026, 12, 6)) == saturday
    kept = corrected.with_days_off({date(2026, 12, 7)})
    assert kept.is_working_day(saturday)
    assert not kept.is_working_day(date(2026, 12, 7))
