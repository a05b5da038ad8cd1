"""Control's consumer: registered documents and routing's assignments are put on control and followed to the end.

Thin: each handler hands the event to the application. The business day of an event is the date it carries
(reported on, done on, asked on), else the day it happened (`occurred_at`) in the region's time zone.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from edms_contracts import DocumentRegistered, Envelope
from edms_contracts.routing import (
    AssignmentAccepted,
    AssignmentCreated,
    AssignmentReported,
    AssignmentReturned,
    AssignmentTerms,
    ExtensionGranted,
    ExtensionRefused,
    ExtensionRequested,
    ResolutionIssued,
)
from edms_control.application import ControlApplication
from edms_runtime.consumer import Handlers


def policies(app: ControlApplication) -> Handlers:
    def day(envelope: Envelope) -> date:
        return envelope.occurred_at.astimezone(app.timezone).date()

    def causes(envelope: Envelope) -> dict[str, Any]:
        return {"correlation_id": envelope.correlation_id or envelope.event_id, "causation_id": envelope.event_id}

    def unit_of(conn: psycopg.Connection[Any], login: str) -> str | None:
        """The executor's unit, from the directory's events (read model `people`)."""
        row = conn.execute("SELECT unit FROM people WHERE login = %s", (login,)).fetchone()
        return None if row is None else row["unit"]

    def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
        app.open_card(
            document_id=event.document_id,
            reg_number=event.reg_number,
            reg_date=event.reg_date,
            org=event.org,
            urgency=event.urgency,
            access=event.access,
            kind=event.kind,
            deadline=event.deadline,
            unit=event.unit,
            **causes(envelope),
        )

    def open_assignment(
        conn: psycopg.Connection[Any],
        envelope: Envelope,
        event: ResolutionIssued | AssignmentCreated,
        terms: AssignmentTerms | AssignmentCreated,
        *,
        author: str,
        unit: str | None = None,
        access: str | None = None,
        parent_id: Any = None,
        text: str | None = None,
    ) -> None:
        app.open_assignment(
            assignment_id=terms.assignment_id,
            document_id=event.document_id,
            org=event.org,
            deadline=terms.deadline,
            executor=terms.executor,
            co_executors=list(terms.co_executors),
            controller=terms.controller,
            author=author,
            unit=unit or unit_of(conn, terms.executor),
            access=access,
            parent_id=parent_id,
            opened_on=day(envelope),
            text=text,
            **causes(envelope),
        )

    def on_resolution(conn: psycopg.Connection[Any], envelope: Envelope, event: ResolutionIssued) -> None:
        for terms in event.assignments:
            open_assignment(conn, envelope, event, terms, author=event.author, text=event.text)

    def on_assignment(conn: psycopg.Connection[Any], envelope: Envelope, event: AssignmentCreated) -> None:
        open_assignment(
            conn, envelope, event, event, author=event.author, unit=event.unit, access=event.access,
            parent_id=event.parent_id, text=event.text,
        )  # fmt: skip

    def on_reported(conn: psycopg.Connection[Any], envelope: Envelope, event: AssignmentReported) -> None:
        app.report(event.assignment_id, on=event.reported_on, by=event.reported_by, text=event.text)

    def on_returned(conn: psycopg.Connection[Any], envelope: Envelope, event: AssignmentReturned) -> None:
        app.return_for_work(event.assignment_id, on=day(envelope), by=event.returned_by, reason=event.reason)

    def on_accepted(conn: psycopg.Connection[Any], envelope: Envelope, event: AssignmentAccepted) -> None:
        app.accept(event.assignment_id, done_on=event.done_on, by=event.accepted_by)

    def on_requested(conn: psycopg.Connection[Any], envelope: Envelope, event: ExtensionRequested) -> None:
        reason = f"to {event.new_deadline.isoformat()}: {event.reason}"
        app.note_extension(
            event.assignment_id, on=event.requested_on, what="extension_requested", by=event.requested_by, reason=reason
        )

    def on_granted(conn: psycopg.Connection[Any], envelope: Envelope, event: ExtensionGranted) -> None:
        app.extend(
            event.assignment_id,
            new_deadline=event.new_deadline,
            requested_on=event.requested_on,
            on=day(envelope),
            by=event.decided_by,
        )

    def on_refused(conn: psycopg.Connection[Any], envelope: Envelope, event: ExtensionRefused) -> None:
        app.note_extension(
            event.assignment_id, on=day(envelope), what="extension_refused", by=event.decided_by, reason=event.reason
        )

    return {
        DocumentRegistered: on_registered,
        ResolutionIssued: on_resolution,
        AssignmentCreated: on_assignment,
        AssignmentReported: on_reported,
        AssignmentReturned: on_returned,
        AssignmentAccepted: on_accepted,
        ExtensionRequested: on_requested,
        ExtensionGranted: on_granted,
        ExtensionRefused: on_refused,
    }
