"""Registry's consumer: a draft that routing reports signed gets its number. Thin: it hands off to the application."""

from __future__ import annotations

from typing import Any

import psycopg

from edms_contracts import DocumentSigned, Envelope
from edms_registry.application import RegistryApplication
from edms_runtime.consumer import Handlers


def policies(app: RegistryApplication) -> Handlers:
    def on_signed(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentSigned) -> None:
        app.register_signed(
            conn,
            event.document_id,
            signed_by=event.signed_by,
            reg_date=app.local_date(envelope.occurred_at),
            causation_id=envelope.event_id,
        )

    return {DocumentSigned: on_signed}
