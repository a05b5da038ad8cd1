"""Control's consumer: a registered document is put on control with its deadline."""

from __future__ import annotations

from typing import Any

import psycopg

from edms_contracts import DocumentRegistered, Envelope
from edms_contracts.topics import REGISTRY_DOCUMENT, ROUTING_ROUTE
from edms_control.application import ControlApplication
from edms_runtime.consumer import Handler

TOPICS = (REGISTRY_DOCUMENT.name, ROUTING_ROUTE.name)


def handlers(app: ControlApplication) -> dict[str, Handler]:
    def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
        app.open_card(
            document_id=event.document_id,
            reg_number=event.reg_number,
            reg_date=event.reg_date,
            org=event.org,
            urgency=event.urgency,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
        )

    return {DocumentRegistered.event_type(): on_registered}
