"""Control cards and deadline rules: pure domain, no I/O.

Deadline rules (DOMAIN.md, "Deadlines"):
- an official document is executed within 10 days of its registration unless another deadline is set (the
  regional instruction on records management; DOMAIN.md "Deadlines", first rule);
- "срочно" (urgent) = 3 days, "оперативно" (operative) = 10 days (Rules of records management in federal executive
  bodies, Decree of the Government of the RF No. 477 of 15.06.2009, item 60); "весьма срочно" = 1 working day;
- deadlines count from the registration date; a deadline that falls on a non-working day moves to the preceding
  working day (Rules of records management in state and local self-government bodies, Order of Rosarchiv No. 44 of
  22.05.2019).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from eventsourcing.domain import Aggregate, event

from edms_contracts import Urgency
from edms_control.calendar import ProductionCalendar

NAMESPACE = uuid.UUID("3e0f2a77-5b2d-4d59-9c1a-6b8e5f7d9e21")


@dataclass(frozen=True)
class DeadlineRule:
    name: str
    calendar_days: int = 0
    working_days: int = 0

    def deadline(self, reg_date: date, calendar: ProductionCalendar) -> date:
        if self.working_days:
            return calendar.add_working_days(reg_date, self.working_days)
        return calendar.preceding_working_day(reg_date + timedelta(days=self.calendar_days))


#: The regional rule set: 10 days by default (official documents), federal urgency marks on top.
REGIONAL_RULES: dict[Urgency, DeadlineRule] = {
    Urgency.NONE: DeadlineRule("official-10-days", calendar_days=10),
    Urgency.URGENT: DeadlineRule("urgent-3-days", calendar_days=3),
    Urgency.OPERATIVE: DeadlineRule("operative-10-days", calendar_days=10),
    Urgency.VERY_URGENT: DeadlineRule("very-urgent-1-working-day", working_days=1),
}


def deadline_for(reg_date: date, urgency: Urgency, calendar: ProductionCalendar) -> tuple[date, DeadlineRule]:
    rule = REGIONAL_RULES[urgency]
    return rule.deadline(reg_date, calendar), rule


class ControlCard(Aggregate):
    """A control card (контрольная карточка): the document is on control until executed."""

    @staticmethod
    def create_id(document_id: uuid.UUID, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"control-card/{document_id}")

    @event("Opened")
    def __init__(
        self,
        document_id: uuid.UUID,
        reg_number: str,
        reg_date: date,
        org: str,
        deadline: date,
        rule: str,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        self.document_id = document_id
        self.reg_number = reg_number
        self.reg_date = reg_date
        self.org = org
        self.deadline = deadline
        self.rule = rule
        self.status = "on_control"
