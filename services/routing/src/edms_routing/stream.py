"""Routing's consumer: a registered document starts the route of its kind. Thin: it hands off to the application."""

from __future__ import annotations

from typing import Any

import psycopg

from edms_contracts import DocumentRegistered, Envelope
from edms_contracts.topics import REGISTRY_DOCUMENT
from edms_routing.application import RoutingApplication
from edms_runtime.consumer import Handler

TOPICS = (REGISTRY_DOCUMENT.name,)


def handlers(app: RoutingApplication) -> dict[str, Handler]:
    def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
        app.start_for(
            event.document_id,
            event.kind,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
        )

    return {DocumentRegistered.event_type(): on_registered}
