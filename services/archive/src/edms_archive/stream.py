"""Archive's consumer: a registered document is filed into its case of the year, its files are kept by hash, and
the expert commission's routing stage decides a disposal act (its route's document id is the act's id)."""

from __future__ import annotations

from typing import Any

import psycopg

from edms_archive.application import ArchiveApplication
from edms_contracts import AttachmentAdded, DocumentRegistered, Envelope
from edms_contracts.routing import ApprovalDecided, StageCompleted
from edms_runtime.consumer import Handlers


def policies(app: ArchiveApplication) -> Handlers:
    def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
        app.file_document(
            document_id=event.document_id,
            org=event.org,
            kind=event.kind,
            case_index=event.case_index,
            year=event.reg_date.year,
            access=event.access,
            unit=event.unit,
            reg_number=event.reg_number,
            reg_date=event.reg_date,
            title=event.title,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
        )

    def on_attachment(conn: psycopg.Connection[Any], envelope: Envelope, event: AttachmentAdded) -> None:
        app.record_attachment(
            event.document_id,
            sha256=event.sha256,
            filename=event.filename,
            media_type=event.media_type,
            size=event.size,
        )

    def on_decided(conn: psycopg.Connection[Any], envelope: Envelope, event: ApprovalDecided) -> None:
        app.record_commission_decision(
            event.document_id,
            approver=event.approver,
            decision=event.decision.value,
            remarks=event.remarks,
            on=envelope.occurred_at.date(),
            cause=str(envelope.event_id),
        )

    def on_stage_completed(conn: psycopg.Connection[Any], envelope: Envelope, event: StageCompleted) -> None:
        app.commission_completed(
            event.document_id,
            route_id=event.route_id,
            outcome=event.outcome,
            on=app.clock(),
            cause=str(envelope.event_id),
        )

    return {
        DocumentRegistered: on_registered,
        AttachmentAdded: on_attachment,
        ApprovalDecided: on_decided,
        StageCompleted: on_stage_completed,
    }
