"""The search read model: one row per document, fed by events of every service, order-independent.

Each event sets only its own columns (upsert), so events of different services may arrive in any order; a row is
searchable once its registration has arrived. The row holds only what events say (no processing time), so a
rebuild by replay gives the same rows byte for byte.

Every write sets `indexed = false` in the same statement: the row is then due for the Elasticsearch indexer
(edms_search.indexer), which sets it back to true once the engine has this very version of the row. Without
Elasticsearch the flag simply stays false.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from edms_contracts import (
    AttachmentAdded,
    ControlCardOpened,
    DocumentFiled,
    DocumentRegistered,
    Envelope,
    RouteStarted,
)
from edms_runtime.consumer import Handler

DDL = """
CREATE TABLE IF NOT EXISTS documents (
    document_id uuid PRIMARY KEY,
    org text,
    access text,
    kind text,
    reg_number text,
    reg_date date,
    title text,
    body text,
    correspondent text,
    correspondent_number text,
    deadline date,
    case_index text,
    route_stage text,
    attachments jsonb NOT NULL DEFAULT '{}'::jsonb,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('russian', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('russian', coalesce(reg_number, '') || ' ' || coalesce(correspondent, '') || ' ' ||
                                         coalesce(correspondent_number, '')), 'B') ||
        setweight(to_tsvector('russian', coalesce(body, '')), 'C')
    ) STORED
);
CREATE INDEX IF NOT EXISTS documents_tsv ON documents USING gin (tsv);
CREATE INDEX IF NOT EXISTS documents_org_reg_date ON documents (org, reg_date DESC);
CREATE INDEX IF NOT EXISTS documents_reg_number ON documents (reg_number);
-- Elasticsearch indexing (edms_search.indexer): the flag is false until the engine holds this version of the row.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS indexed boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS documents_unindexed ON documents (document_id) WHERE NOT indexed;
CREATE OR REPLACE FUNCTION documents_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.documents', '');
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER documents_changed AFTER INSERT OR UPDATE ON documents
    FOR EACH ROW WHEN (NOT NEW.indexed) EXECUTE FUNCTION documents_changed();
-- Which Elasticsearch index (by its uuid) the flags refer to; a new index means every row is indexed again.
CREATE TABLE IF NOT EXISTS engine_index (
    alias text PRIMARY KEY,
    index_uuid text NOT NULL
);
"""

#: Tables that a replay truncates before reading every event again.
READ_MODEL_TABLES = ("documents",)


def _upsert(conn: psycopg.Connection[Any], document_id: object, **columns: object) -> None:
    names = list(columns)
    conn.execute(
        f"INSERT INTO documents (document_id, {', '.join(names)}) "  # noqa: S608 - names are ours, not input
        f"VALUES (%s, {', '.join(['%s'] * len(names))}) "
        f"ON CONFLICT (document_id) DO UPDATE SET {', '.join(f'{n} = EXCLUDED.{n}' for n in names)}, "
        "indexed = false",
        (document_id, *columns.values()),
    )


def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
    _upsert(
        conn,
        event.document_id,
        org=event.org,
        access=event.access,
        kind=event.kind,
        reg_number=event.reg_number,
        reg_date=event.reg_date,
        title=event.title,
        body=event.text,
        correspondent=event.correspondent,
        correspondent_number=event.correspondent_number,
    )


def on_attachment(conn: psycopg.Connection[Any], envelope: Envelope, event: AttachmentAdded) -> None:
    conn.execute(
        "INSERT INTO documents (document_id, attachments) VALUES (%s, %s) ON CONFLICT (document_id) "
        "DO UPDATE SET attachments = documents.attachments || EXCLUDED.attachments, indexed = false",
        (event.document_id, Jsonb({event.sha256: event.filename})),
    )


def on_card(conn: psycopg.Connection[Any], envelope: Envelope, event: ControlCardOpened) -> None:
    _upsert(conn, event.document_id, deadline=event.deadline)


def on_filed(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentFiled) -> None:
    _upsert(conn, event.document_id, case_index=event.case_index)


def on_route(conn: psycopg.Connection[Any], envelope: Envelope, event: RouteStarted) -> None:
    _upsert(conn, event.document_id, route_stage=event.current_stage)


HANDLERS: dict[str, Handler] = {
    DocumentRegistered.event_type(): on_registered,
    AttachmentAdded.event_type(): on_attachment,
    ControlCardOpened.event_type(): on_card,
    DocumentFiled.event_type(): on_filed,
    RouteStarted.event_type(): on_route,
}
