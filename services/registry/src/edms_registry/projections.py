"""Registry's read model: the clerk's journal view — every card and draft, listable by journal, kind, unit, period,
status — fed by the registry's own events; `edms replay registry` rebuilds it."""

from __future__ import annotations

from typing import Any

import psycopg

from edms_contracts import DocumentDrafted, DocumentRegistered, DraftRevised, Envelope
from edms_runtime.consumer import ReadModel, upsert

DDL = """
CREATE TABLE IF NOT EXISTS cards (
    document_id uuid PRIMARY KEY,
    org text,
    unit text,
    access text,
    kind text,
    status text,
    journal text,
    reg_number text,
    reg_date date,
    title text,
    correspondent text,
    author text,
    since timestamptz
);
CREATE INDEX IF NOT EXISTS cards_org_since ON cards (org, since DESC, document_id DESC);
CREATE INDEX IF NOT EXISTS cards_org_journal ON cards (org, journal, reg_date);
"""


def on_drafted(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentDrafted) -> None:
    # a draft registered before its creation event arrived (another partition order) keeps its registration
    conn.execute(
        "INSERT INTO cards (document_id, org, unit, access, kind, status, title, author, since) "
        "VALUES (%s, %s, %s, %s, %s, 'draft', %s, %s, %s) ON CONFLICT (document_id) DO NOTHING",
        (
            event.document_id,
            event.org,
            event.unit,
            event.access,
            event.kind,
            event.title,
            event.author,
            envelope.occurred_at,
        ),
    )


def on_revised(conn: psycopg.Connection[Any], envelope: Envelope, event: DraftRevised) -> None:
    if event.title is not None:
        conn.execute(
            "UPDATE cards SET title = %s WHERE document_id = %s AND status = 'draft'", (event.title, event.document_id)
        )


def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
    upsert(
        conn,
        "cards",
        ("document_id", event.document_id),
        org=event.org,
        unit=event.unit,
        access=event.access,
        kind=event.kind,
        status="registered",
        journal=event.journal,
        reg_number=event.reg_number,
        reg_date=event.reg_date,
        title=event.title,
        correspondent=event.correspondent,
        since=envelope.occurred_at,
    )


READ_MODEL = ReadModel(
    ddl=DDL,
    tables=("cards",),
    handlers={DocumentDrafted: on_drafted, DraftRevised: on_revised, DocumentRegistered: on_registered},
)
