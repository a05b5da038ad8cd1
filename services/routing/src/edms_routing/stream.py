"""Routing's policies: a registered document or a new draft starts the route of its kind, a new version of a draft
restarts its approval, the archive's disposal act goes to the expert commission. Thin: they hand off to the
application."""

from __future__ import annotations

from typing import Any

import psycopg

from edms_contracts import DisposalActDrafted, DocumentDrafted, DocumentRegistered, DraftRevised, Envelope, Role
from edms_routing import projections
from edms_routing.application import RoutingApplication
from edms_runtime.consumer import Handlers


def policies(app: RoutingApplication) -> Handlers:
    def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
        app.start_for(
            event.document_id,
            event.kind,
            org=event.org,
            access=event.access,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
            on=event.reg_date,
        )

    def on_drafted(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentDrafted) -> None:
        app.start_for(
            event.document_id,
            event.kind,
            org=event.org,
            access=event.access,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
            author=event.author,
            signer=event.signer.login if event.signer is not None else None,
            on=app.local_date(envelope.occurred_at),
        )

    def on_revised(conn: psycopg.Connection[Any], envelope: Envelope, event: DraftRevised) -> None:
        app.revise(event.document_id, event.version, on=app.local_date(envelope.occurred_at))

    def on_act_drafted(conn: psycopg.Connection[Any], envelope: Envelope, event: DisposalActDrafted) -> None:
        """The members the archivist named, else everyone with the role in routing's copy of the directory."""
        commission = event.expert_commission or projections.logins_with_role(conn, event.org, Role.EXPERT_COMMISSION)
        app.start_act_approval(
            event.act_id,
            org=event.org,
            drafted_by=event.drafted_by,
            commission=commission,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
            on=app.local_date(envelope.occurred_at),
        )

    return {
        DocumentRegistered: on_registered,
        DocumentDrafted: on_drafted,
        DraftRevised: on_revised,
        DisposalActDrafted: on_act_drafted,
    }
