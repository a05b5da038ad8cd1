"""Archive's read model: the cases of each organization and year, each case's inventory (опись дела) and the files
the archive keeps of each document.

Fed by archive's own events (a case opened, closed, moved, transferred, destroyed; a document filed, refiled, its
sheets counted, its files kept, destroyed) and the registry's (the card's number, date and title), each setting only
its own columns, so that events of different aggregates may arrive in any order; `edms replay archive` rebuilds it.
Columns added after the first version come with `ADD COLUMN IF NOT EXISTS`, so a live table and a rebuilt one have
them in the same order.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from edms_archive.plan import Retention
from edms_contracts import (
    CaseClosed,
    CaseDestroyed,
    CaseImported,
    CaseLocated,
    CaseOpened,
    CaseTransferred,
    DocumentDestroyed,
    DocumentFileArchived,
    DocumentFiled,
    DocumentRefiled,
    DocumentRegistered,
    DocumentSheetsCounted,
    Envelope,
)
from edms_runtime.consumer import ReadModel, upsert

DDL = """
CREATE TABLE IF NOT EXISTS cases (
    case_id uuid PRIMARY KEY,
    org text,
    case_index text NOT NULL,
    title text NOT NULL,
    year integer NOT NULL,
    retention text NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_org_year ON cases (org, year, case_index);
ALTER TABLE cases ADD COLUMN IF NOT EXISTS article text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS unit text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS volume integer NOT NULL DEFAULT 1;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS category text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS closed_on date;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS retention_end date;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS transfer_from date;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS transfer_by date;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS transfer_id uuid;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS transferred_on date;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS seal text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS destroyed_on date;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS disposal_act uuid;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS locations jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE TABLE IF NOT EXISTS inventory (
    document_id uuid PRIMARY KEY,
    case_id uuid,
    org text,
    access text,
    case_index text,
    year integer,
    reg_number text,
    reg_date date,
    title text
);
CREATE INDEX IF NOT EXISTS inventory_case ON inventory (case_id, reg_date, reg_number);
ALTER TABLE inventory ADD COLUMN IF NOT EXISTS sheets integer;
ALTER TABLE inventory ADD COLUMN IF NOT EXISTS destroyed_on date;
CREATE TABLE IF NOT EXISTS files (
    document_id uuid NOT NULL,
    sha256 text NOT NULL,
    filename text NOT NULL,
    media_type text NOT NULL,
    size bigint NOT NULL,
    PRIMARY KEY (document_id, sha256)
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
"""


def on_case_opened(conn: psycopg.Connection[Any], envelope: Envelope, event: CaseOpened) -> None:
    upsert(
        conn,
        "cases",
        ("case_id", event.case_id),
        org=event.org,
        case_index=event.index,
        title=event.title,
        year=event.year,
        retention=event.retention,
        article=event.article,
        unit=event.unit,
        volume=event.volume,
        category=Retention.parse(event.retention).category.value,
    )


def _set_closed(conn: psycopg.Connection[Any], case_id: object, closed_on: Any, **more: object) -> None:
    """Closing fixes when the retention ends and when the case is due for transfer (a case's own events arrive in
    order, so its retention is there already)."""
    row = conn.execute("SELECT retention FROM cases WHERE case_id = %s", (case_id,)).fetchone()
    dates: dict[str, object] = {}
    if row is not None:
        period = Retention.parse(str(row["retention"]))
        window = period.transfer_window(closed_on)
        dates = {
            "retention_end": period.expires(closed_on),
            "transfer_from": window[0] if window else None,
            "transfer_by": window[1] if window else None,
        }
    _update_case(conn, case_id, {"closed_on": closed_on, **dates, **more})


def _update_case(conn: psycopg.Connection[Any], case_id: object, columns: dict[str, object]) -> None:
    """Later events of a case change its row (its own events arrive in order, after `CaseOpened`; an upsert would
    not do: PostgreSQL checks the NOT NULL columns of the row it would insert before it sees the conflict)."""
    assignments = ", ".join(f"{name} = %s" for name in columns)
    conn.execute(f"UPDATE cases SET {assignments} WHERE case_id = %s", (*columns.values(), case_id))  # noqa: S608


def on_case_closed(conn: psycopg.Connection[Any], envelope: Envelope, event: CaseClosed) -> None:
    _set_closed(conn, event.case_id, event.closed_on)


def on_case_imported(conn: psycopg.Connection[Any], envelope: Envelope, event: CaseImported) -> None:
    _set_closed(conn, event.case_id, event.closed_on, transfer_id=event.transfer_id, seal=event.seal)


def on_case_located(conn: psycopg.Connection[Any], envelope: Envelope, event: CaseLocated) -> None:
    """The trail: every place the paper case has been, in order (a case's events arrive in order)."""
    place = json.dumps(event.model_dump(mode="json", exclude={"case_id"}), ensure_ascii=False, sort_keys=True)
    conn.execute(
        "UPDATE cases SET locations = locations || jsonb_build_array(%s::jsonb) WHERE case_id = %s",
        (place, event.case_id),
    )


def on_case_transferred(conn: psycopg.Connection[Any], envelope: Envelope, event: CaseTransferred) -> None:
    _update_case(
        conn, event.case_id, {"transfer_id": event.transfer_id, "transferred_on": event.on, "seal": event.seal}
    )


def on_case_destroyed(conn: psycopg.Connection[Any], envelope: Envelope, event: CaseDestroyed) -> None:
    _update_case(conn, event.case_id, {"destroyed_on": event.destroyed_on, "disposal_act": event.act_id})


def _known(**columns: object) -> dict[str, object]:
    """Only what an event says: an older event without the card's fields leaves the registry's values alone."""
    return {name: value for name, value in columns.items() if value is not None}


def on_filed(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentFiled) -> None:
    upsert(
        conn,
        "inventory",
        ("document_id", event.document_id),
        "",
        case_id=event.case_id,
        case_index=event.case_index,
        year=event.year,
        **_known(
            org=event.org, access=event.access, reg_number=event.reg_number, reg_date=event.reg_date, title=event.title
        ),
    )


def on_refiled(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRefiled) -> None:
    upsert(
        conn,
        "inventory",
        ("document_id", event.document_id),
        case_id=event.case_id,
        case_index=event.case_index,
        year=event.year,
    )


def on_file_archived(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentFileArchived) -> None:
    conn.execute(
        "INSERT INTO files (document_id, sha256, filename, media_type, size) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (document_id, sha256) DO NOTHING",
        (event.document_id, event.sha256, event.filename, event.media_type, event.size),
    )


def on_sheets_counted(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentSheetsCounted) -> None:
    upsert(conn, "inventory", ("document_id", event.document_id), sheets=event.sheets)


def on_document_destroyed(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentDestroyed) -> None:
    upsert(conn, "inventory", ("document_id", event.document_id), destroyed_on=event.destroyed_on)


def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
    upsert(
        conn,
        "inventory",
        ("document_id", event.document_id),
        org=event.org,
        access=event.access,
        reg_number=event.reg_number,
        reg_date=event.reg_date,
        title=event.title,
    )


READ_MODEL = ReadModel(
    ddl=DDL,
    tables=("cases", "inventory", "files"),
    handlers={
        CaseOpened: on_case_opened,
        CaseClosed: on_case_closed,
        CaseImported: on_case_imported,
        CaseLocated: on_case_located,
        CaseTransferred: on_case_transferred,
        CaseDestroyed: on_case_destroyed,
        DocumentFiled: on_filed,
        DocumentRefiled: on_refiled,
        DocumentFileArchived: on_file_archived,
        DocumentSheetsCounted: on_sheets_counted,
        DocumentDestroyed: on_document_destroyed,
        DocumentRegistered: on_registered,
    },
)
