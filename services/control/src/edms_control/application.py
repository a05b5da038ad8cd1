"""Control's write side."""

from __future__ import annotations

import uuid
from datetime import date

from eventsourcing.application import AggregateNotFoundError

from edms_contracts import Urgency
from edms_control.calendar import ProductionCalendar
from edms_control.domain import ControlCard, deadline_for
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.http import NotFound


class CardNotFound(NotFound):
    pass


class ControlApplication(ServiceApplication):
    calendar = ProductionCalendar()

    def open_card(
        self,
        *,
        document_id: uuid.UUID,
        reg_number: str,
        reg_date: date,
        org: str,
        urgency: Urgency,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        deadline, rule = deadline_for(reg_date, urgency, self.calendar)
        card = ControlCard(
            document_id=document_id,
            reg_number=reg_number,
            reg_date=reg_date,
            org=org,
            deadline=deadline,
            rule=rule.name,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        self.save_once(card)

    def card_of(self, document_id: uuid.UUID) -> ControlCard:
        try:
            card: ControlCard = self.repository.get(ControlCard.create_id(document_id))
        except AggregateNotFoundError:
            raise CardNotFound(f"no control card for document {document_id} (yet)") from None
        return card
