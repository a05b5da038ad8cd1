"""Deadline rules (pure): the regional rule set on top of the production calendar.

Sources: DOMAIN.md "Deadlines" — official documents are executed within 10 days unless another deadline is set;
"срочно" = 3 days, "оперативно" = 10 days, "весьма срочно" = 1 working day; a deadline that falls on a non-working
day moves to the preceding working day; deadlines count from the registration date. The same terms are in the
records-management rules of Rosarchiv (Order No. 44 of 22.05.2019), which edms_control.domain follows. Working days:
the Government decrees on transferring days off (2025: No. 1335 of 04.10.2024; 2026).
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from edms_contracts import ControlCardOpened, Urgency
from edms_contracts.topics import CONTROL_CARD
from edms_control.domain import REGIONAL_RULES, ControlCard, deadline_for
from edms_control.publishes import to_contract
from edms_runtime.calendar import ProductionCalendar

WEDNESDAY = date(2026, 11, 25)
FRIDAY = date(2026, 11, 27)


@pytest.fixture
def calendar() -> ProductionCalendar:
    return ProductionCalendar()


def test_every_urgency_mark_has_a_rule() -> None:
    assert set(REGIONAL_RULES) == set(Urgency)


# -- no mark: 10 days --------------------------------------------------------------------------------------------------
def test_no_mark_is_10_days_from_registration(calendar: ProductionCalendar) -> None:
    """DOMAIN.md "Deadlines": official documents are executed within 10 days; counted from the registration date."""
    deadline, rule = deadline_for(date(2026, 11, 23), Urgency.NONE, calendar)
    assert deadline == date(2026, 12, 3)  # a Thursday, a working day: not moved
    assert rule.name == "default"


def test_no_mark_on_a_saturday_moves_back_to_friday(calendar: ProductionCalendar) -> None:
    """DOMAIN.md "Deadlines": a deadline on a non-working day moves to the preceding working day (05.12.2026 is a
    Saturday, so a document registered on 25.11.2026 is due on Friday 04.12.2026)."""
    deadline, _ = deadline_for(WEDNESDAY, Urgency.NONE, calendar)
    assert deadline == date(2026, 12, 4)


def test_no_mark_on_a_sunday_moves_back_to_friday(calendar: ProductionCalendar) -> None:
    deadline, _ = deadline_for(date(2026, 11, 26), Urgency.NONE, calendar)  # + 10 = Sunday 06.12.2026
    assert deadline == date(2026, 12, 4)


def test_no_mark_moves_back_over_a_transferred_day_off(calendar: ProductionCalendar) -> None:
    """Decree for 2026: Thursday 31.12.2026 is a day off (transferred from Sunday 04.01.2026)."""
    deadline, _ = deadline_for(date(2026, 12, 21), Urgency.NONE, calendar)
    assert deadline == date(2026, 12, 30)


def test_no_mark_moves_back_to_a_working_saturday(calendar: ProductionCalendar) -> None:
    """Decree No. 1335 of 04.10.2024: Saturday 01.11.2025 was a working day, Monday 03.11 and Tuesday 04.11 were off."""
    deadline, _ = deadline_for(date(2025, 10, 25), Urgency.NONE, calendar)  # + 10 = Tuesday 04.11.2025
    assert deadline == date(2025, 11, 1)


def test_operative_is_10_days_like_no_mark(calendar: ProductionCalendar) -> None:
    """DOMAIN.md "Deadlines": "оперативно" = 10 days."""
    deadline, rule = deadline_for(WEDNESDAY, Urgency.OPERATIVE, calendar)
    assert deadline == date(2026, 12, 4)
    assert rule.name == "operative"


# -- urgent: 3 days ----------------------------------------------------------------------------------------------------
def test_urgent_is_3_days(calendar: ProductionCalendar) -> None:
    """DOMAIN.md "Deadlines": "срочно" = 3 days."""
    deadline, rule = deadline_for(date(2026, 11, 23), Urgency.URGENT, calendar)
    assert deadline == date(2026, 11, 26)
    assert rule.name == "urgent"


def test_urgent_falling_on_a_weekend_moves_back(calendar: ProductionCalendar) -> None:
    deadline, _ = deadline_for(date(2026, 12, 3), Urgency.URGENT, calendar)  # + 3 = Sunday 06.12.2026
    assert deadline == date(2026, 12, 4)


# -- very urgent: 1 working day ----------------------------------------------------------------------------------------
def test_very_urgent_is_the_next_working_day(calendar: ProductionCalendar) -> None:
    """DOMAIN.md "Deadlines": "весьма срочно" = 1 working day."""
    deadline, rule = deadline_for(WEDNESDAY, Urgency.VERY_URGENT, calendar)
    assert deadline == date(2026, 11, 26)
    assert rule.name == "very_urgent"


def test_very_urgent_registered_on_friday_is_due_on_monday(calendar: ProductionCalendar) -> None:
    deadline, _ = deadline_for(FRIDAY, Urgency.VERY_URGENT, calendar)
    assert deadline == date(2026, 11, 30)


def test_very_urgent_before_the_new_year_holidays(calendar: ProductionCalendar) -> None:
    """Decree for 2026: 31.12.2026 and the New Year holidays are off; the next working day is Monday 11.01.2027."""
    deadline, _ = deadline_for(date(2026, 12, 30), Urgency.VERY_URGENT, calendar)
    assert deadline == date(2027, 1, 11)


# -- regional days off -------------------------------------------------------------------------------------------------
def test_a_regional_day_off_moves_the_deadline(calendar: ProductionCalendar) -> None:
    """DOMAIN.md "Deadlines": working days follow the production calendar plus regional days off."""
    regional = calendar.with_days_off({date(2026, 12, 4)})
    assert deadline_for(WEDNESDAY, Urgency.NONE, regional)[0] == date(2026, 12, 3)
    assert deadline_for(date(2026, 12, 3), Urgency.VERY_URGENT, regional)[0] == date(2026, 12, 7)


def test_every_deadline_of_2026_is_a_working_day_not_before_registration(calendar: ProductionCalendar) -> None:
    """Every rule, for registration on any working day of 2026, gives a working day on or after the registration."""
    day = date(2026, 1, 1)
    while day.year == 2026:
        if calendar.is_working_day(day):
            for urgency in Urgency:
                deadline, _ = deadline_for(day, urgency, calendar)
                assert calendar.is_working_day(deadline), (day, urgency, deadline)
                assert deadline >= day, (day, urgency, deadline)
        day = date.fromordinal(day.toordinal() + 1)


def test_urgent_moved_back_over_a_holiday_weekend_can_be_the_registration_day(calendar: ProductionCalendar) -> None:
    """The literal rule: Friday 20.02.2026 + 3 = Monday 23.02 (Defender of the Fatherland Day); the preceding
    working day is the Friday itself, so an urgent letter registered that day is due the same day."""
    assert deadline_for(date(2026, 2, 20), Urgency.URGENT, calendar)[0] == date(2026, 2, 20)


# -- control cards -----------------------------------------------------------------------------------------------------
def test_control_card_id_is_one_per_document() -> None:
    """A redelivered registration must not open a second card: the id is derived from the document id."""
    document = uuid.uuid4()
    card = ControlCard(
        document_id=document,
        reg_number="01-10/1",
        reg_date=WEDNESDAY,
        org="demo-region",
        deadline=date(2026, 12, 4),
        rule="default",
    )
    assert card.id == ControlCard.create_id(document)
    assert ControlCard.create_id(document) != ControlCard.create_id(uuid.uuid4())
    assert card.status_on(WEDNESDAY, ProductionCalendar(), 2) == "on_time"


def test_an_opened_card_is_published_with_its_deadline() -> None:
    document = uuid.uuid4()
    card = ControlCard(
        document_id=document,
        reg_number="01-10/1",
        reg_date=WEDNESDAY,
        org="demo-region",
        deadline=date(2026, 12, 4),
        rule="default",
    )
    (opened,) = card.collect_events()
    outgoing = to_contract(opened)
    assert outgoing is not None
    assert outgoing.topic == CONTROL_CARD
    assert outgoing.payload == ControlCardOpened(
        card_id=card.id,
        document_id=document,
        reg_number="01-10/1",
        deadline=date(2026, 12, 4),
        rule="default",
        reg_date=WEDNESDAY,
        org="demo-region",
    )
