"""Routing's read model: the directory as routing knows it, the documents, assignments and every open task.

- `people`, `units`, `delegations` from the registry's directory events (edms.registry.directory.v1): routing
  checks executors and controllers against them and expands approval stages given by role;
- `documents` from the registry's document events and control's cards: the control deadline an assignment takes
  when its resolution gives none;
- `calendar_years` from control's `CalendarCorrected`: the business calendar's corrections (regional days off,
  working days) on top of the federal production calendar, on which routing counts its stage norms;
- `assignments` and `tasks` from routing's own events: "my work now" (`GET /inbox`) is one indexed query on
  `tasks`. A task is for a login, or for everyone of a role in an organization (`role`, e.g. the heads who may
  write a resolution). Every change of `tasks` notifies `routing_inbox` with the logins (or `role:<r>`) concerned,
  which `GET /inbox/stream` listens to.

Every handler is an upsert or a delete keyed by what the event names, so a redelivery changes nothing;
`edms replay routing` rebuilds it from the topics.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from edms_contracts import ControlCardOpened, DocumentDrafted, DocumentRegistered, Envelope, RouteStarted
from edms_contracts.archive import DisposalActDrafted
from edms_contracts.control import CalendarCorrected
from edms_contracts.directory import (
    DelegationGranted,
    DelegationRevoked,
    PersonChanged,
    PersonDeactivated,
    PersonRegistered,
    UnitChanged,
    UnitClosed,
    UnitCreated,
)
from edms_contracts.routing import (
    ApprovalDecided,
    ApproverAdded,
    AssignmentAccepted,
    AssignmentCreated,
    AssignmentReported,
    AssignmentReturned,
    ExtensionGranted,
    ExtensionRefused,
    ExtensionRequested,
    StageCompleted,
    StageStarted,
)
from edms_runtime.calendar import ProductionCalendar
from edms_runtime.consumer import ReadModel, upsert

CHANNEL = "routing_inbox"

DDL = """
CREATE TABLE IF NOT EXISTS people (
    login text PRIMARY KEY,
    org text NOT NULL,
    full_name text NOT NULL,
    unit text,
    position text,
    roles text[] NOT NULL DEFAULT '{}',
    active boolean NOT NULL DEFAULT true
);
CREATE INDEX IF NOT EXISTS people_org_roles ON people USING gin (roles);
CREATE TABLE IF NOT EXISTS units (
    org text NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    parent text,
    closed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (org, code)
);
CREATE TABLE IF NOT EXISTS delegations (
    delegation_id uuid PRIMARY KEY,
    org text NOT NULL,
    principal text NOT NULL,
    deputy text NOT NULL,
    roles text[] NOT NULL,
    starts date NOT NULL,
    ends date NOT NULL,
    revoked boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS delegations_deputy ON delegations (deputy);
CREATE TABLE IF NOT EXISTS documents (
    document_id uuid PRIMARY KEY,
    org text,
    access text,
    kind text,
    title text,
    reg_number text,
    reg_date date,
    unit text,
    card_deadline date,
    control_deadline date
);
CREATE TABLE IF NOT EXISTS routes (
    route_id uuid PRIMARY KEY,
    document_id uuid NOT NULL,
    org text,
    access text,
    process text,
    stages text[],
    stage text,
    stage_deadline date,
    last_outcome text
);
CREATE INDEX IF NOT EXISTS routes_document ON routes (document_id);
CREATE TABLE IF NOT EXISTS assignments (
    assignment_id uuid PRIMARY KEY,
    document_id uuid NOT NULL,
    org text,
    access text,
    parent_id uuid,
    author text NOT NULL,
    executor text NOT NULL,
    co_executors text[] NOT NULL DEFAULT '{}',
    controller text,
    unit text,
    deadline date NOT NULL,
    status text NOT NULL,
    text text NOT NULL
);
CREATE INDEX IF NOT EXISTS assignments_org_unit ON assignments (org, unit, deadline);
CREATE TABLE IF NOT EXISTS tasks (
    task_id text PRIMARY KEY,
    login text,
    role text,
    org text,
    access text,
    task text NOT NULL,
    document_id uuid NOT NULL,
    assignment_id uuid,
    route_id uuid,
    stage text,
    request_id uuid,
    deadline date,
    title text
);
CREATE INDEX IF NOT EXISTS tasks_desk ON tasks (login, deadline, task_id) WHERE login IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_role_desk ON tasks (org, role, deadline, task_id) WHERE role IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_assignment ON tasks (assignment_id);
CREATE INDEX IF NOT EXISTS tasks_route ON tasks (route_id, stage);
CREATE OR REPLACE FUNCTION routing_inbox_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('routing_inbox', COALESCE(OLD.login, 'role:' || OLD.role || '@' || COALESCE(OLD.org, '')));
    ELSE
        PERFORM pg_notify('routing_inbox', COALESCE(NEW.login, 'role:' || NEW.role || '@' || COALESCE(NEW.org, '')));
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER tasks_changed AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION routing_inbox_changed();
"""

Conn = psycopg.Connection[Any]


# -- the directory -------------------------------------------------------------------------------------------------
def on_person_registered(conn: Conn, envelope: Envelope, event: PersonRegistered) -> None:
    upsert(
        conn,
        "people",
        ("login", event.login),
        org=event.org,
        full_name=event.full_name,
        unit=event.unit,
        position=event.position,
        roles=[str(role) for role in event.roles],
        active=True,
    )


_PERSON_FIELDS = {"full_name", "unit", "position", "roles", "org"}


def on_person_changed(conn: Conn, envelope: Envelope, event: PersonChanged) -> None:
    changes = {key: value for key, value in event.changes.items() if key in _PERSON_FIELDS}
    if "roles" in changes:
        changes["roles"] = [str(role) for role in changes["roles"] or []]
    if changes:
        sets = ", ".join(f"{key} = %({key})s" for key in changes)
        conn.execute(f"UPDATE people SET {sets} WHERE login = %(login)s", {**changes, "login": event.login})  # noqa: S608


def on_person_deactivated(conn: Conn, envelope: Envelope, event: PersonDeactivated) -> None:
    conn.execute("UPDATE people SET active = false WHERE login = %s", (event.login,))


def on_unit_created(conn: Conn, envelope: Envelope, event: UnitCreated) -> None:
    conn.execute(
        "INSERT INTO units (org, code, name, parent) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (org, code) DO UPDATE SET name = EXCLUDED.name, parent = EXCLUDED.parent, closed = false",
        (event.org, event.code, event.name, event.parent),
    )


def on_unit_changed(conn: Conn, envelope: Envelope, event: UnitChanged) -> None:
    changes = {key: value for key, value in event.changes.items() if key in ("name", "parent")}
    if changes:
        sets = ", ".join(f"{key} = %({key})s" for key in changes)
        conn.execute(
            f"UPDATE units SET {sets} WHERE org = %(org)s AND code = %(code)s",  # noqa: S608
            {**changes, "org": event.org, "code": event.code},
        )


def on_unit_closed(conn: Conn, envelope: Envelope, event: UnitClosed) -> None:
    conn.execute("UPDATE units SET closed = true WHERE org = %s AND code = %s", (event.org, event.code))


def on_delegation_granted(conn: Conn, envelope: Envelope, event: DelegationGranted) -> None:
    upsert(
        conn,
        "delegations",
        ("delegation_id", event.delegation_id),
        org=event.org,
        principal=event.principal,
        deputy=event.deputy,
        roles=[str(role) for role in event.roles],
        starts=event.starts,
        ends=event.ends,
    )


def on_delegation_revoked(conn: Conn, envelope: Envelope, event: DelegationRevoked) -> None:
    conn.execute("UPDATE delegations SET revoked = true WHERE delegation_id = %s", (event.delegation_id,))


# -- documents -----------------------------------------------------------------------------------------------------
def on_registered(conn: Conn, envelope: Envelope, event: DocumentRegistered) -> None:
    upsert(
        conn,
        "documents",
        ("document_id", event.document_id),
        org=event.org,
        access=event.access,
        kind=event.kind,
        title=event.title,
        reg_number=event.reg_number,
        reg_date=event.reg_date,
        unit=event.unit,
        card_deadline=event.deadline,
    )

    _document_tasks(conn, event.document_id)


def on_drafted(conn: Conn, envelope: Envelope, event: DocumentDrafted) -> None:
    conn.execute(
        "INSERT INTO documents (document_id, org, access, kind, title, unit) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (document_id) DO NOTHING",
        (event.document_id, event.org, event.access, event.kind, event.title, event.unit),
    )
    _document_tasks(conn, event.document_id)


def on_act_drafted(conn: Conn, envelope: Envelope, event: DisposalActDrafted) -> None:
    """The archive's disposal act, so the commission's tasks carry its title (it has no registry card)."""
    conn.execute(
        "INSERT INTO documents (document_id, org, kind, title) VALUES (%s, %s, 'disposal_act', %s) "
        "ON CONFLICT (document_id) DO NOTHING",
        (event.act_id, event.org, event.title),
    )
    _document_tasks(conn, event.act_id)


def _document_tasks(conn: Conn, document_id: uuid.UUID) -> None:
    """Tasks made before their document's event arrived (topics are read in any order) get its title and mark."""
    conn.execute(
        "UPDATE tasks t SET title = d.title, access = CASE WHEN t.assignment_id IS NULL THEN d.access ELSE t.access "
        "END FROM documents d WHERE d.document_id = %s AND t.document_id = d.document_id "
        "AND (t.title IS DISTINCT FROM d.title OR (t.assignment_id IS NULL AND t.access IS DISTINCT FROM d.access))",
        (document_id,),
    )


def on_card_opened(conn: Conn, envelope: Envelope, event: ControlCardOpened) -> None:
    upsert(conn, "documents", ("document_id", event.document_id), control_deadline=event.deadline)


# -- tasks ---------------------------------------------------------------------------------------------------------
def _task(conn: Conn, task_id: str, **columns: Any) -> None:
    if "title" not in columns:
        row = conn.execute("SELECT title FROM documents WHERE document_id = %s", (columns["document_id"],)).fetchone()
        columns["title"] = row["title"] if row else None
    upsert(conn, "tasks", ("task_id", task_id), **columns)


def on_route_started(conn: Conn, envelope: Envelope, event: RouteStarted) -> None:
    conn.execute(
        "INSERT INTO routes (route_id, document_id, org, access, process, stages, stage) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (route_id) DO UPDATE SET document_id = EXCLUDED.document_id, "
        "org = EXCLUDED.org, access = EXCLUDED.access, process = EXCLUDED.process, stages = EXCLUDED.stages, "
        "stage = EXCLUDED.stage, stage_deadline = NULL, last_outcome = NULL",
        (event.route_id, event.document_id, event.org, event.access, event.process, event.stages, event.current_stage),
    )
    # a route put on another process (RouteStarted again) leaves no task of the old one behind
    conn.execute("DELETE FROM tasks WHERE route_id = %s", (event.route_id,))


def on_stage_started(conn: Conn, envelope: Envelope, event: StageStarted) -> None:
    """A stage's tasks: every participant of a parallel stage, the first of a sequential one. A role names
    everyone of it in the organization (the heads, for a resolution)."""
    conn.execute("DELETE FROM tasks WHERE route_id = %s", (event.route_id,))
    task = _STAGE_TASKS.get(event.stage, "approve" if event.mode else None)
    if task is None:
        return
    if event.mode == "sequential":
        for participant in event.participants[:1]:
            _stage_task(
                conn, event, task, participant, _own_deadline(conn, envelope, event.participant_days, event.deadline)
            )
        return
    for participant in event.participants:
        _stage_task(conn, event, task, participant, event.deadline)


def _own_deadline(conn: Conn, envelope: Envelope, days: int | None, stage_deadline: date | None) -> date | None:
    """A sequential approver's own deadline: `days` working days from when their turn came (the event's day)."""
    if days is None:
        return stage_deadline
    return calendar_of(conn).add_working_days(envelope.occurred_at.date(), days)


_STAGE_TASKS = {"resolution": "resolve", "signing": "sign"}


def _stage_task(
    conn: Conn, event: StageStarted | ApprovalDecided | ApproverAdded, task: str, who: str, deadline: date | None
) -> None:
    role = who.removeprefix("role:") if who.startswith("role:") else None
    _task(
        conn,
        f"{event.route_id}/{event.stage}/{who}",
        login=None if role else who,
        role=role,
        org=event.org,
        access=_access(conn, event.document_id),
        task=task,
        document_id=event.document_id,
        route_id=event.route_id,
        stage=event.stage,
        deadline=deadline,
    )


def _access(conn: Conn, document_id: uuid.UUID) -> str | None:
    row = conn.execute("SELECT access FROM documents WHERE document_id = %s", (document_id,)).fetchone()
    return row["access"] if row else None


def on_stage_completed(conn: Conn, envelope: Envelope, event: StageCompleted) -> None:
    upsert(conn, "routes", ("route_id", event.route_id), document_id=event.document_id, last_outcome=event.outcome)
    conn.execute("DELETE FROM tasks WHERE route_id = %s AND stage = %s", (event.route_id, event.stage))


def on_approval_decided(conn: Conn, envelope: Envelope, event: ApprovalDecided) -> None:
    """The approver's task is done; a delegate gets it; a sequential stage's next approver gets theirs."""
    conn.execute("DELETE FROM tasks WHERE task_id = %s", (f"{event.route_id}/{event.stage}/{event.approver}",))
    deadline = _stage_deadline(conn, event)
    if event.decision == "delegate" and event.delegate_to:
        conn.execute(
            "UPDATE stages SET participants = array_replace(participants, %s, %s) WHERE route_id = %s AND stage = %s",
            (event.approver, event.delegate_to, event.route_id, event.stage),
        )
        _stage_task(conn, event, "approve", event.delegate_to, deadline)
        return
    stage = conn.execute(
        "SELECT participants, decided, mode, deadline, participant_days FROM stages WHERE route_id = %s AND stage = %s",
        (event.route_id, event.stage),
    ).fetchone()
    if stage is None:
        return
    decided = [*stage["decided"], event.approver]
    conn.execute(
        "UPDATE stages SET decided = %s WHERE route_id = %s AND stage = %s", (decided, event.route_id, event.stage)
    )
    if stage["mode"] == "sequential" and event.decision != "reject":
        waiting = [login for login in stage["participants"] if login not in decided]
        if waiting:
            own = _own_deadline(conn, envelope, stage["participant_days"], deadline)
            _stage_task(conn, event, "approve", waiting[0], own)


def _stage_deadline(conn: Conn, event: ApprovalDecided) -> date | None:
    row = conn.execute(
        "SELECT deadline FROM stages WHERE route_id = %s AND stage = %s", (event.route_id, event.stage)
    ).fetchone()
    return row["deadline"] if row else None


def on_approver_added(conn: Conn, envelope: Envelope, event: ApproverAdded) -> None:
    conn.execute(
        "UPDATE stages SET participants = array_append(participants, %s) WHERE route_id = %s AND stage = %s "
        "AND NOT (%s = ANY(participants))",
        (event.approver, event.route_id, event.stage, event.approver),
    )
    row = conn.execute(
        "SELECT mode, participants, decided FROM stages WHERE route_id = %s AND stage = %s",
        (event.route_id, event.stage),
    ).fetchone()
    if row is not None and row["mode"] == "sequential":
        waiting = [login for login in row["participants"] if login not in row["decided"]]
        if waiting[:1] != [event.approver]:
            return
    _stage_task(conn, event, "approve", event.approver, event.deadline)


STAGES_DDL = """
CREATE TABLE IF NOT EXISTS stages (
    route_id uuid NOT NULL,
    stage text NOT NULL,
    mode text,
    participants text[] NOT NULL,
    decided text[] NOT NULL DEFAULT '{}',
    deadline date,
    PRIMARY KEY (route_id, stage)
);
ALTER TABLE stages ADD COLUMN IF NOT EXISTS participant_days integer;
CREATE TABLE IF NOT EXISTS calendar_years (
    year integer PRIMARY KEY,
    version integer NOT NULL,
    days_off date[] NOT NULL,
    working_days date[] NOT NULL
);
"""


# -- the business calendar: control's corrections ---------------------------------------------------------------------
def on_calendar_corrected(conn: Conn, envelope: Envelope, event: CalendarCorrected) -> None:
    """A year's corrections replace the year's earlier ones (a later version wins; an older one redelivered loses)."""
    conn.execute(
        "INSERT INTO calendar_years (year, version, days_off, working_days) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (year) DO UPDATE SET version = EXCLUDED.version, days_off = EXCLUDED.days_off, "
        "working_days = EXCLUDED.working_days WHERE calendar_years.version < EXCLUDED.version",
        (event.year, event.version, event.days_off, event.working_days),
    )


def calendar_of(conn: Conn) -> ProductionCalendar:
    """The region's business calendar: the federal production calendar with every year's corrections."""
    rows = conn.execute("SELECT year, days_off, working_days FROM calendar_years ORDER BY year").fetchall()
    return _calendar(tuple((row["year"], tuple(row["days_off"]), tuple(row["working_days"])) for row in rows))


@functools.lru_cache(maxsize=4)
def _calendar(corrections: tuple[tuple[int, tuple[date, ...], tuple[date, ...]], ...]) -> ProductionCalendar:
    """One calendar per set of corrections, kept: it caches each year's holidays, which take milliseconds to build."""
    calendar = ProductionCalendar()
    for year, days_off, working_days in corrections:
        calendar = calendar.with_corrections(year, days_off, working_days)
    return calendar


class CalendarSource:
    """The calendar as the read model has it, for the application's commands: read again when a correction has
    arrived (a cheap check of the versions at most once a second), so every replica counts on the same days."""

    def __init__(self, pool: ConnectionPool[Any], every: float = 1.0) -> None:
        self.pool = pool
        self.every = every
        self._calendar = ProductionCalendar()
        self._versions: Any = None
        self._checked = -every
        self._lock = threading.Lock()

    def __call__(self) -> ProductionCalendar:
        with self._lock:
            if time.monotonic() - self._checked >= self.every:
                with self.pool.connection() as conn:
                    row = conn.execute("SELECT array_agg(version ORDER BY year) AS v FROM calendar_years").fetchone()
                    if row is not None and row["v"] != self._versions:
                        self._calendar, self._versions = calendar_of(conn), row["v"]
                self._checked = time.monotonic()
            return self._calendar


def on_stage_started_record(conn: Conn, envelope: Envelope, event: StageStarted) -> None:
    upsert(
        conn,
        "routes",
        ("route_id", event.route_id),
        document_id=event.document_id,
        stage=event.stage,
        stage_deadline=event.deadline,
        last_outcome=None,
    )
    conn.execute(
        "INSERT INTO stages (route_id, stage, mode, participants, decided, deadline, participant_days) "
        "VALUES (%s, %s, %s, %s, '{}', %s, %s) ON CONFLICT (route_id, stage) DO UPDATE SET mode = EXCLUDED.mode, "
        "participants = EXCLUDED.participants, decided = '{}', deadline = EXCLUDED.deadline, "
        "participant_days = EXCLUDED.participant_days",
        (event.route_id, event.stage, event.mode, event.participants, event.deadline, event.participant_days),
    )
    on_stage_started(conn, envelope, event)


def on_assignment_created(conn: Conn, envelope: Envelope, event: AssignmentCreated) -> None:
    upsert(
        conn,
        "assignments",
        ("assignment_id", event.assignment_id),
        document_id=event.document_id,
        org=event.org,
        access=event.access,
        parent_id=event.parent_id,
        author=event.author,
        executor=event.executor,
        co_executors=event.co_executors,
        controller=event.controller,
        unit=event.unit,
        deadline=event.deadline,
        status="in_progress",
        text=event.text,
    )
    _execute_tasks(conn, event.assignment_id)


def _assignment(conn: Conn, assignment_id: uuid.UUID) -> dict[str, Any] | None:
    row: dict[str, Any] | None = conn.execute(
        "SELECT * FROM assignments WHERE assignment_id = %s", (assignment_id,)
    ).fetchone()
    return row


def _execute_tasks(conn: Conn, assignment_id: uuid.UUID) -> None:
    row = _assignment(conn, assignment_id)
    if row is None:
        return
    for login in [row["executor"], *row["co_executors"]]:
        _task(
            conn,
            f"{assignment_id}/execute/{login}",
            login=login,
            org=row["org"],
            access=row["access"],
            task="execute",
            document_id=row["document_id"],
            assignment_id=assignment_id,
            deadline=row["deadline"],
        )


def _status(conn: Conn, assignment_id: uuid.UUID, status: str) -> dict[str, Any] | None:
    conn.execute("UPDATE assignments SET status = %s WHERE assignment_id = %s", (status, assignment_id))
    return _assignment(conn, assignment_id)


def on_assignment_reported(conn: Conn, envelope: Envelope, event: AssignmentReported) -> None:
    row = _status(conn, event.assignment_id, "reported")
    conn.execute("DELETE FROM tasks WHERE assignment_id = %s AND task = 'execute'", (event.assignment_id,))
    if row is None:
        return
    acceptor = row["controller"] or row["author"]
    _task(
        conn,
        f"{event.assignment_id}/accept",
        login=acceptor,
        org=row["org"],
        access=row["access"],
        task="accept",
        document_id=row["document_id"],
        assignment_id=event.assignment_id,
        deadline=row["deadline"],
    )


def on_assignment_accepted(conn: Conn, envelope: Envelope, event: AssignmentAccepted) -> None:
    _status(conn, event.assignment_id, "done")
    conn.execute("DELETE FROM tasks WHERE assignment_id = %s", (event.assignment_id,))


def on_assignment_returned(conn: Conn, envelope: Envelope, event: AssignmentReturned) -> None:
    _status(conn, event.assignment_id, "in_progress")
    conn.execute("DELETE FROM tasks WHERE task_id = %s", (f"{event.assignment_id}/accept",))
    _execute_tasks(conn, event.assignment_id)


def on_extension_requested(conn: Conn, envelope: Envelope, event: ExtensionRequested) -> None:
    row = _assignment(conn, event.assignment_id)
    if row is None:
        return
    _task(
        conn,
        f"{event.assignment_id}/extension/{event.request_id}",
        login=row["author"],
        org=row["org"],
        access=row["access"],
        task="extension",
        document_id=row["document_id"],
        assignment_id=event.assignment_id,
        request_id=event.request_id,
        # the decision is due within a working day (process 12), at the latest when the deadline passes
        deadline=min(event.requested_on + timedelta(days=1), row["deadline"]),
    )


def on_extension_granted(conn: Conn, envelope: Envelope, event: ExtensionGranted) -> None:
    conn.execute("DELETE FROM tasks WHERE task_id = %s", (f"{event.assignment_id}/extension/{event.request_id}",))
    conn.execute(
        "UPDATE assignments SET deadline = %s WHERE assignment_id = %s", (event.new_deadline, event.assignment_id)
    )
    conn.execute(
        "UPDATE tasks SET deadline = %s WHERE assignment_id = %s AND task IN ('execute', 'accept')",
        (event.new_deadline, event.assignment_id),
    )


def on_extension_refused(conn: Conn, envelope: Envelope, event: ExtensionRefused) -> None:
    conn.execute("DELETE FROM tasks WHERE task_id = %s", (f"{event.assignment_id}/extension/{event.request_id}",))


READ_MODEL = ReadModel(
    ddl=DDL + STAGES_DDL,
    tables=(
        "people",
        "units",
        "delegations",
        "documents",
        "routes",
        "assignments",
        "tasks",
        "stages",
        "calendar_years",
    ),
    functions=("routing_inbox_changed()",),
    handlers={
        PersonRegistered: on_person_registered,
        PersonChanged: on_person_changed,
        PersonDeactivated: on_person_deactivated,
        UnitCreated: on_unit_created,
        UnitChanged: on_unit_changed,
        UnitClosed: on_unit_closed,
        DelegationGranted: on_delegation_granted,
        DelegationRevoked: on_delegation_revoked,
        DocumentRegistered: on_registered,
        DocumentDrafted: on_drafted,
        DisposalActDrafted: on_act_drafted,
        ControlCardOpened: on_card_opened,
        RouteStarted: on_route_started,
        StageStarted: on_stage_started_record,
        StageCompleted: on_stage_completed,
        ApprovalDecided: on_approval_decided,
        ApproverAdded: on_approver_added,
        AssignmentCreated: on_assignment_created,
        AssignmentReported: on_assignment_reported,
        AssignmentAccepted: on_assignment_accepted,
        AssignmentReturned: on_assignment_returned,
        ExtensionRequested: on_extension_requested,
        ExtensionGranted: on_extension_granted,
        ExtensionRefused: on_extension_refused,
        CalendarCorrected: on_calendar_corrected,
    },
)


# -- queries (the API's) -------------------------------------------------------------------------------------------
def person(conn: Conn, login: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = conn.execute("SELECT * FROM people WHERE login = %s", (login,)).fetchone()
    return row


def logins_with_role(conn: Conn, org: str, role: str) -> list[str]:
    rows = conn.execute(
        "SELECT login FROM people WHERE org = %s AND %s = ANY(roles) AND active ORDER BY login", (org, role)
    ).fetchall()
    return [str(row["login"]) for row in rows]


def document(conn: Conn, document_id: uuid.UUID) -> dict[str, Any] | None:
    row: dict[str, Any] | None = conn.execute(
        "SELECT * FROM documents WHERE document_id = %s", (document_id,)
    ).fetchone()
    return row


def acting_for(conn: Conn, login: str, today: date) -> list[str]:
    """Whom `login` acts for today (delegations: an acting head, врио): their desks' changes concern `login` too."""
    rows = conn.execute(
        "SELECT DISTINCT principal FROM delegations WHERE deputy = %s AND NOT revoked AND starts <= %s AND ends >= %s",
        (login, today, today),
    ).fetchall()
    return [str(row["principal"]) for row in rows]
