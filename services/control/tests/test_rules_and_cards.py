"""Deadline rules as data, the calendar's corrections, control cards of assignments, reminders (in memory).

Sources: DOMAIN.md "Deadlines" (10 days; срочно 3 days; оперативно 10 days; весьма срочно 1 working day; no mark and
no date 1 month; a deadline on a non-working day moves to the preceding working day; stage norms; an extension
granted before the deadline moves it, one asked after does not); Federal Law No. 59-ФЗ art. 12 (30 days for an
appeal); Decree of the Government of the RF No. 477 of 15.06.2009 item 60; Order of Rosarchiv No. 44 of 22.05.2019.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from edms_contracts import Urgency
from edms_contracts.control import ControlAssignmentOpened, ControlDeadlineMoved, ControlOverdue
from edms_control.application import ControlApplication
from edms_control.domain import (
    DONE_LATE,
    DONE_ON_TIME,
    DUE_SOON,
    ON_TIME,
    OVERDUE,
    RULES,
    STAGE_NORMS,
    InconsistentCalendar,
    UnknownRule,
    add_months,
    check_corrections,
    rule_named,
)
from edms_control.publishes import to_contract
from edms_runtime.calendar import ProductionCalendar

ORG = "demo-region"
CAL = ProductionCalendar()


class Clocked(ControlApplication):
    """The application on the in-memory store, with a clock the test sets."""

    now = date(2026, 11, 23)

    def today(self) -> date:
        return self.now


@pytest.fixture
def control() -> Clocked:
    app = Clocked(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.calendar_seconds = 0.0
    return app


# -- rules -------------------------------------------------------------------------------------------------------------
def test_every_rule_the_issue_names_exists_and_names_its_source() -> None:
    for name in ("default", "urgent", "operative", "very_urgent", "unmarked", "appeal"):
        assert RULES[name].source, name
    assert STAGE_NORMS == {"registration": 1, "resolution": 1, "draft": 1, "approval": 3, "signing": 1}


def test_appeal_is_30_days_by_59_fz_moved_back_from_a_weekend() -> None:
    """59-ФЗ art. 12: 30 days from registration; 02.11.2026 + 30 = Wednesday 02.12.2026."""
    assert RULES["appeal"].deadline(date(2026, 11, 2), CAL) == date(2026, 12, 2)
    assert "59-ФЗ" in RULES["appeal"].source
    # 06.11.2026 + 30 = Sunday 06.12.2026 -> Friday 04.12.2026
    assert RULES["appeal"].deadline(date(2026, 11, 6), CAL) == date(2026, 12, 4)


def test_unmarked_is_one_month_and_the_months_last_day_when_shorter() -> None:
    """Decree No. 477 item 60: no mark and no date = 1 month; 31.03 + 1 month = 30.04."""
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert RULES["unmarked"].deadline(date(2026, 3, 31), CAL) == date(2026, 4, 30)
    # 03.10.2026 + 1 month = Tuesday 03.11.2026 (a working day before Unity Day)
    assert RULES["unmarked"].deadline(date(2026, 10, 3), CAL) == date(2026, 11, 3)


def test_stage_norms_count_working_days() -> None:
    """DOMAIN.md: approving the draft takes 3 working days: Friday 27.11.2026 -> Wednesday 02.12.2026."""
    assert RULES["stage_approval"].deadline(date(2026, 11, 27), CAL) == date(2026, 12, 2)


def test_an_unknown_rule_is_refused_naming_the_field() -> None:
    with pytest.raises(UnknownRule) as error:
        rule_named("fast")
    assert error.value.errors[0][0] == "rule"


# -- the calendar as data ----------------------------------------------------------------------------------------------
def test_inconsistent_corrections_are_refused_with_every_reason() -> None:
    """DOMAIN.md: the calendar is data per year; a day cannot be both off and working, nor of another year."""
    with pytest.raises(InconsistentCalendar) as error:
        check_corrections(2026, [date(2026, 12, 4), date(2027, 1, 20)], [date(2026, 12, 4)], "закон области")
    assert ("days_off", "2027-01-20 is not in 2026") in error.value.errors
    assert ("working_days", "2026-12-04 is also a day off") in error.value.errors


def test_a_correction_moves_open_deadlines_and_says_why(control: Clocked) -> None:
    """A regional day off on Friday 04.12.2026 moves a default deadline (25.11 + 10 = 05.12 -> 04.12) back to
    Thursday 03.12; the answer names the card, both dates and the reason with the calendar's version."""
    document = uuid.uuid4()
    control.open_card(
        document_id=document, reg_number="01/1", reg_date=date(2026, 11, 25), org=ORG, urgency=Urgency.NONE, access=None
    )
    card_id = control.card_of(document).id
    assert control.card_of(document).deadline == date(2026, 12, 4)
    year, moved = control.correct_calendar(
        2026, days_off=[date(2026, 12, 4)], working_days=[], reason="День области", by="admin", open_cards=[card_id]
    )
    assert len(year.changes) == 1
    assert [(m.subject_id, m.previous, m.deadline) for m in moved] == [(document, date(2026, 12, 4), date(2026, 12, 3))]
    assert "calendar 2026 version 1: День области" in moved[0].reason
    assert control.card_of(document).deadline == date(2026, 12, 3)
    assert not control.calendar.is_working_day(date(2026, 12, 4))
    # version 2 takes the day off back: the deadline returns
    _, moved = control.correct_calendar(
        2026, days_off=[], working_days=[], reason="отменено", by="admin", open_cards=[card_id]
    )
    assert [m.deadline for m in moved] == [date(2026, 12, 4)]
    assert len(control.calendar_year(2026).changes) == 2  # type: ignore[union-attr]


# -- assignment cards --------------------------------------------------------------------------------------------------
def _assign(control: Clocked, deadline: date, document: uuid.UUID | None = None) -> uuid.UUID:
    assignment = uuid.uuid4()
    control.open_assignment(
        assignment_id=assignment,
        document_id=document or uuid.uuid4(),
        org=ORG,
        deadline=deadline,
        executor="ivanov",
        co_executors=[],
        controller=None,
        author="head1",
        unit="01",
        access=None,
        parent_id=None,
        opened_on=date(2026, 11, 23),
        text="Подготовить ответ",
    )
    return assignment


def test_assignment_card_is_published_with_executor_and_controller(control: Clocked) -> None:
    assignment = _assign(control, date(2026, 12, 4))
    card = control.card_of(assignment)
    assert (card.kind, card.executor, card.controller) == ("assignment", "ivanov", "head1")
    events = control.repository.event_store.get(card.id)
    outgoing = to_contract(next(iter(events)))
    assert outgoing is not None
    assert isinstance(outgoing.payload, ControlAssignmentOpened)


def test_statuses_over_time(control: Clocked) -> None:
    """on_time, due_soon (2 working days ahead), overdue once the deadline day has ended, then done late."""
    card = control.card_of(_assign(control, date(2026, 12, 4)))
    assert card.status_on(date(2026, 11, 30), CAL, 2) == ON_TIME
    assert card.status_on(date(2026, 12, 2), CAL, 2) == DUE_SOON
    assert card.status_on(date(2026, 12, 4), CAL, 2) == DUE_SOON  # the deadline day itself is still in time
    assert card.status_on(date(2026, 12, 5), CAL, 2) == OVERDUE
    card.close(date(2026, 12, 7), "head1")
    assert card.status_on(date(2026, 12, 8), CAL, 2) == DONE_LATE


def test_extension_granted_before_the_deadline_moves_it(control: Clocked) -> None:
    """DOMAIN.md: an extension granted before the deadline moves the deadline."""
    assignment = _assign(control, date(2026, 12, 4))
    control.extend(assignment, new_deadline=date(2026, 12, 11), requested_on=date(2026, 12, 2), on=date(2026, 12, 3),
                   by="head1")  # fmt: skip
    control.accept(assignment, done_on=date(2026, 12, 10), by="head1")
    card = control.card_of(assignment)
    assert (card.deadline, card.late_after) == (date(2026, 12, 11), date(2026, 12, 11))
    assert card.status_on(date(2026, 12, 20), CAL, 2) == DONE_ON_TIME
    assert [h["what"] for h in card.history] == ["opened", "deadline_moved", "closed"]


def test_extension_asked_after_the_deadline_does_not_excuse_lateness(control: Clocked) -> None:
    """DOMAIN.md: an extension asked after the deadline does not move it (for lateness)."""
    assignment = _assign(control, date(2026, 12, 4))
    control.extend(assignment, new_deadline=date(2026, 12, 11), requested_on=date(2026, 12, 7), on=date(2026, 12, 7),
                   by="head1")  # fmt: skip
    control.accept(assignment, done_on=date(2026, 12, 10), by="head1")
    card = control.card_of(assignment)
    assert (card.deadline, card.late_after) == (date(2026, 12, 11), date(2026, 12, 4))
    assert card.status_on(date(2026, 12, 20), CAL, 2) == DONE_LATE
    moved = next(e for e in control.repository.event_store.get(card.id) if type(e).__name__ == "DeadlineMoved")
    payload = to_contract(moved)
    assert payload is not None
    assert isinstance(payload.payload, ControlDeadlineMoved)
    assert payload.payload.counts is False


def test_a_document_is_done_with_its_last_assignment(control: Clocked) -> None:
    document = uuid.uuid4()
    control.open_card(
        document_id=document, reg_number="01/2", reg_date=date(2026, 11, 23), org=ORG, urgency=Urgency.NONE, access=None
    )
    first, second = _assign(control, date(2026, 12, 1), document), _assign(control, date(2026, 12, 2), document)
    control.accept(first, done_on=date(2026, 11, 30), by="head1")
    assert control.card_of(document).done_on is None
    control.accept(second, done_on=date(2026, 12, 1), by="head1")
    assert control.card_of(document).done_on == date(2026, 12, 1)
    assert control.card_of(second).reg_number == "01/2"


# -- reminders ---------------------------------------------------------------------------------------------------------
def test_each_reminder_is_issued_once_per_deadline(control: Clocked) -> None:
    assignment = _assign(control, date(2026, 12, 4))
    card_id = control.card_of(assignment).id
    control.now = date(2026, 11, 30)
    assert control.remind(card_id, control.now, ["boss"]) is None  # 4 working days ahead: nothing yet
    control.now = date(2026, 12, 2)
    assert control.remind(card_id, control.now, ["boss"]) == "due_soon"
    assert control.remind(card_id, control.now, ["boss"]) is None
    control.now = date(2026, 12, 5)
    assert control.remind(card_id, control.now, ["boss"]) == "overdue"
    assert control.remind(card_id, date(2026, 12, 6), ["boss"]) is None
    events = list(control.repository.event_store.get(card_id))
    overdue = to_contract(events[-1])
    assert overdue is not None
    assert isinstance(overdue.payload, ControlOverdue)
    assert [(r.login, r.role) for r in overdue.payload.recipients] == [
        ("ivanov", "executor"),
        ("head1", "controller"),
        ("boss", "head"),
    ]
