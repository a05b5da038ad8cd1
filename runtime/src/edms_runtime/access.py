"""Who may read a document, derived from events — one rule, one implementation, in every service's schema.

Every service's consumer keeps the facts the rule needs in its own schema (track `<service>.access`, installed by
`build_parts`): the directory (units and their tree, head positions, people with their units and roles,
delegations with their dates) from `edms.registry.directory.v1`, and per document its organization, registering
unit, restriction mark, who it concerns and whom it is granted to, from the registry's and routing's events.

The rule (`access_may_read`, a SQL function created in every schema, so lists, totals and facets can filter inside
their queries and a single card is checked by the very same code):
- a person explicitly granted the document reads it, until the grant's last day or its revocation (`AccessGranted`,
  `AccessRevoked`: the head's permission, Decree No. 1233 of 03.11.1994);
- otherwise only people of the document's organization, and of them, for a document without a restriction mark,
  everyone (the organization's open documents, as before);
- a document marked ДСП only those it is for: people admitted by role (`restricted.read`, the admission list of
  Decree No. 1233 of 03.11.1994, item 1.4), its addressees, route participants, executors and co-executors,
  controllers, resolution authors, members of a unit it was addressed or distributed to, and the heads — or the
  acting heads (врио) on that day by a delegation — of the registering unit, of those people's units, and of every
  unit above them in the tree (a head answers for the units below: Instruction on records management, the
  head's resolution and control).

A person's roles, too, come from the directory as well as from the token: `directory_roles` adds the roles the
directory gives the person in the token's organization and those delegated to them for the day (an executor acting
as head while the head is away has `head` only from `starts` to `ends`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from edms_contracts import directory as d
from edms_contracts import routing as r
from edms_contracts.envelope import Envelope
from edms_contracts.events import (
    AccessGranted,
    AccessRevoked,
    DocumentDrafted,
    DocumentRegistered,
    Event,
    PersonRef,
)
from edms_runtime.consumer import Handler

log = logging.getLogger(__name__)

ACCESS_DDL = """
CREATE TABLE IF NOT EXISTS access_units (
    org text NOT NULL, code text NOT NULL, parent text, closed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (org, code)
);
CREATE TABLE IF NOT EXISTS access_positions (
    org text NOT NULL, code text NOT NULL, unit text NOT NULL, head boolean NOT NULL, PRIMARY KEY (org, code)
);
CREATE TABLE IF NOT EXISTS access_people (
    org text NOT NULL, login text NOT NULL, unit text, position text, roles text[] NOT NULL DEFAULT '{}',
    active boolean NOT NULL DEFAULT true, PRIMARY KEY (org, login)
);
CREATE TABLE IF NOT EXISTS access_delegations (
    delegation_id uuid PRIMARY KEY, org text NOT NULL, principal text NOT NULL, deputy text NOT NULL,
    roles text[] NOT NULL, starts date NOT NULL, ends date NOT NULL, revoked boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS access_delegations_deputy ON access_delegations (org, deputy);
CREATE TABLE IF NOT EXISTS access_documents (
    document_id uuid PRIMARY KEY, org text NOT NULL, unit text, access text
);
-- who a document concerns: 'person:<login>' (reads it), 'unit:<code>' (its members read it), 'heads:<code>'
-- (the heads of that unit and above read it)
CREATE TABLE IF NOT EXISTS access_involved (
    document_id uuid NOT NULL, who text NOT NULL, PRIMARY KEY (document_id, who)
);
CREATE TABLE IF NOT EXISTS access_grants (
    document_id uuid NOT NULL, org text NOT NULL, login text NOT NULL, PRIMARY KEY (document_id, org, login)
);
-- the grant's last day (AccessGranted.until); none: until revoked
ALTER TABLE access_grants ADD COLUMN IF NOT EXISTS until date;
CREATE OR REPLACE FUNCTION access_may_read(
    doc uuid, reader text, reader_org text, reader_unit text, admitted boolean, on_day date
) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
-- The cheap answers first, each one index probe (a search asks this of every marked match: bench/search.py);
-- the unit tree is walked only for a reader who heads a unit, or acts for one who does, on that day.
DECLARE
    the_doc access_documents%ROWTYPE;
    heads text[];
BEGIN
    IF EXISTS (SELECT 1 FROM access_grants g WHERE g.document_id = doc AND g.org = reader_org AND g.login = reader
               AND (g.until IS NULL OR on_day <= g.until)) THEN
        RETURN true;
    END IF;
    SELECT * INTO the_doc FROM access_documents WHERE document_id = doc;
    IF NOT FOUND OR the_doc.org IS DISTINCT FROM reader_org THEN
        RETURN false;
    END IF;
    IF the_doc.access IS NULL OR admitted THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM access_involved i WHERE i.document_id = doc
               AND (i.who = 'person:' || reader OR i.who = 'unit:' || reader_unit)) THEN
        RETURN true;
    END IF;
    WITH acting_for AS (
        SELECT reader AS login
        UNION SELECT g.principal FROM access_delegations g
         WHERE g.org = reader_org AND g.deputy = reader AND NOT g.revoked AND on_day BETWEEN g.starts AND g.ends
           AND 'head' = ANY (g.roles)
    )
    SELECT array_agg(pos.unit) INTO heads
      FROM access_people p JOIN acting_for a ON a.login = p.login
      JOIN access_positions pos ON pos.org = p.org AND pos.code = p.position AND pos.head
     WHERE p.org = reader_org AND p.active;
    IF heads IS NULL THEN
        RETURN false;
    END IF;
    RETURN EXISTS (
        WITH RECURSIVE concerned(code) AS (
            SELECT the_doc.unit WHERE the_doc.unit IS NOT NULL
            UNION SELECT substr(i.who, 7) FROM access_involved i WHERE i.document_id = doc AND i.who LIKE 'heads:%'
            UNION SELECT substr(i.who, 6) FROM access_involved i WHERE i.document_id = doc AND i.who LIKE 'unit:%'
            UNION SELECT p.unit FROM access_involved i
                    JOIN access_people p ON p.org = the_doc.org AND i.who = 'person:' || p.login
                   WHERE i.document_id = doc AND p.unit IS NOT NULL
        ), above(code) AS (
            SELECT code FROM concerned
            UNION SELECT u.parent FROM above JOIN access_units u ON u.org = the_doc.org AND u.code = above.code
                   WHERE u.parent IS NOT NULL
        )
        SELECT 1 FROM above WHERE above.code = ANY (heads)
    );
END $$;
"""


def _person(conn: psycopg.Connection[Any], document_id: uuid.UUID, *logins: str | None) -> None:
    for login in logins:
        if login:
            _involve(conn, document_id, f"person:{login}")


def _involve(conn: psycopg.Connection[Any], document_id: uuid.UUID, who: str) -> None:
    conn.execute("INSERT INTO access_involved VALUES (%s, %s) ON CONFLICT DO NOTHING", (document_id, who))


def _ref(ref: PersonRef | None) -> str | None:
    return ref.login if ref is not None else None


def _document(
    conn: psycopg.Connection[Any], document_id: uuid.UUID, org: str, unit: str | None, access: str | None
) -> None:
    conn.execute(
        "INSERT INTO access_documents VALUES (%s, %s, %s, %s) ON CONFLICT (document_id) DO UPDATE "
        "SET org = EXCLUDED.org, unit = EXCLUDED.unit, access = EXCLUDED.access",
        (document_id, org, unit, access),
    )


def on_registered(conn: psycopg.Connection[Any], _: Envelope, event: DocumentRegistered) -> None:
    _document(conn, event.document_id, event.org, event.unit, event.access)
    # the clerk who registered it handled it (Decree No. 1233: those it is for), and sees the card they made
    _person(conn, event.document_id, event.registered_by, event.addressee, _ref(event.executor), _ref(event.signer))


def on_drafted(conn: psycopg.Connection[Any], _: Envelope, event: DocumentDrafted) -> None:
    _document(conn, event.document_id, event.org, event.unit, event.access)
    _person(conn, event.document_id, event.author, event.addressee, _ref(event.executor), _ref(event.signer))


def on_resolution(conn: psycopg.Connection[Any], _: Envelope, event: r.ResolutionIssued) -> None:
    _person(conn, event.document_id, event.author)


def on_assignment(conn: psycopg.Connection[Any], _: Envelope, event: r.AssignmentCreated) -> None:
    _person(conn, event.document_id, event.author, event.executor, event.controller, *event.co_executors)
    if event.unit:
        _involve(conn, event.document_id, f"heads:{event.unit}")


def on_stage(conn: psycopg.Connection[Any], _: Envelope, event: r.StageStarted) -> None:
    _person(conn, event.document_id, *event.participants)


def on_distributed(conn: psycopg.Connection[Any], _: Envelope, event: r.DocumentDistributed) -> None:
    for recipient in event.recipients:
        if recipient.partition(":")[0] in ("unit", "person"):
            _involve(conn, event.document_id, recipient)


def on_granted(conn: psycopg.Connection[Any], _: Envelope, event: AccessGranted) -> None:
    conn.execute(
        "INSERT INTO access_grants (document_id, org, login, until) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (document_id, org, login) DO UPDATE SET until = EXCLUDED.until",
        (event.document_id, event.grantee_org, event.grantee, event.until),
    )


def on_revoked(conn: psycopg.Connection[Any], _: Envelope, event: AccessRevoked) -> None:
    conn.execute(
        "DELETE FROM access_grants WHERE document_id = %s AND org = %s AND login = %s",
        (event.document_id, event.grantee_org, event.grantee),
    )


def on_unit(conn: psycopg.Connection[Any], _: Envelope, event: d.UnitCreated) -> None:
    conn.execute(
        "INSERT INTO access_units VALUES (%s, %s, %s, false) "
        "ON CONFLICT (org, code) DO UPDATE SET parent = EXCLUDED.parent",
        (event.org, event.code, event.parent),
    )


def on_unit_changed(conn: psycopg.Connection[Any], _: Envelope, event: d.UnitChanged) -> None:
    if "parent" in event.changes:
        conn.execute(
            "UPDATE access_units SET parent = %s WHERE org = %s AND code = %s",
            (event.changes["parent"], event.org, event.code),
        )


def on_unit_closed(conn: psycopg.Connection[Any], _: Envelope, event: d.UnitClosed) -> None:
    conn.execute("UPDATE access_units SET closed = true WHERE org = %s AND code = %s", (event.org, event.code))


def on_position(conn: psycopg.Connection[Any], _: Envelope, event: d.PositionDefined) -> None:
    conn.execute(
        "INSERT INTO access_positions VALUES (%s, %s, %s, %s) ON CONFLICT (org, code) DO UPDATE "
        "SET unit = EXCLUDED.unit, head = EXCLUDED.head",
        (event.org, event.code, event.unit, event.head),
    )


def on_person(conn: psycopg.Connection[Any], _: Envelope, event: d.PersonRegistered) -> None:
    conn.execute(
        "INSERT INTO access_people VALUES (%s, %s, %s, %s, %s, true) ON CONFLICT (org, login) DO UPDATE "
        "SET unit = EXCLUDED.unit, position = EXCLUDED.position, roles = EXCLUDED.roles, active = true",
        (event.org, event.login, event.unit, event.position, [str(role) for role in event.roles]),
    )


def on_person_changed(conn: psycopg.Connection[Any], _: Envelope, event: d.PersonChanged) -> None:
    changes = {key: value for key, value in event.changes.items() if key in ("unit", "position", "roles")}
    if "roles" in changes:
        changes["roles"] = [str(role) for role in changes["roles"] or []]
    for column, value in changes.items():
        conn.execute(
            f"UPDATE access_people SET {column} = %s WHERE org = %s AND login = %s",  # noqa: S608 (a fixed column)
            (value, event.org, event.login),
        )


def on_person_deactivated(conn: psycopg.Connection[Any], _: Envelope, event: d.PersonDeactivated) -> None:
    conn.execute("UPDATE access_people SET active = false WHERE org = %s AND login = %s", (event.org, event.login))


def on_delegation(conn: psycopg.Connection[Any], _: Envelope, event: d.DelegationGranted) -> None:
    conn.execute(
        "INSERT INTO access_delegations VALUES (%s, %s, %s, %s, %s, %s, %s, false) ON CONFLICT DO NOTHING",
        (
            event.delegation_id,
            event.org,
            event.principal,
            event.deputy,
            [str(role) for role in event.roles],
            event.starts,
            event.ends,
        ),
    )


def on_delegation_revoked(conn: psycopg.Connection[Any], _: Envelope, event: d.DelegationRevoked) -> None:
    conn.execute("UPDATE access_delegations SET revoked = true WHERE delegation_id = %s", (event.delegation_id,))


#: The access track's handlers: every service's consumer applies them to its own schema.
HANDLERS: dict[type[Event], Handler] = {
    DocumentRegistered: on_registered,
    DocumentDrafted: on_drafted,
    r.ResolutionIssued: on_resolution,
    r.AssignmentCreated: on_assignment,
    r.StageStarted: on_stage,
    r.DocumentDistributed: on_distributed,
    AccessGranted: on_granted,
    AccessRevoked: on_revoked,
    d.UnitCreated: on_unit,
    d.UnitChanged: on_unit_changed,
    d.UnitClosed: on_unit_closed,
    d.PositionDefined: on_position,
    d.PersonRegistered: on_person,
    d.PersonChanged: on_person_changed,
    d.PersonDeactivated: on_person_deactivated,
    d.DelegationGranted: on_delegation,
    d.DelegationRevoked: on_delegation_revoked,
}


def access_track(service: str) -> str:
    return f"{service}.access"


class AccessFacts:
    """A service's view of the access facts in its schema: the rule for one document, a person's roles."""

    #: Seconds a person's directory roles are kept, so that a client's every request does not ask again.
    ROLES_TTL = 5.0

    def __init__(self, pool: ConnectionPool[Any], today: Callable[[], date] = date.today) -> None:
        self.pool = pool
        self.today = today
        self._roles: dict[tuple[str, str], tuple[frozenset[str], tuple[str, ...], float]] = {}

    def may_read(self, document_id: uuid.UUID | str, login: str, org: str, unit: str | None, admitted: bool) -> bool:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT access_may_read(%s, %s, %s, %s, %s, %s) AS allowed",
                (document_id, login, org, unit, admitted, self.today()),
            ).fetchone()
        return bool(row and row["allowed"])

    def cached_directory_roles(self, org: str, login: str) -> tuple[frozenset[str], tuple[str, ...]] | None:
        """`directory_roles` if read less than `ROLES_TTL` ago, else None: no database, so an event loop may ask."""
        hit = self._roles.get((org, login))
        return (hit[0], hit[1]) if hit is not None and hit[2] > time.monotonic() else None

    def directory_roles(self, org: str, login: str) -> tuple[frozenset[str], tuple[str, ...]]:
        """The roles the directory gives `login` in `org`, with those delegated to them today, and whom they act
        for today."""
        key = (org, login)
        hit = self.cached_directory_roles(org, login)
        if hit is not None:
            return hit
        with self.pool.connection() as conn:
            own = conn.execute(
                "SELECT roles FROM access_people WHERE org = %s AND login = %s AND active", key
            ).fetchone()
            delegated = conn.execute(
                "SELECT principal, roles FROM access_delegations WHERE org = %s AND deputy = %s AND NOT revoked "
                "AND %s BETWEEN starts AND ends ORDER BY principal",
                (org, login, self.today()),
            ).fetchall()
        roles = set(own["roles"] if own else [])
        for row in delegated:
            roles.update(row["roles"])
        acting_for = tuple(row["principal"] for row in delegated)
        if len(self._roles) > 10_000:
            self._roles.clear()
        self._roles[key] = (frozenset(roles), acting_for, time.monotonic() + self.ROLES_TTL)
        return frozenset(roles), acting_for


#: The access facts of the service handling the current request (set by the HTTP shell's audit middleware), so
#: that `Principal.may_read` can ask the shared rule about a document it is given the id of.
CURRENT: ContextVar[AccessFacts | None] = ContextVar("edms_access_facts", default=None)
