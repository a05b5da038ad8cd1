"""The search read model: one row per document, fed by events of every service, order-independent.

Each event sets only its own columns (upsert), or its own rows of a side table (assignments, resolutions,
participants, attachment text chunks, the directory's people); the document's derived columns (executors, authors,
who may read it, units, resolution and report texts, names, extracted file text, control status) are then computed
again from those tables in a fixed order (`refresh`). So events of different services may arrive in any order, and
a rebuild by replay gives the same rows byte for byte. A row is searchable once its registration has arrived.

Every write sets `indexed = false` in the same statement: the row is then due for the Elasticsearch indexer
(edms_search.indexer), which sets it back to true once the engine has this very version of the row. Without
Elasticsearch the flag simply stays false.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
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
from edms_contracts.archive import DocumentRefiled
from edms_contracts.control import ControlCardClosed, ControlDeadlineMoved
from edms_contracts.directory import PersonChanged, PersonRegistered
from edms_contracts.events import Applicant, AttachmentTextExtracted, DocumentDrafted, DraftRevised, PersonRef
from edms_contracts.routing import (
    AssignmentAccepted,
    AssignmentCreated,
    AssignmentReported,
    AssignmentReturned,
    AssignmentStatus,
    DocumentDistributed,
    ExtensionGranted,
    ResolutionIssued,
    StageStarted,
)
from edms_runtime.consumer import ReadModel, upsert

#: Extracted file text kept per document for search (PostgreSQL's tsvector holds at most 1 MB; the engine's
#: highlighter reads the whole field): longer texts are searched by their beginning.
MAX_FILE_TEXT = 300_000
#: The registration year, as a column of the words' index (a query with both dates in one year names it too).
REG_YEAR = "(extract(year FROM reg_date)::int)"

DDL = f"""
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
    attachments jsonb NOT NULL DEFAULT '{{}}'::jsonb
);
-- issue 10: every kind of card field, what routing, control, archive and the directory say about the document
ALTER TABLE documents ADD COLUMN IF NOT EXISTS unit text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS number_key text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS card_deadline date;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS urgency text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS addressee text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS due date;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS on_control boolean NOT NULL DEFAULT false;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS done boolean NOT NULL DEFAULT false;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS closed boolean NOT NULL DEFAULT false;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS authors text[] NOT NULL DEFAULT '{{}}';
ALTER TABLE documents ADD COLUMN IF NOT EXISTS executors text[] NOT NULL DEFAULT '{{}}';
ALTER TABLE documents ADD COLUMN IF NOT EXISTS readers text[] NOT NULL DEFAULT '{{}}';
ALTER TABLE documents ADD COLUMN IF NOT EXISTS units text[] NOT NULL DEFAULT '{{}}';
ALTER TABLE documents ADD COLUMN IF NOT EXISTS notes text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS names text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS files text;
-- the words: title (A), correspondent (B), card text, resolutions, reports, people (C), attachments' text (D).
-- Kept by a trigger, not generated: PostgreSQL computes a stored generated column again on every UPDATE of the row,
-- and the attachments' text is the costly part (to_tsvector of 56,000 characters of Russian: 14 ms). A route's
-- stage, a deadline or a case index now leaves the words as they are; a change of the card's words (compared by
-- value) computes them again, and only setting `files` (a file's text arrived) reads the attachments' text.
CREATE OR REPLACE FUNCTION documents_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR TG_ARGV[0] = 'files'
       OR (NEW.title, NEW.correspondent, NEW.body, NEW.notes, NEW.names)
          IS DISTINCT FROM (OLD.title, OLD.correspondent, OLD.body, OLD.notes, OLD.names) THEN
        NEW.tsv :=
            setweight(to_tsvector('russian', coalesce(NEW.title, '')), 'A') ||
            setweight(to_tsvector('russian', coalesce(NEW.correspondent, '')), 'B') ||
            setweight(to_tsvector('russian', coalesce(NEW.body, '') || ' ' || coalesce(NEW.notes, '') || ' ' ||
                                             coalesce(NEW.names, '')), 'C') ||
            setweight(to_tsvector('russian', coalesce(NEW.files, '')), 'D');
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER documents_words BEFORE INSERT OR UPDATE OF title, correspondent, body, notes, names
    ON documents FOR EACH ROW EXECUTE FUNCTION documents_words('card');
CREATE OR REPLACE TRIGGER documents_words_files BEFORE UPDATE OF files
    ON documents FOR EACH ROW EXECUTE FUNCTION documents_words('files');
DO $$
DECLARE
    words text;
BEGIN
    SELECT coalesce(generation_expression, '') INTO words FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = 'documents' AND column_name = 'tsv';
    IF NOT FOUND THEN
        ALTER TABLE documents ADD COLUMN tsv tsvector;
    ELSIF words <> '' THEN  -- the generated column of earlier versions: its words kept, the trigger keeps them on
        ALTER TABLE documents ALTER COLUMN tsv DROP EXPRESSION;
    END IF;
    IF words IS NULL OR words <> '' AND words NOT LIKE '%files%' THEN
        UPDATE documents SET files = files;  -- no words yet, or none of the attachments': made by the trigger
    END IF;
END $$;
-- The words stay in the row (compressed if need be) and the long texts go to TOAST first: ranking and phrase
-- checks read every candidate's tsvector, from the page they already visit rather than one TOAST fetch each.
-- Rows written before keep their layout until they are written again (`edms replay search` rewrites them all).
ALTER TABLE documents ALTER COLUMN tsv SET STORAGE MAIN;
-- One GIN index over the organization, who is named on it, the words, the kind and the registration year
-- (btree_gin for the scalar columns): the read rule, the words and those filters are intersected inside one index
-- scan, so a common word costs the caller's matches, not the whole corpus's, and a kind and a year narrow them
-- before the table is read (bench/search.py; a plain tsv index made lossy bitmaps of every organization's matches).
CREATE EXTENSION IF NOT EXISTS btree_gin SCHEMA public;
CREATE INDEX IF NOT EXISTS documents_words ON documents USING gin (org, readers, tsv, kind, {REG_YEAR});
-- The words once more, each with the document's organization in front ("6:org-00|word": the code's length makes the
-- prefix unambiguous whatever the code holds), in a GIN index of their own with the kind and the year: a word within
-- one organization is then one short posting list, where the index above intersects the organization's (every
-- card it has) with the word's (every organization's); a common word's index scan at a million cards 9 ms -> 0.5 ms
-- (bench/search.py, docs/BENCHMARKS.md). PostgresSearch asks it with the query's words prefixed the same way.
CREATE OR REPLACE FUNCTION org_words(org text, words tsvector) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN array_to_tsvector(ARRAY(
        SELECT length(org) || ':' || org || '|' || w FROM unnest(tsvector_to_array(words)) AS w));
CREATE INDEX IF NOT EXISTS documents_org_words ON documents USING gin (org_words(org, tsv), kind, {REG_YEAR});
DROP INDEX IF EXISTS documents_search;
DROP INDEX IF EXISTS documents_tsv;
CREATE INDEX IF NOT EXISTS documents_org_reg_date ON documents (org, reg_date DESC, document_id DESC);
CREATE INDEX IF NOT EXISTS documents_org_number ON documents (org, number_key DESC, document_id DESC);
CREATE INDEX IF NOT EXISTS documents_reg_number ON documents (reg_number text_pattern_ops);
CREATE INDEX IF NOT EXISTS documents_correspondent_number ON documents (correspondent_number);
DROP INDEX IF EXISTS documents_readers;
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
-- Who a document names, by the event that named them (source): role author, executor, controller or reader
-- (logins, or lowercase names of people without one: who reads it); role name: a name the card shows (searched).
CREATE TABLE IF NOT EXISTS participants (
    document_id uuid NOT NULL,
    source text NOT NULL,
    role text NOT NULL,
    who text NOT NULL,
    PRIMARY KEY (document_id, source, role, who)
);
CREATE INDEX IF NOT EXISTS participants_who ON participants (who);
CREATE TABLE IF NOT EXISTS resolutions (
    resolution_id uuid PRIMARY KEY,
    document_id uuid NOT NULL,
    author text NOT NULL,
    text text NOT NULL
);
CREATE INDEX IF NOT EXISTS resolutions_document ON resolutions (document_id);
CREATE TABLE IF NOT EXISTS assignments (
    assignment_id uuid PRIMARY KEY,
    document_id uuid NOT NULL,
    deadline date,
    text text,
    unit text,
    status text NOT NULL DEFAULT '{AssignmentStatus.IN_PROGRESS.value}',
    report text
);
CREATE INDEX IF NOT EXISTS assignments_document ON assignments (document_id);
CREATE TABLE IF NOT EXISTS file_texts (
    document_id uuid NOT NULL,
    sha256 text NOT NULL,
    chunk integer NOT NULL,
    text text NOT NULL,
    PRIMARY KEY (document_id, sha256, chunk)
);
-- The directory's people, so that a person's name finds the documents they work on.
CREATE TABLE IF NOT EXISTS people (
    login text PRIMARY KEY,
    org text NOT NULL,
    full_name text NOT NULL,
    unit text
);
"""  # noqa: S608 - our own constants

_REFRESH = f"""
UPDATE documents AS d SET
    authors = coalesce((SELECT array_agg(DISTINCT who ORDER BY who) FROM participants p
                        WHERE p.document_id = d.document_id AND p.role = 'author'), '{{}}'),
    executors = coalesce((SELECT array_agg(DISTINCT who ORDER BY who) FROM participants p
                          WHERE p.document_id = d.document_id AND p.role = 'executor'), '{{}}'),
    readers = coalesce((SELECT array_agg(DISTINCT who ORDER BY who) FROM participants p
                        WHERE p.document_id = d.document_id AND p.role <> 'name'), '{{}}'),
    units = coalesce((SELECT array_agg(DISTINCT u ORDER BY u) FROM (
                        SELECT d.unit AS u UNION ALL SELECT a.unit FROM assignments a
                        WHERE a.document_id = d.document_id) x WHERE u IS NOT NULL), '{{}}'),
    notes = (SELECT string_agg(t, E'\\n' ORDER BY k) FROM (
                SELECT 'r' || r.resolution_id AS k, r.text AS t FROM resolutions r WHERE r.document_id = d.document_id
                UNION ALL SELECT 'a' || a.assignment_id, a.text FROM assignments a WHERE a.document_id = d.document_id
                UNION ALL SELECT 'p' || a.assignment_id, a.report FROM assignments a
                WHERE a.document_id = d.document_id) x WHERE t IS NOT NULL AND t <> ''),
    names = (SELECT string_agg(DISTINCT n, ' ' ORDER BY n) FROM (
                SELECT pe.full_name AS n FROM participants p JOIN people pe ON pe.login = p.who
                WHERE p.document_id = d.document_id
                UNION ALL SELECT p.who FROM participants p WHERE p.document_id = d.document_id AND p.role = 'name'
             ) x),
    on_control = d.deadline IS NOT NULL OR EXISTS (SELECT 1 FROM assignments a WHERE a.document_id = d.document_id),
    done = d.closed OR EXISTS (SELECT 1 FROM assignments a WHERE a.document_id = d.document_id)
           AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.document_id = d.document_id
                           AND a.status <> '{AssignmentStatus.DONE.value}'),
    due = coalesce(d.deadline, d.card_deadline, (SELECT min(a.deadline) FROM assignments a
                   WHERE a.document_id = d.document_id AND a.status <> '{AssignmentStatus.DONE.value}')),
    indexed = false
WHERE d.document_id = %s
"""  # noqa: S608 - our own constants


#: The attachments' text, set only when a file's text arrives: setting `files` makes the trigger read it into the
#: words again (the costly part of a document's words), which no other change of the row does.
_FILES = f"""
UPDATE documents AS d SET
    files = (SELECT left(string_agg(f.text, E'\\n' ORDER BY f.sha256, f.chunk), {MAX_FILE_TEXT}) FROM file_texts f
             WHERE f.document_id = d.document_id AND f.text <> ''),
    indexed = false
WHERE d.document_id = %s
"""  # noqa: S608 - our own constants


def number_key(reg_number: str) -> str:
    """A registration number as a key that sorts numbers naturally (01-10/2 before 01-10/12)."""
    return re.sub(r"\d+", lambda m: m.group().zfill(12), reg_number)


def _upsert(conn: psycopg.Connection[Any], document_id: object, **columns: object) -> None:
    """A column-wise upsert that also makes the row due for the Elasticsearch indexer."""
    upsert(conn, "documents", ("document_id", document_id), also="indexed = false", **columns)


def _row(conn: psycopg.Connection[Any], document_id: uuid.UUID) -> None:
    conn.execute("INSERT INTO documents (document_id) VALUES (%s) ON CONFLICT (document_id) DO NOTHING", (document_id,))


def refresh(conn: psycopg.Connection[Any], document_id: uuid.UUID) -> None:
    """Compute the document's derived columns again from the side tables (a row is made if missing); the
    attachments' text apart (`_FILES`)."""
    _row(conn, document_id)
    conn.execute(_REFRESH, (document_id,))


def _name(person: PersonRef | None) -> str | None:
    """Who a card names: their login when known, else their name (lowercase, as the filters compare)."""
    if person is None:
        return None
    return person.login or person.name.strip().lower() or None


def _named(*people: str | PersonRef | Applicant | None) -> list[tuple[str, str | None]]:
    """The names a card shows (addressee, signer, executor, applicant) as words to search: role `name`."""
    out: list[tuple[str, str | None]] = []
    for person in people:
        if isinstance(person, str):
            out.append(("name", person.strip() or None))
        elif person is not None:
            out.append(("name", person.name.strip() or None))
    return out


def _participants(
    conn: psycopg.Connection[Any], document_id: uuid.UUID, source: str, people: list[tuple[str, str | None]]
) -> None:
    """Replace what one event (source) says about who works on the document: (role, login or name)."""
    conn.execute("DELETE FROM participants WHERE document_id = %s AND source = %s", (document_id, source))
    rows = sorted({(role, who) for role, who in people if who})
    if rows:
        conn.cursor().executemany(
            "INSERT INTO participants (document_id, source, role, who) VALUES (%s, %s, %s, %s)",
            [(document_id, source, role, who) for role, who in rows],
        )


def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
    _upsert(
        conn,
        event.document_id,
        org=event.org,
        access=event.access,
        kind=event.kind,
        reg_number=event.reg_number,
        number_key=number_key(event.reg_number),
        reg_date=event.reg_date,
        title=event.title,
        body=event.text,
        correspondent=event.correspondent,
        correspondent_number=event.correspondent_number,
        unit=event.unit,
        urgency=event.urgency.value,
        addressee=event.addressee,
        card_deadline=event.deadline,
    )
    _participants(
        conn,
        event.document_id,
        "card",
        [
            ("reader", event.registered_by),
            ("author", _name(event.signer)),
            ("executor", _name(event.executor)),
            ("reader", event.addressee.strip().lower() if event.addressee else None),
            *_named(event.addressee, event.signer, event.executor, event.applicant),
        ],
    )
    refresh(conn, event.document_id)


def on_drafted(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentDrafted) -> None:
    _upsert(conn, event.document_id, org=event.org, access=event.access, kind=event.kind, unit=event.unit)
    _participants(
        conn,
        event.document_id,
        "draft",
        [
            ("author", event.author),
            ("author", _name(event.signer)),
            ("executor", _name(event.executor)),
            *_named(event.addressee, event.signer, event.executor),
        ],
    )
    refresh(conn, event.document_id)


def on_revised(conn: psycopg.Connection[Any], envelope: Envelope, event: DraftRevised) -> None:
    if event.title:
        _upsert(conn, event.document_id, title=event.title)
    _participants(conn, event.document_id, f"revision:{event.version}", [("author", event.revised_by)])
    refresh(conn, event.document_id)


def on_attachment(conn: psycopg.Connection[Any], envelope: Envelope, event: AttachmentAdded) -> None:
    conn.execute(
        "INSERT INTO documents (document_id, attachments) VALUES (%s, %s) ON CONFLICT (document_id) "
        "DO UPDATE SET attachments = documents.attachments || EXCLUDED.attachments, indexed = false",
        (event.document_id, Jsonb({event.sha256: event.filename})),
    )


def on_file_text(conn: psycopg.Connection[Any], envelope: Envelope, event: AttachmentTextExtracted) -> None:
    conn.execute(
        "INSERT INTO file_texts (document_id, sha256, chunk, text) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (document_id, sha256, chunk) DO UPDATE SET text = EXCLUDED.text",
        (event.document_id, event.sha256, event.chunk, event.text),
    )
    _row(conn, event.document_id)
    conn.execute(_FILES, (event.document_id,))


def on_card(conn: psycopg.Connection[Any], envelope: Envelope, event: ControlCardOpened) -> None:
    _upsert(conn, event.document_id, deadline=event.deadline)
    refresh(conn, event.document_id)


def on_deadline_moved(conn: psycopg.Connection[Any], envelope: Envelope, event: ControlDeadlineMoved) -> None:
    """An extension or a calendar change (control): the document's deadline, or its assignment's."""
    if event.assignment_id is None:
        _upsert(conn, event.document_id, deadline=event.deadline)
        refresh(conn, event.document_id)
    else:
        _assignment(conn, _Assignment(event.assignment_id, event.document_id), deadline=event.deadline)


def on_card_closed(conn: psycopg.Connection[Any], envelope: Envelope, event: ControlCardClosed) -> None:
    """Taken off control (снято с контроля): the document's card closes it; an assignment's card, that assignment."""
    if event.assignment_id is None:
        _upsert(conn, event.document_id, closed=True)
        refresh(conn, event.document_id)
    else:
        _assignment(conn, _Assignment(event.assignment_id, event.document_id), status=AssignmentStatus.DONE.value)


@dataclass(frozen=True)
class _Assignment:
    assignment_id: uuid.UUID
    document_id: uuid.UUID


def on_filed(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentFiled | DocumentRefiled) -> None:
    _upsert(conn, event.document_id, case_index=event.case_index)


def on_route(conn: psycopg.Connection[Any], envelope: Envelope, event: RouteStarted) -> None:
    _upsert(conn, event.document_id, route_stage=event.current_stage)


def on_stage(conn: psycopg.Connection[Any], envelope: Envelope, event: StageStarted) -> None:
    _upsert(conn, event.document_id, route_stage=event.stage)
    source = f"stage:{event.route_id}:{event.stage}"
    _participants(conn, event.document_id, source, [("reader", who) for who in event.participants])
    refresh(conn, event.document_id)


def on_resolution(conn: psycopg.Connection[Any], envelope: Envelope, event: ResolutionIssued) -> None:
    conn.execute(
        "INSERT INTO resolutions (resolution_id, document_id, author, text) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (resolution_id) DO UPDATE SET author = EXCLUDED.author, text = EXCLUDED.text",
        (event.resolution_id, event.document_id, event.author, event.text),
    )
    people: list[tuple[str, str | None]] = [("author", event.author)]
    for terms in event.assignments:
        # the assignment's own event (AssignmentCreated) may come before or after: only what it does not say
        conn.execute(
            "INSERT INTO assignments (assignment_id, document_id, deadline) VALUES (%s, %s, %s) "
            "ON CONFLICT (assignment_id) DO NOTHING",
            (terms.assignment_id, event.document_id, terms.deadline),
        )
        people += [("executor", terms.executor), ("controller", terms.controller)]
        people += [("executor", who) for who in terms.co_executors]
    _participants(conn, event.document_id, f"resolution:{event.resolution_id}", people)
    refresh(conn, event.document_id)


def on_assignment(conn: psycopg.Connection[Any], envelope: Envelope, event: AssignmentCreated) -> None:
    conn.execute(
        "INSERT INTO assignments (assignment_id, document_id, deadline, text, unit) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (assignment_id) DO UPDATE SET deadline = EXCLUDED.deadline, text = EXCLUDED.text, "
        "unit = EXCLUDED.unit",
        (event.assignment_id, event.document_id, event.deadline, event.text, event.unit),
    )
    people: list[tuple[str, str | None]] = [
        ("author", event.author),
        ("executor", event.executor),
        ("controller", event.controller),
    ]
    people += [("executor", who) for who in event.co_executors]
    _participants(conn, event.document_id, f"assignment:{event.assignment_id}", people)
    refresh(conn, event.document_id)


def _assignment(conn: psycopg.Connection[Any], event: Any, **columns: object) -> None:
    upsert(conn, "assignments", ("assignment_id", event.assignment_id), "", document_id=event.document_id, **columns)
    refresh(conn, event.document_id)


def on_reported(conn: psycopg.Connection[Any], envelope: Envelope, event: AssignmentReported) -> None:
    _assignment(conn, event, status=AssignmentStatus.REPORTED.value, report=event.text)


def on_accepted(conn: psycopg.Connection[Any], envelope: Envelope, event: AssignmentAccepted) -> None:
    _assignment(conn, event, status=AssignmentStatus.DONE.value)


def on_returned(conn: psycopg.Connection[Any], envelope: Envelope, event: AssignmentReturned) -> None:
    _assignment(conn, event, status=AssignmentStatus.RETURNED.value)


def on_extended(conn: psycopg.Connection[Any], envelope: Envelope, event: ExtensionGranted) -> None:
    _assignment(conn, event, deadline=event.new_deadline)


def on_distributed(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentDistributed) -> None:
    people: list[tuple[str, str | None]] = [("reader", event.distributed_by)]
    people += [("reader", r.removeprefix("person:")) for r in event.recipients if r.startswith("person:")]
    _participants(conn, event.document_id, f"distribution:{event.distribution_id}", people)
    refresh(conn, event.document_id)


def on_person(conn: psycopg.Connection[Any], envelope: Envelope, event: PersonRegistered | PersonChanged) -> None:
    if isinstance(event, PersonRegistered):
        upsert(conn, "people", ("login", event.login), org=event.org, full_name=event.full_name, unit=event.unit)
    else:
        changes = {k: v for k, v in event.changes.items() if k in ("full_name", "unit") and (v is None or str(v))}
        if "full_name" not in changes and "unit" not in changes:
            return
        known = conn.execute("SELECT 1 FROM people WHERE login = %s", (event.login,)).fetchone()
        if known is None:
            if not changes.get("full_name"):
                return  # its registration comes later (another partition) and says the rest
            upsert(conn, "people", ("login", event.login), "", org=event.org, **changes)
        else:
            upsert(conn, "people", ("login", event.login), "", **changes)
    for row in conn.execute(
        "SELECT DISTINCT document_id FROM participants WHERE who = %s ORDER BY document_id", (event.login,)
    ).fetchall():
        refresh(conn, row["document_id"])


#: The read model: `edms replay search` rebuilds these tables (engine_index stays: it describes the engine).
READ_MODEL = ReadModel(
    ddl=DDL,
    tables=("documents", "participants", "resolutions", "assignments", "file_texts", "people"),
    functions=("documents_changed()", "documents_words()", "org_words(text, tsvector)"),
    # every search reads the pages of its matches from this table and its words' index
    warm=("documents",),
    handlers={
        DocumentRegistered: on_registered,
        DocumentDrafted: on_drafted,
        DraftRevised: on_revised,
        AttachmentAdded: on_attachment,
        AttachmentTextExtracted: on_file_text,
        ControlCardOpened: on_card,
        ControlDeadlineMoved: on_deadline_moved,
        ControlCardClosed: on_card_closed,
        DocumentFiled: on_filed,
        DocumentRefiled: on_filed,
        RouteStarted: on_route,
        StageStarted: on_stage,
        ResolutionIssued: on_resolution,
        AssignmentCreated: on_assignment,
        AssignmentReported: on_reported,
        AssignmentAccepted: on_accepted,
        AssignmentReturned: on_returned,
        ExtensionGranted: on_extended,
        DocumentDistributed: on_distributed,
        PersonRegistered: on_person,
        PersonChanged: on_person,
    },
)
