"""Reminders exactly once when two replicas race (issue 9, item 4), against the real PostgreSQL event store: both
load the same card and decide to remind; the second save fails on the card's version and issues nothing.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from edms_control.application import ControlApplication
from edms_control.domain import Card
from edms_runtime.eventstore import build_application


def test_two_replicas_remind_once(fresh_database_url: str) -> None:
    first = build_application(ControlApplication, fresh_database_url, "control")
    second = build_application(ControlApplication, fresh_database_url, "control")
    assignment = uuid.uuid4()
    first.open_assignment(
        assignment_id=assignment, document_id=uuid.uuid4(), org="demo-region", deadline=date(2026, 12, 4),
        executor="ivanov", co_executors=[], controller="ctl", author="boss", unit="u1", access=None, parent_id=None,
        opened_on=date(2026, 11, 23), text="Ответить",
    )  # fmt: skip
    card_id = Card.create_id(assignment)
    overdue = date(2026, 12, 7)
    # both replicas have loaded the card before either saved: the race
    stale: Card = second.repository.get(card_id)
    assert first.remind(card_id, overdue, ["boss"]) == "overdue"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(second, "_card", lambda _: stale)  # the copy it loaded before the first one saved
        assert second.remind(card_id, overdue, ["boss"]) is None  # its save fails on the card's version
    assert second.remind(card_id, overdue, ["boss"]) is None  # reloaded: already reminded for this deadline
    events = [type(e).__name__ for e in first.repository.event_store.get(card_id)]
    assert events.count("Overdue") == 1
    first.close()
    second.close()
