"""Control's read models: what is on control now, every card's states over time (executive-discipline reports as of
any day), reminders issued, the directory's people, positions and units (to address reminders), route stages.

Fed by control's own events, the directory's and routing's; `edms replay control` rebuilds them all from the topics
(edms_runtime.replay). Every row comes from event fields only (never the time it was applied), so a rebuild gives
the same rows, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from operator import itemgetter
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic_core import to_json

from edms_contracts import ControlCardOpened, DocumentRegistered, Envelope
from edms_contracts.control import (
    ControlAssignmentOpened,
    ControlCardClosed,
    ControlCardReported,
    ControlCardReturned,
    ControlDeadlineMoved,
    ControlDueSoon,
    ControlOverdue,
    ControlReminder,
)
from edms_contracts.directory import PersonChanged, PersonRegistered, PositionDefined, UnitChanged, UnitCreated
from edms_contracts.routing import ResolutionIssued, StageCompleted, StageStarted
from edms_control.domain import REGION_TIMEZONE
from edms_runtime.consumer import ReadModel, upsert

DDL = """
CREATE TABLE IF NOT EXISTS cards (
    card_id uuid PRIMARY KEY,
    document_id uuid NOT NULL,
    org text,
    access text,
    reg_number text NOT NULL,
    reg_date date,
    deadline date NOT NULL,
    rule text NOT NULL,
    kind text NOT NULL DEFAULT 'document',
    assignment_id uuid,
    executor text,
    controller text,
    unit text,
    opened_on date,
    late_after date,
    reported_on date,
    done_on date,
    late boolean
);
CREATE INDEX IF NOT EXISTS cards_org_deadline ON cards (org, deadline, reg_number);
CREATE INDEX IF NOT EXISTS cards_open ON cards (deadline) WHERE done_on IS NULL;
-- A card as it stood after each of its events that matters to discipline, dated by the business day of the event:
-- the report as of a day takes each card's last state dated on or before it.
CREATE TABLE IF NOT EXISTS card_states (
    card_id uuid NOT NULL,
    seq integer NOT NULL,
    on_day date NOT NULL,
    org text,
    unit text,
    executor text,
    kind text NOT NULL,
    late_after date NOT NULL,
    done_on date,
    PRIMARY KEY (card_id, seq)
);
CREATE INDEX IF NOT EXISTS card_states_day ON card_states (org, on_day);
CREATE TABLE IF NOT EXISTS reminders (
    card_id uuid NOT NULL,
    kind text NOT NULL,
    deadline date NOT NULL,
    on_day date NOT NULL,
    org text,
    executor text,
    recipients jsonb NOT NULL,
    PRIMARY KEY (card_id, kind, deadline)
);
CREATE TABLE IF NOT EXISTS people (
    login text PRIMARY KEY,
    org text NOT NULL,
    unit text,
    position text,
    full_name text
);
CREATE TABLE IF NOT EXISTS positions (
    org text NOT NULL,
    code text NOT NULL,
    unit text NOT NULL,
    head boolean NOT NULL,
    PRIMARY KEY (org, code)
);
CREATE TABLE IF NOT EXISTS units (
    org text NOT NULL,
    code text NOT NULL,
    parent text,
    PRIMARY KEY (org, code)
);
CREATE TABLE IF NOT EXISTS stages (
    route_id uuid NOT NULL,
    stage text NOT NULL,
    document_id uuid NOT NULL,
    org text,
    started_on date,
    completed_on date,
    outcome text,
    PRIMARY KEY (route_id, stage)
);
"""

Conn = psycopg.Connection[Any]


def _state(conn: Conn, envelope: Envelope, card_id: Any, on_day: Any) -> None:
    conn.execute(
        "INSERT INTO card_states (card_id, seq, on_day, org, unit, executor, kind, late_after, done_on) "
        "SELECT card_id, %s, %s, org, unit, executor, kind, late_after, done_on FROM cards WHERE card_id = %s "
        "ON CONFLICT (card_id, seq) DO NOTHING",
        (envelope.aggregate_version, on_day, card_id),
    )


def on_opened(conn: Conn, envelope: Envelope, event: ControlCardOpened) -> None:
    opened_on = event.reg_date or event.deadline
    upsert(
        conn,
        "cards",
        ("card_id", event.card_id),
        document_id=event.document_id,
        org=event.org,
        access=event.access,
        reg_number=event.reg_number,
        reg_date=event.reg_date,
        deadline=event.deadline,
        rule=event.rule,
        kind="document",
        unit=event.unit,
        opened_on=opened_on,
        late_after=event.deadline,
    )
    _state(conn, envelope, event.card_id, opened_on)


def on_assignment_opened(conn: Conn, envelope: Envelope, event: ControlAssignmentOpened) -> None:
    upsert(
        conn,
        "cards",
        ("card_id", event.card_id),
        document_id=event.document_id,
        org=event.org,
        access=event.access,
        reg_number=event.reg_number,
        deadline=event.deadline,
        rule="set_by_author",
        kind="assignment",
        assignment_id=event.assignment_id,
        executor=event.executor,
        controller=event.controller,
        unit=event.unit,
        opened_on=event.opened_on,
        late_after=event.deadline,
    )
    _state(conn, envelope, event.card_id, event.opened_on)


def on_moved(conn: Conn, envelope: Envelope, event: ControlDeadlineMoved) -> None:
    conn.execute(
        "UPDATE cards SET deadline = %s, late_after = CASE WHEN %s THEN %s ELSE late_after END WHERE card_id = %s",
        (event.deadline, event.counts, event.deadline, event.card_id),
    )
    _state(conn, envelope, event.card_id, event.on)


def on_reported(conn: Conn, envelope: Envelope, event: ControlCardReported) -> None:
    conn.execute("UPDATE cards SET reported_on = %s WHERE card_id = %s", (event.on, event.card_id))


def on_returned(conn: Conn, envelope: Envelope, event: ControlCardReturned) -> None:
    conn.execute("UPDATE cards SET reported_on = NULL WHERE card_id = %s", (event.card_id,))


def on_closed(conn: Conn, envelope: Envelope, event: ControlCardClosed) -> None:
    conn.execute(
        "UPDATE cards SET done_on = %s, late = %s WHERE card_id = %s", (event.done_on, event.late, event.card_id)
    )
    _state(conn, envelope, event.card_id, event.done_on)


def on_reminder(conn: Conn, envelope: Envelope, event: ControlReminder) -> None:
    conn.execute(
        "INSERT INTO reminders (card_id, kind, deadline, on_day, org, executor, recipients) "
        "SELECT %s, %s, %s, %s, org, %s, %s FROM cards WHERE card_id = %s ON CONFLICT DO NOTHING",
        (
            event.card_id,
            "due_soon" if isinstance(event, ControlDueSoon) else "overdue",
            event.deadline,
            event.on,
            event.executor,
            Jsonb([r.model_dump() for r in event.recipients]),
            event.card_id,
        ),
    )


# -- the directory: who works where, and who heads what -------------------------------------------------------------
def on_person(conn: Conn, envelope: Envelope, event: PersonRegistered) -> None:
    upsert(
        conn, "people", ("login", event.login), org=event.org, unit=event.unit, position=event.position,
        full_name=event.full_name,
    )  # fmt: skip


def on_person_changed(conn: Conn, envelope: Envelope, event: PersonChanged) -> None:
    for column in ("unit", "position", "full_name"):
        if column in event.changes:
            conn.execute(
                f"UPDATE people SET {column} = %s WHERE login = %s",  # noqa: S608 - a column name of ours
                (event.changes[column], event.login),
            )


def on_position(conn: Conn, envelope: Envelope, event: PositionDefined) -> None:
    conn.execute(
        "INSERT INTO positions (org, code, unit, head) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (org, code) DO UPDATE SET unit = EXCLUDED.unit, head = EXCLUDED.head",
        (event.org, event.code, event.unit, event.head),
    )


def on_unit(conn: Conn, envelope: Envelope, event: UnitCreated) -> None:
    conn.execute(
        "INSERT INTO units (org, code, parent) VALUES (%s, %s, %s) "
        "ON CONFLICT (org, code) DO UPDATE SET parent = EXCLUDED.parent",
        (event.org, event.code, event.parent),
    )


def on_unit_changed(conn: Conn, envelope: Envelope, event: UnitChanged) -> None:
    if "parent" in event.changes:
        conn.execute(
            "UPDATE units SET parent = %s WHERE org = %s AND code = %s",
            (event.changes["parent"], event.org, event.code),
        )


# -- route stages (durations against the norms) ------------------------------------------------------------------------
def _day(envelope: Envelope) -> date:
    return envelope.occurred_at.astimezone(REGION_TIMEZONE).date()


def on_registered(conn: Conn, envelope: Envelope, event: DocumentRegistered) -> None:
    """Registration (received -> registered) and the resolution stage's start, keyed by the document (DOMAIN.md
    stage norms: registration 1 working day, resolution 1)."""
    conn.execute(
        "INSERT INTO stages (route_id, stage, document_id, org, started_on, completed_on, outcome) "
        "VALUES (%s, 'registration', %s, %s, %s, %s, 'done'), (%s, 'resolution', %s, %s, %s, NULL, NULL) "
        "ON CONFLICT (route_id, stage) DO UPDATE SET started_on = EXCLUDED.started_on, "
        "completed_on = coalesce(stages.completed_on, EXCLUDED.completed_on)",
        (
            event.document_id, event.document_id, event.org, event.received_date or event.reg_date, event.reg_date,
            event.document_id, event.document_id, event.org, event.reg_date,
        ),
    )  # fmt: skip


def on_resolution(conn: Conn, envelope: Envelope, event: ResolutionIssued) -> None:
    """The first resolution on a document ends its resolution stage."""
    conn.execute(
        "INSERT INTO stages (route_id, stage, document_id, org, completed_on, outcome) "
        "VALUES (%s, 'resolution', %s, %s, %s, 'done') ON CONFLICT (route_id, stage) DO UPDATE SET "
        "completed_on = coalesce(stages.completed_on, EXCLUDED.completed_on), outcome = 'done'",
        (event.document_id, event.document_id, event.org, _day(envelope)),
    )


def on_stage_started(conn: Conn, envelope: Envelope, event: StageStarted) -> None:
    conn.execute(
        "INSERT INTO stages (route_id, stage, document_id, org, started_on) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (route_id, stage) DO UPDATE SET started_on = EXCLUDED.started_on, completed_on = NULL, "
        "outcome = NULL",
        (event.route_id, event.stage, event.document_id, event.org, _day(envelope)),
    )


def on_stage_completed(conn: Conn, envelope: Envelope, event: StageCompleted) -> None:
    conn.execute(
        "INSERT INTO stages (route_id, stage, document_id, org, completed_on, outcome) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (route_id, stage) DO UPDATE SET completed_on = EXCLUDED.completed_on, outcome = EXCLUDED.outcome",
        (event.route_id, event.stage, event.document_id, event.org, _day(envelope), event.outcome),
    )


# -- the same, a run of events at once (replay, busy fetches): each row folded in memory and written once ------------
#: Each table's columns with their types (a binary COPY names them).
CARD_TYPES = {
    "card_id": "uuid", "document_id": "uuid", "org": "text", "access": "text", "reg_number": "text", "reg_date": "date",
    "deadline": "date", "rule": "text", "kind": "text", "assignment_id": "uuid", "executor": "text",
    "controller": "text", "unit": "text", "opened_on": "date", "late_after": "date", "reported_on": "date",
    "done_on": "date", "late": "bool",
}  # fmt: skip
STATE_TYPES = {
    "card_id": "uuid", "seq": "int4", "on_day": "date", "org": "text", "unit": "text", "executor": "text",
    "kind": "text", "late_after": "date", "done_on": "date",
}  # fmt: skip
STAGE_TYPES = {
    "route_id": "uuid", "stage": "text", "document_id": "uuid", "org": "text", "started_on": "date",
    "completed_on": "date", "outcome": "text",
}  # fmt: skip
CARD_COLUMNS = tuple(CARD_TYPES)
STATE_COLUMNS = tuple(STATE_TYPES)
STATE_OF_CARD = tuple(c for c in STATE_COLUMNS if c in CARD_COLUMNS)
STAGE_COLUMNS = tuple(STAGE_TYPES)


def _write(
    conn: Conn, table: str, types: dict[str, str], rows: list[dict[str, Any]], new: Callable[[dict[str, Any]], bool],
    conflict: str,
) -> None:  # fmt: skip
    """Rows of a run written: those `new` (not in the table when the run read it) by a binary COPY, the others by one
    upsert (`_bulk`). A COPY has no JSON to read and no conflict to look for (the server's CPU per event in a replay
    17 -> 9.9 us; docs/BENCHMARKS.md). Should a row have been made meanwhile after all (two replicas of the live
    consumer while a partition changes hands), the COPY fails in its savepoint and every row goes by the upsert."""
    fresh: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for row in rows:
        (fresh if new(row) else rest).append(row)
    if fresh:
        columns = tuple(types)
        values = itemgetter(*columns)
        try:
            with (
                conn.transaction(),
                conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(list(types.values()))
                for row in fresh:
                    copy.write_row(values(row))
        except psycopg.errors.UniqueViolation:
            rest = rows
    _bulk(conn, table, tuple(types), rest, conflict)


def _bulk(conn: Conn, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]], conflict: str) -> None:
    """Rows in one statement, sent as one JSON array of objects (pydantic-core writes it far faster than psycopg
    makes a binary array per column) that PostgreSQL reads back into the table's row type."""
    if not rows:
        return
    names = ", ".join(columns)
    conn.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{table}, %s::json) "  # noqa: S608
        f"{conflict}",
        (to_json(rows).decode(),),
    )


def _load(conn: Conn, table: str, columns: tuple[str, ...], where: str, keys: list[Any]) -> list[dict[str, Any]]:
    if not keys:
        return []
    rows: list[dict[str, Any]] = conn.execute(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {where}",  # noqa: S608 - names of ours
        keys,
    ).fetchall()
    return rows


def apply_run(conn: Conn, run: list[tuple[Envelope, Any]]) -> None:
    """Card and stage events folded per row, then each row written once: the tables end as the handlers above
    leave them one event at a time."""
    # Keys are UUIDs (as events and rows carry them), sorted by their int (the order of their text: one lock order).
    touched = {e.card_id for _, e in run if not isinstance(e, StageStarted | StageCompleted)}
    cards = {r["card_id"]: dict(r) for r in _load(conn, "cards", CARD_COLUMNS, "card_id = ANY(%b::uuid[])",
                                                 [list(touched)])}  # fmt: skip
    stage_keys = sorted({(e.route_id, e.stage) for _, e in run if isinstance(e, StageStarted | StageCompleted)},
                        key=lambda k: (k[0].int, k[1]))  # fmt: skip
    stages = {
        (r["route_id"], r["stage"]): dict(r)
        for r in _load(conn, "stages", STAGE_COLUMNS, "(route_id, stage) IN (SELECT * FROM unnest(%b::uuid[], "
                       "%b::text[]))", [[k[0] for k in stage_keys], [k[1] for k in stage_keys]])
    }  # fmt: skip
    found_cards, found_stages = set(cards), set(stages)
    states: dict[tuple[Any, int], dict[str, Any]] = {}

    def state(envelope: Envelope, row: dict[str, Any], on_day: Any) -> None:
        key = (row["card_id"], envelope.aggregate_version)
        if key not in states:
            states[key] = {"seq": envelope.aggregate_version, "on_day": on_day, **{c: row[c] for c in STATE_OF_CARD}}

    for envelope, event in run:
        if isinstance(event, ControlCardOpened | ControlAssignmentOpened):
            row = cards.setdefault(event.card_id, dict.fromkeys(CARD_COLUMNS))
            row.update(card_id=event.card_id, document_id=event.document_id, org=event.org, access=event.access,
                       reg_number=event.reg_number, deadline=event.deadline, unit=event.unit,
                       late_after=event.deadline)  # fmt: skip
            if isinstance(event, ControlAssignmentOpened):
                row.update(rule="set_by_author", kind="assignment", assignment_id=event.assignment_id,
                           executor=event.executor, controller=event.controller, opened_on=event.opened_on)  # fmt: skip
            else:
                row.update(reg_date=event.reg_date, rule=event.rule, kind="document",
                           opened_on=event.reg_date or event.deadline)  # fmt: skip
            state(envelope, row, row["opened_on"])
        elif isinstance(event, StageStarted | StageCompleted):
            found = stages.get((event.route_id, event.stage))
            stage = found or {"route_id": event.route_id, "stage": event.stage, "document_id": event.document_id,
                              "org": event.org, "started_on": None, "completed_on": None, "outcome": None}  # fmt: skip
            stages[(event.route_id, event.stage)] = stage
            if isinstance(event, StageStarted):
                stage.update(started_on=_day(envelope), completed_on=None, outcome=None)
            else:
                stage.update(completed_on=_day(envelope), outcome=event.outcome)
        else:
            existing = cards.get(event.card_id)
            if existing is None:
                continue  # as the UPDATE of a handler finds no row
            if isinstance(event, ControlDeadlineMoved):
                existing.update(deadline=event.deadline, late_after=event.deadline if event.counts else
                                existing["late_after"])  # fmt: skip
                state(envelope, existing, event.on)
            elif isinstance(event, ControlCardReported):
                existing["reported_on"] = event.on
            elif isinstance(event, ControlCardReturned):
                existing["reported_on"] = None
            elif isinstance(event, ControlCardClosed):
                existing.update(done_on=event.done_on, late=event.late)
                state(envelope, existing, event.done_on)
    update_all = ", ".join(f"{c} = EXCLUDED.{c}" for c in CARD_COLUMNS[1:])
    _write(conn, "cards", CARD_TYPES, [cards[k] for k in sorted(touched, key=lambda u: u.int) if k in cards],
           lambda row: row["card_id"] not in found_cards,
           f"ON CONFLICT (card_id) DO UPDATE SET {update_all}")  # fmt: skip
    # a state is keyed by its event (the card's version): an event applied for the first time makes a new one
    _write(conn, "card_states", STATE_TYPES, [states[k] for k in sorted(states, key=lambda k: (k[0].int, k[1]))],
           lambda row: True, "ON CONFLICT (card_id, seq) DO NOTHING")  # fmt: skip
    update_stages = ", ".join(f"{c} = EXCLUDED.{c}" for c in STAGE_COLUMNS[2:])
    _write(conn, "stages", STAGE_TYPES, [stages[k] for k in stage_keys],
           lambda row: (row["route_id"], row["stage"]) not in found_stages,
           f"ON CONFLICT (route_id, stage) DO UPDATE SET {update_stages}")  # fmt: skip


READ_MODEL = ReadModel(
    ddl=DDL,
    tables=("cards", "card_states", "reminders", "people", "positions", "units", "stages"),
    handlers={
        ControlCardOpened: on_opened,
        ControlAssignmentOpened: on_assignment_opened,
        ControlDeadlineMoved: on_moved,
        ControlCardReported: on_reported,
        ControlCardReturned: on_returned,
        ControlCardClosed: on_closed,
        ControlDueSoon: on_reminder,
        ControlOverdue: on_reminder,
        PersonRegistered: on_person,
        PersonChanged: on_person_changed,
        PositionDefined: on_position,
        UnitCreated: on_unit,
        UnitChanged: on_unit_changed,
        StageStarted: on_stage_started,
        StageCompleted: on_stage_completed,
        DocumentRegistered: on_registered,
        ResolutionIssued: on_resolution,
    },
    batch=apply_run,
    # Every row is one aggregate's (a card, a route's stage, a person, a unit) or a commutative upsert (a stage's
    # start and end from two topics), and nothing is derived from another row but a reminder's card, which is in the
    # reminder's partition: a replay may apply partitions in several processes at once (edms_runtime.lanes).
    partitioned=True,
    # A replay writes states by COPY and reads cards by their key only: the rest is made once it has caught up.
    deferred=("card_states_pkey", "card_states_day", "cards_org_deadline", "cards_open"),
    batch_types=(
        ControlCardOpened,
        ControlAssignmentOpened,
        ControlDeadlineMoved,
        ControlCardReported,
        ControlCardReturned,
        ControlCardClosed,
        StageStarted,
        StageCompleted,
    ),
)
