"""Archive's consumer: a registered document is filed into its case of the year."""

from __future__ import annotations

from typing import Any

import psycopg

from edms_archive.application import ArchiveApplication
from edms_contracts import DocumentRegistered, Envelope
from edms_contracts.topics import CONTROL_CARD, REGISTRY_DOCUMENT, ROUTING_ROUTE
from edms_runtime.consumer import Handler

TOPICS = (REGISTRY_DOCUMENT.name, ROUTING_ROUTE.name, CONTROL_CARD.name)


def handlers(app: ArchiveApplication) -> dict[str, Handler]:
    def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
        app.file_document(
            document_id=event.document_id,
            org=event.org,
            kind=event.kind,
            case_index=event.case_index,
            year=event.reg_date.year,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
        )

    return {DocumentRegistered.event_type(): on_registered}
