"""The directory's application side: commands save an entry's events together with its lookup row, in one
PostgreSQL transaction; queries read the lookup rows (search by name prefix and Russian word forms, the unit tree)
and the event store (history).

The lookup rows are part of the write side, like the registry's duplicate lookups: a person registered a moment ago
is found at once (by the card check too), and the unique keys (a login, a unit code, an INN, an OGRN) are enforced
by PostgreSQL, so two registrations at once cannot both succeed.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, TypeVar

import psycopg
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from psycopg import sql
from pydantic import AfterValidator, ConfigDict, Field, ValidationError

from edms_contracts import Role
from edms_contracts.directory import OrgKind
from edms_registry.directory import (
    Delegation,
    InvalidEntry,
    Organization,
    Person,
    Position,
    Unit,
    check_inn,
    check_ogrn,
    normalized_name,
    would_cycle,
)
from edms_runtime.errors import DomainError, InvalidField, NotFound
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.faults import ConcurrencyConflict
from edms_runtime.text import RequestBody

T = TypeVar("T")

DDL = """
CREATE TABLE IF NOT EXISTS dir_organizations (
    organization_id uuid PRIMARY KEY,
    org text NOT NULL,
    code text,
    name text NOT NULL,
    name_key text NOT NULL,
    short_name text,
    kind text NOT NULL,
    inn text,
    ogrn text,
    parent text,
    address text,
    email text,
    phone text,
    active boolean NOT NULL DEFAULT true,
    merged_into uuid,
    search tsvector GENERATED ALWAYS AS (
        to_tsvector('russian'::regconfig, translate(name || ' ' || coalesce(short_name, ''), 'Ёё', 'Ее'))
        || to_tsvector('simple'::regconfig, translate(name || ' ' || coalesce(short_name, ''), 'Ёё', 'Ее')
            || ' ' || coalesce(inn, '') || ' ' || coalesce(ogrn, '') || ' ' || coalesce(code, ''))
    ) STORED
);
CREATE UNIQUE INDEX IF NOT EXISTS dir_organizations_inn ON dir_organizations (inn) WHERE inn IS NOT NULL AND active;
CREATE UNIQUE INDEX IF NOT EXISTS dir_organizations_ogrn ON dir_organizations (ogrn) WHERE ogrn IS NOT NULL AND active;
CREATE UNIQUE INDEX IF NOT EXISTS dir_organizations_code ON dir_organizations (code) WHERE code IS NOT NULL AND active;
CREATE INDEX IF NOT EXISTS dir_organizations_name ON dir_organizations (name_key);
CREATE INDEX IF NOT EXISTS dir_organizations_search ON dir_organizations USING gin (search);
CREATE TABLE IF NOT EXISTS dir_contacts (
    contact_id uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    name text NOT NULL,
    position text,
    email text,
    phone text
);
CREATE INDEX IF NOT EXISTS dir_contacts_organization ON dir_contacts (organization_id);
CREATE TABLE IF NOT EXISTS dir_units (
    org text NOT NULL,
    code text NOT NULL,
    unit_id uuid NOT NULL,
    name text NOT NULL,
    parent text,
    active boolean NOT NULL DEFAULT true,
    PRIMARY KEY (org, code)
);
CREATE TABLE IF NOT EXISTS dir_positions (
    org text NOT NULL,
    code text NOT NULL,
    position_id uuid NOT NULL,
    title text NOT NULL,
    unit text NOT NULL,
    head boolean NOT NULL DEFAULT false,
    PRIMARY KEY (org, code)
);
CREATE TABLE IF NOT EXISTS dir_people (
    org text NOT NULL,
    login text NOT NULL,
    person_id uuid NOT NULL,
    full_name text NOT NULL,
    unit text,
    position text,
    roles text[] NOT NULL DEFAULT '{}',
    email text,
    phone text,
    active boolean NOT NULL DEFAULT true,
    search tsvector GENERATED ALWAYS AS (
        to_tsvector('russian'::regconfig, translate(full_name, 'Ёё', 'Ее'))
        || to_tsvector('simple'::regconfig, translate(full_name, 'Ёё', 'Ее') || ' ' || login)
    ) STORED,
    PRIMARY KEY (org, login)
);
CREATE UNIQUE INDEX IF NOT EXISTS dir_people_login ON dir_people (login);
CREATE INDEX IF NOT EXISTS dir_people_search ON dir_people USING gin (search);
CREATE INDEX IF NOT EXISTS dir_people_unit ON dir_people (org, unit);
CREATE TABLE IF NOT EXISTS dir_delegations (
    delegation_id uuid PRIMARY KEY,
    org text NOT NULL,
    principal text NOT NULL,
    deputy text NOT NULL,
    roles text[] NOT NULL,
    starts date NOT NULL,
    ends date NOT NULL,
    reason text,
    active boolean NOT NULL DEFAULT true
);
CREATE INDEX IF NOT EXISTS dir_delegations_org ON dir_delegations (org, ends);
"""

Code = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[\w.\-/]+$")]
Login = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.\-@]+$")]
Name = Annotated[str, Field(min_length=1, max_length=500)]
Short = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, Field(min_length=3, max_length=50)]
Address = Annotated[str, Field(min_length=1, max_length=1000)]
#: INN and OGRN checked by their check digits (an empty value is none)
Inn = Annotated[str, Field(max_length=12), AfterValidator(lambda value: check_inn(value) if value else None)]
Ogrn = Annotated[str, Field(max_length=15), AfterValidator(lambda value: check_ogrn(value) if value else None)]


class _Entry(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganizationIn(_Entry):
    """An organization: INN and OGRN are checked by their check digits; a second one with the same INN, OGRN or
    code is refused (409 with the first)."""

    name: Name
    kind: OrgKind
    short_name: Short | None = None
    code: Code | None = Field(default=None, description="The organization's own code when it works in the system")
    inn: Inn | None = None
    ogrn: Ogrn | None = None
    parent: Code | None = None
    address: Address | None = None
    email: Email | None = None
    phone: Phone | None = None


class OrganizationPatch(_Entry):
    name: Name | None = None
    short_name: Short | None = None
    inn: Inn | None = None
    ogrn: Ogrn | None = None
    parent: Code | None = None
    address: Address | None = None
    email: Email | None = None
    phone: Phone | None = None


class ContactIn(_Entry):
    name: Name
    position: Short | None = None
    email: Email | None = None
    phone: Phone | None = None


class UnitIn(_Entry):
    code: Code
    name: Name
    parent: Code | None = None


class UnitPatch(_Entry):
    name: Name | None = None
    parent: Code | None = None


class PositionIn(_Entry):
    code: Code
    title: Name
    unit: Code
    head: bool = False


class PersonIn(_Entry):
    """A person who works in the system (the body of `POST /people`)."""

    login: Login
    full_name: Name
    org: Code
    unit: Code | None = None
    position: Short | None = None
    roles: list[Role] = Field(default_factory=list, max_length=20)
    email: Email | None = None
    phone: Phone | None = None


class PersonPatch(_Entry):
    full_name: Name | None = None
    unit: Code | None = None
    position: Short | None = None
    roles: list[Role] | None = Field(default=None, max_length=20)
    email: Email | None = None
    phone: Phone | None = None


class DelegationIn(_Entry):
    principal: Login
    deputy: Login
    roles: list[Role] = Field(min_length=1, max_length=20)
    starts: date
    ends: date
    reason: Short | None = None


class Deactivation(_Entry):
    reason: Short | None = None


class EntryExists(DomainError):
    """The entry is in the directory already: 409 with it (`existing`)."""

    status = 409
    title = "Registered already"

    def __init__(self, detail: str, *, field: str, existing: dict[str, Any]) -> None:
        super().__init__(detail, field=field)
        self.existing = existing


class EntryNotFound(NotFound):
    pass


class EntryInUse(DomainError):
    status = 409
    title = "In use"


# -- search --------------------------------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W_]+")


def text_query(q: str) -> tuple[sql.Composable, list[str]]:
    """A tsquery for `q`: every word as a prefix, both as a Russian word form (`Иванову` finds `Иванов`: the stems
    match) and as typed (`Ива` finds `Иванов`)."""
    words = _WORD.findall(q.lower().replace("ё", "е"))[:8]
    if not words:
        raise InvalidField("give at least one letter or digit to search for", field="q")
    part = sql.SQL("(to_tsquery('russian', %s) || to_tsquery('simple', %s))")
    params: list[str] = []
    for word in words:
        params += [f"{word}:*", f"{word}:*"]
    return sql.SQL(" && ").join([part] * len(words)), params


def _row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else {k: v for k, v in row.items() if k != "search"}


class Directory:
    """Commands and queries of the directory, over the registry's Application (its event store and schema)."""

    def __init__(self, app: ServiceApplication) -> None:
        self.app = app
        schema = getattr(getattr(app.recorder, "datastore", None), "schema", None) or "public"
        self._search_path = sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))

    # -- the write transaction -----------------------------------------------------------------------------------
    def _write(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run `work` (checks, lookup rows, saves) in one transaction; a concurrent change of the same entry retries."""
        for _ in range(5):
            try:
                with self.app.store.transaction() as conn:
                    conn.execute(self._search_path)
                    return work(conn)
            except (IntegrityError, ConcurrencyConflict, psycopg.errors.UniqueViolation):
                continue  # the next try sees the other writer's entry (and answers 409) or its new version
        raise EntryInUse("the entry kept changing meanwhile; try again")

    def _load(self, aggregate_id: uuid.UUID, cls: type[Aggregate], what: str) -> Any:
        try:
            found: Any = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise EntryNotFound(f"no {what}") from None
        if not isinstance(found, cls):
            raise EntryNotFound(f"no {what}")
        return found

    # -- organizations ---------------------------------------------------------------------------------------------
    def register_organization(self, entry: OrganizationIn, *, keeper: str, by: str) -> dict[str, Any]:
        """A new organization, unless it is there already (same INN, OGRN or code; or the same name and kind with no
        INN to tell them apart): then EntryExists with it."""

        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('edms-directory-organizations'))")
            self._refuse_duplicate(conn, entry)
            organization = Organization(org=entry.code or keeper, by=by, **entry.model_dump(mode="json"))
            self._insert_organization(conn, organization)
            self.app.save(organization)
            return self._organization(conn, organization.id)

        return self._write(work)

    def _refuse_duplicate(
        self, conn: psycopg.Connection[Any], entry: OrganizationIn, exclude: uuid.UUID | None = None
    ) -> None:
        for field in ("inn", "ogrn", "code"):
            value = getattr(entry, field)
            if value is None:
                continue
            row = conn.execute(
                f"SELECT organization_id FROM dir_organizations WHERE {field} = %s AND active "  # noqa: S608
                "AND organization_id IS DISTINCT FROM %s",
                (value, exclude),
            ).fetchone()
            if row is not None:
                existing = self._organization(conn, row["organization_id"])
                raise EntryExists(
                    f"an organization with this {field.upper()} is registered already: {existing['name']}",
                    field=field,
                    existing=existing,
                )
        if exclude is None:
            row = conn.execute(
                "SELECT organization_id FROM dir_organizations WHERE name_key = %s AND kind = %s AND active "
                "AND (inn IS NULL OR %s::text IS NULL) LIMIT 1",
                (normalized_name(entry.name), entry.kind.value, entry.inn),
            ).fetchone()
            if row is not None:
                existing = self._organization(conn, row["organization_id"])
                raise EntryExists(
                    "an organization of this name is registered already; give its INN if it is another one",
                    field="name",
                    existing=existing,
                )

    @staticmethod
    def _insert_organization(conn: psycopg.Connection[Any], o: Organization) -> None:
        conn.execute(
            "INSERT INTO dir_organizations (organization_id, org, code, name, name_key, short_name, kind, inn, ogrn, "
            "parent, address, email, phone) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                o.id,
                o.org,
                o.code,
                o.name,
                normalized_name(o.name),
                o.short_name,
                o.kind,
                o.inn,
                o.ogrn,
                o.parent,
                o.address,
                o.email,
                o.phone,
            ),
        )

    def change_organization(self, organization_id: uuid.UUID, patch: OrganizationPatch, *, by: str) -> dict[str, Any]:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            organization: Organization = self._load(organization_id, Organization, f"organization {organization_id}")
            wanted = {name: getattr(patch, name) for name in patch.model_fields_set}
            changes = {k: v for k, v in wanted.items() if getattr(organization, k) != v}
            if "name" in changes and changes["name"] is None:
                raise InvalidField("an organization keeps a name", field="name")
            if changes:
                probe = OrganizationIn.model_construct(
                    name=changes.get("name", organization.name),
                    kind=OrgKind(organization.kind),
                    inn=changes.get("inn"),
                    ogrn=changes.get("ogrn"),
                    code=None,
                )
                self._refuse_duplicate(conn, probe, exclude=organization_id)
                try:
                    organization.change(org=organization.org, by=by, changes=changes)
                except InvalidEntry as exc:
                    raise InvalidField(exc.reason, field=exc.field) from None
                assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in changes)
                conn.execute(
                    sql.SQL("UPDATE dir_organizations SET {}, name_key = %s WHERE organization_id = %s").format(
                        assignments
                    ),
                    [*changes.values(), normalized_name(organization.name), organization_id],
                )
                self.app.save(organization)
            return self._organization(conn, organization_id)

        return self._write(work)

    def merge_organizations(self, survivor_id: uuid.UUID, duplicate_id: uuid.UUID, *, by: str) -> dict[str, Any]:
        """Close the duplicate; references to it now mean the survivor. Organizations with different INNs are
        different organizations and are not merged."""

        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            survivor: Organization = self._load(survivor_id, Organization, f"organization {survivor_id}")
            duplicate: Organization = self._load(duplicate_id, Organization, f"organization {duplicate_id}")
            if not survivor.active:
                raise InvalidField(f"organization {survivor_id} was merged into {survivor.merged_into}", field="id")
            if survivor.inn and duplicate.inn and survivor.inn != duplicate.inn:
                raise InvalidField("organizations with different INNs are different organizations", field="inn")
            try:
                duplicate.merge_into(org=duplicate.org, by=by, survivor_id=survivor_id)
            except InvalidEntry as exc:
                raise InvalidField(exc.reason, field=exc.field) from None
            conn.execute(
                "UPDATE dir_organizations SET active = false, merged_into = %s WHERE organization_id = %s",
                (survivor_id, duplicate_id),
            )
            self.app.save(duplicate)
            return self._organization(conn, survivor_id)

        return self._write(work)

    def add_contact(self, organization_id: uuid.UUID, contact: ContactIn, *, by: str) -> dict[str, Any]:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            organization: Organization = self._load(organization_id, Organization, f"organization {organization_id}")
            contact_id = uuid.uuid4()
            organization.add_contact(org=organization.org, by=by, contact_id=contact_id, **contact.model_dump())
            conn.execute(
                "INSERT INTO dir_contacts (contact_id, organization_id, name, position, email, phone) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (contact_id, organization_id, contact.name, contact.position, contact.email, contact.phone),
            )
            self.app.save(organization)
            return self._organization(conn, organization_id)

        return self._write(work)

    @staticmethod
    def _organization(conn: psycopg.Connection[Any], organization_id: uuid.UUID) -> dict[str, Any]:
        row = _row(
            conn.execute("SELECT * FROM dir_organizations WHERE organization_id = %s", (organization_id,)).fetchone()
        )
        if row is None:
            raise EntryNotFound(f"no organization {organization_id}")
        row.pop("name_key", None)
        row["contacts"] = conn.execute(
            "SELECT contact_id, name, position, email, phone FROM dir_contacts WHERE organization_id = %s "
            "ORDER BY name",
            (organization_id,),
        ).fetchall()
        return row

    def organization(self, conn: psycopg.Connection[Any], organization_id: uuid.UUID) -> dict[str, Any]:
        return self._organization(conn, organization_id)

    @staticmethod
    def organizations(
        conn: psycopg.Connection[Any],
        *,
        q: str | None = None,
        kind: str | None = None,
        inn: str | None = None,
        ogrn: str | None = None,
        include_merged: bool = False,
        size: int = 50,
    ) -> list[dict[str, Any]]:
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        rank: sql.Composable = sql.SQL("0::real")
        rank_params: list[Any] = []
        if q is not None:
            query, words = text_query(q)
            conditions.append(sql.SQL("search @@ ({})").format(query))
            rank, rank_params = sql.SQL("ts_rank(search, {})").format(query), words
            params += words
        for name, value in (("kind", kind), ("inn", inn), ("ogrn", ogrn)):
            if value is not None:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(value)
        if not include_merged:
            conditions.append(sql.SQL("active"))
        where = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
        statement = sql.SQL(
            "SELECT organization_id, org, code, name, short_name, kind, inn, ogrn, parent, address, email, phone, "
            "active, merged_into FROM dir_organizations WHERE {} ORDER BY {} DESC, name LIMIT %s"
        ).format(where, rank)
        return conn.execute(statement, [*params, *rank_params, size]).fetchall()

    # -- units and positions ---------------------------------------------------------------------------------------
    def create_unit(self, org: str, entry: UnitIn, *, by: str) -> dict[str, Any]:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            existing = self._unit_row(conn, org, entry.code)
            if existing is not None:
                raise EntryExists(f"unit {entry.code} exists already", field="code", existing=existing)
            if entry.parent is not None:
                self._active_unit(conn, org, entry.parent, field="parent")
            unit = Unit(org=org, by=by, code=entry.code, name=entry.name, parent=entry.parent)
            conn.execute(
                "INSERT INTO dir_units (org, code, unit_id, name, parent) VALUES (%s, %s, %s, %s, %s)",
                (org, entry.code, unit.id, entry.name, entry.parent),
            )
            self.app.save(unit)
            return self._unit_row(conn, org, entry.code) or {}

        return self._write(work)

    def change_unit(self, org: str, code: str, patch: UnitPatch, *, by: str) -> dict[str, Any]:
        """Rename a unit or move it in the tree (never under itself or its own descendants)."""

        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            unit: Unit = self._load(Unit.create_id(org, code), Unit, f"unit {code}")
            wanted = {name: getattr(patch, name) for name in patch.model_fields_set}
            changes = {k: v for k, v in wanted.items() if getattr(unit, k) != v}
            if "name" in changes and changes["name"] is None:
                raise InvalidField("a unit keeps a name", field="name")
            if changes.get("parent") is not None:
                self._active_unit(conn, org, changes["parent"], field="parent")
                parents = {
                    r["code"]: r["parent"]
                    for r in conn.execute("SELECT code, parent FROM dir_units WHERE org = %s", (org,))
                }
                if would_cycle(code, changes["parent"], parents):
                    raise InvalidField(
                        f"unit {changes['parent']} is inside {code}: the tree would loop", field="parent"
                    )
            if changes:
                try:
                    unit.change(org=org, by=by, code=code, changes=changes)
                except InvalidEntry as exc:
                    raise InvalidField(exc.reason, field=exc.field) from None
                conn.execute(
                    "UPDATE dir_units SET name = %s, parent = %s WHERE org = %s AND code = %s",
                    (unit.name, unit.parent, org, code),
                )
                self.app.save(unit)
            return self._unit_row(conn, org, code) or {}

        return self._write(work)

    def close_unit(self, org: str, code: str, *, by: str) -> dict[str, Any]:
        """Close a unit: its people and the units under it must be moved first (the contract's `UnitClosed`)."""

        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            unit: Unit = self._load(Unit.create_id(org, code), Unit, f"unit {code}")
            busy = conn.execute(
                "SELECT (SELECT count(*) FROM dir_people WHERE org = %s AND unit = %s AND active) AS people, "
                "(SELECT count(*) FROM dir_units WHERE org = %s AND parent = %s AND active) AS units",
                (org, code, org, code),
            ).fetchone()
            assert busy is not None
            if busy["people"] or busy["units"]:
                raise EntryInUse(
                    f"unit {code} still has {busy['people']} people and {busy['units']} units: move them first",
                    field="code",
                )
            try:
                unit.close(org=org, by=by, code=code)
            except InvalidEntry as exc:
                raise EntryInUse(exc.reason, field=exc.field) from None
            conn.execute("UPDATE dir_units SET active = false WHERE org = %s AND code = %s", (org, code))
            self.app.save(unit)
            return self._unit_row(conn, org, code) or {}

        return self._write(work)

    def define_position(self, org: str, entry: PositionIn, *, by: str) -> dict[str, Any]:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            row = conn.execute("SELECT * FROM dir_positions WHERE org = %s AND code = %s", (org, entry.code)).fetchone()
            if row is not None:
                raise EntryExists(f"position {entry.code} exists already", field="code", existing=row)
            self._active_unit(conn, org, entry.unit, field="unit")
            position = Position(org=org, by=by, **entry.model_dump())
            conn.execute(
                "INSERT INTO dir_positions (org, code, position_id, title, unit, head) VALUES (%s, %s, %s, %s, %s, %s)",
                (org, entry.code, position.id, entry.title, entry.unit, entry.head),
            )
            self.app.save(position)
            return dict(entry.model_dump(), org=org, position_id=position.id)

        return self._write(work)

    @staticmethod
    def positions(conn: psycopg.Connection[Any], org: str) -> list[dict[str, Any]]:
        return conn.execute("SELECT * FROM dir_positions WHERE org = %s ORDER BY unit, code", (org,)).fetchall()

    @staticmethod
    def _unit_row(conn: psycopg.Connection[Any], org: str, code: str) -> dict[str, Any] | None:
        row: dict[str, Any] | None = conn.execute(
            "SELECT org, code, unit_id, name, parent, active FROM dir_units WHERE org = %s AND code = %s", (org, code)
        ).fetchone()
        return row

    def unit(self, conn: psycopg.Connection[Any], org: str, code: str) -> dict[str, Any]:
        row = self._unit_row(conn, org, code)
        if row is None:
            raise EntryNotFound(f"no unit {code}")
        return row

    def _active_unit(self, conn: psycopg.Connection[Any], org: str, code: str, *, field: str) -> None:
        row = self._unit_row(conn, org, code)
        if row is None:
            raise InvalidField(f"no unit {code} in the directory of {org}", field=field)
        if not row["active"]:
            raise InvalidField(f"unit {code} is closed", field=field)

    @staticmethod
    def unit_tree(conn: psycopg.Connection[Any], org: str, *, include_closed: bool = False) -> list[dict[str, Any]]:
        """The organization's units as a tree: the top units, each with its `children`."""
        rows = conn.execute(
            "SELECT code, unit_id, name, parent, active FROM dir_units WHERE org = %s AND (active OR %s) ORDER BY code",
            (org, include_closed),
        ).fetchall()
        nodes = {row["code"]: {**row, "children": []} for row in rows}
        roots: list[dict[str, Any]] = []
        for node in nodes.values():
            above = nodes.get(node["parent"]) if node["parent"] else None
            (above["children"] if above is not None else roots).append(node)
        return roots

    # -- people ----------------------------------------------------------------------------------------------------
    def register_person(self, entry: PersonIn, *, by: str) -> dict[str, Any]:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            existing = self._person_row(conn, entry.org, entry.login)
            if existing is not None:
                raise EntryExists(f"{entry.login} is registered already", field="login", existing=existing)
            elsewhere = conn.execute("SELECT org FROM dir_people WHERE login = %s", (entry.login,)).fetchone()
            if elsewhere is not None:
                # one token issuer for the region: a login (the token's `sub`) is one person everywhere
                # (RFC 7519 4.1.2: the subject is unique in the context of its issuer)
                raise EntryExists(
                    f"{entry.login} is the login of a person of {elsewhere['org']}: choose another login",
                    field="login",
                    existing={"login": entry.login, "org": elsewhere["org"]},
                )
            if entry.unit is not None:
                self._active_unit(conn, entry.org, entry.unit, field="unit")
            person = Person(by=by, **entry.model_dump(mode="json"))
            conn.execute(
                "INSERT INTO dir_people (org, login, person_id, full_name, unit, position, roles, email, phone) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    entry.org,
                    entry.login,
                    person.id,
                    entry.full_name,
                    entry.unit,
                    entry.position,
                    person.roles,
                    entry.email,
                    entry.phone,
                ),
            )
            self.app.save(person)
            return self._person_row(conn, entry.org, entry.login) or {}

        return self._write(work)

    def change_person(self, org: str, login: str, patch: PersonPatch, *, by: str) -> dict[str, Any]:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            person: Person = self._load(Person.create_id(org, login), Person, f"person {login}")
            wanted = {name: getattr(patch, name) for name in patch.model_fields_set}
            if "roles" in wanted:
                wanted["roles"] = sorted(str(role) for role in wanted["roles"] or [])
            if wanted.get("full_name", "") is None:
                raise InvalidField("a person keeps a name", field="full_name")
            current = {**vars(person), "roles": sorted(person.roles)}
            changes = {k: v for k, v in wanted.items() if current.get(k) != v}
            if changes.get("unit") is not None:
                self._active_unit(conn, org, changes["unit"], field="unit")
            if changes:
                try:
                    person.change(org=org, by=by, login=login, changes=changes)
                except InvalidEntry as exc:
                    raise EntryInUse(exc.reason, field=exc.field) from None
                assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in changes)
                conn.execute(
                    sql.SQL("UPDATE dir_people SET {} WHERE org = %s AND login = %s").format(assignments),
                    [*changes.values(), org, login],
                )
                self.app.save(person)
            return self._person_row(conn, org, login) or {}

        return self._write(work)

    def deactivate_person(self, org: str, login: str, reason: str | None, *, by: str) -> dict[str, Any]:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            person: Person = self._load(Person.create_id(org, login), Person, f"person {login}")
            try:
                person.deactivate(org=org, by=by, login=login, reason=reason)
            except InvalidEntry as exc:
                raise EntryInUse(exc.reason, field=exc.field) from None
            conn.execute("UPDATE dir_people SET active = false WHERE org = %s AND login = %s", (org, login))
            self.app.save(person)
            return self._person_row(conn, org, login) or {}

        return self._write(work)

    @staticmethod
    def _person_row(conn: psycopg.Connection[Any], org: str, login: str) -> dict[str, Any] | None:
        return _row(conn.execute("SELECT * FROM dir_people WHERE org = %s AND login = %s", (org, login)).fetchone())

    def person(self, conn: psycopg.Connection[Any], org: str, login: str) -> dict[str, Any]:
        row = self._person_row(conn, org, login)
        if row is None:
            raise EntryNotFound(f"no person {login}")
        return row

    @staticmethod
    def people(
        conn: psycopg.Connection[Any],
        org: str,
        *,
        q: str | None = None,
        unit: str | None = None,
        role: str | None = None,
        include_inactive: bool = False,
        size: int = 50,
    ) -> list[dict[str, Any]]:
        conditions: list[sql.Composable] = [sql.SQL("org = %s")]
        params: list[Any] = [org]
        rank: sql.Composable = sql.SQL("0::real")
        rank_params: list[Any] = []
        if q is not None:
            query, words = text_query(q)
            conditions.append(sql.SQL("search @@ ({})").format(query))
            rank, rank_params = sql.SQL("ts_rank(search, {})").format(query), words
            params += words
        if unit is not None:
            conditions.append(sql.SQL("unit = %s"))
            params.append(unit)
        if role is not None:
            conditions.append(sql.SQL("%s = ANY(roles)"))
            params.append(role)
        if not include_inactive:
            conditions.append(sql.SQL("active"))
        statement = sql.SQL(
            "SELECT org, login, person_id, full_name, unit, position, roles, email, phone, active FROM dir_people "
            "WHERE {} ORDER BY {} DESC, full_name LIMIT %s"
        ).format(sql.SQL(" AND ").join(conditions), rank)
        return conn.execute(statement, [*params, *rank_params, size]).fetchall()

    # -- delegations -----------------------------------------------------------------------------------------------
    def grant_delegation(self, org: str, entry: DelegationIn, *, by: str) -> dict[str, Any]:
        """A deputy acts for the principal with some of the principal's roles for a period (an acting head, врио).

        A deputy gets only roles the principal has: one acts for another within the other's powers (Civil Code of
        the RF, art. 182: a representative acts within the authority given)."""

        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            people = {
                row["login"]: row
                for row in conn.execute(
                    "SELECT login, roles FROM dir_people WHERE org = %s AND login = ANY(%s) AND active",
                    (org, [entry.principal, entry.deputy]),
                )
            }
            for field in ("principal", "deputy"):
                if getattr(entry, field) not in people:
                    raise InvalidField(f"no active person {getattr(entry, field)} in {org}", field=field)
            roles = [str(role) for role in dict.fromkeys(entry.roles)]
            missing = sorted(set(roles) - set(people[entry.principal]["roles"]))
            if missing:
                raise InvalidField(f"{entry.principal} has no roles {missing} to delegate", field="roles")
            try:
                delegation = Delegation(
                    org=org,
                    by=by,
                    principal=entry.principal,
                    deputy=entry.deputy,
                    roles=roles,
                    starts=entry.starts,
                    ends=entry.ends,
                    reason=entry.reason,
                )
            except InvalidEntry as exc:
                raise InvalidField(exc.reason, field=exc.field) from None
            conn.execute(
                "INSERT INTO dir_delegations (delegation_id, org, principal, deputy, roles, starts, ends, reason) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (delegation.id, org, entry.principal, entry.deputy, roles, entry.starts, entry.ends, entry.reason),
            )
            self.app.save(delegation)
            return self._delegation(conn, delegation.id)

        return self._write(work)

    def revoke_delegation(self, org: str, delegation_id: uuid.UUID, *, by: str) -> dict[str, Any]:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            delegation: Delegation = self._load(delegation_id, Delegation, f"delegation {delegation_id}")
            if delegation.org != org:
                raise EntryNotFound(f"no delegation {delegation_id}")
            try:
                delegation.revoke(org=org, by=by)
            except InvalidEntry as exc:
                raise EntryInUse(exc.reason, field=exc.field) from None
            conn.execute("UPDATE dir_delegations SET active = false WHERE delegation_id = %s", (delegation_id,))
            self.app.save(delegation)
            return self._delegation(conn, delegation_id)

        return self._write(work)

    @staticmethod
    def _delegation(conn: psycopg.Connection[Any], delegation_id: uuid.UUID) -> dict[str, Any]:
        row: dict[str, Any] | None = conn.execute(
            "SELECT * FROM dir_delegations WHERE delegation_id = %s", (delegation_id,)
        ).fetchone()
        if row is None:
            raise EntryNotFound(f"no delegation {delegation_id}")
        return row

    @staticmethod
    def delegations(conn: psycopg.Connection[Any], org: str, *, on: date | None = None) -> list[dict[str, Any]]:
        """The organization's delegations; with `on`, those in force that day."""
        if on is None:
            return conn.execute("SELECT * FROM dir_delegations WHERE org = %s ORDER BY starts", (org,)).fetchall()
        return conn.execute(
            "SELECT * FROM dir_delegations WHERE org = %s AND active AND starts <= %s AND ends >= %s ORDER BY starts",
            (org, on, on),
        ).fetchall()

    # -- history ---------------------------------------------------------------------------------------------------
    def history(self, aggregate_id: uuid.UUID, cls: type[Aggregate]) -> list[dict[str, Any]]:
        """Every change of a directory entry in order: what, when, by whom, the values given."""
        self._load(aggregate_id, cls, f"{cls.__name__.lower()} {aggregate_id}")
        out = []
        for stored in self.app.recorder.select_events(aggregate_id):
            domain_event = self.app.mapper.to_domain_event(stored)
            state = {k: v for k, v in vars(domain_event).items() if not k.startswith("originator_")}
            out.append(
                {
                    "version": domain_event.originator_version,
                    "event": type(domain_event).__name__,
                    "at": state.pop("timestamp"),
                    "by": state.pop("by", None),
                    "changes": state,
                }
            )
        if not out:
            raise EntryNotFound(f"no directory entry {aggregate_id}")
        return out


# -- CSV import ------------------------------------------------------------------------------------------------------
#: Columns of a people CSV (English names or the Russian ones of a personnel list).
PEOPLE_COLUMNS = {
    "login": "login", "логин": "login", "full_name": "full_name", "фио": "full_name", "unit": "unit",
    "подразделение": "unit", "position": "position", "должность": "position", "roles": "roles", "роли": "roles",
    "email": "email", "phone": "phone", "телефон": "phone", "org": "org", "организация": "org",
}  # fmt: skip
#: Columns of an organizations CSV.
ORGANIZATION_COLUMNS = {
    "name": "name", "наименование": "name", "short_name": "short_name", "краткое наименование": "short_name",
    "kind": "kind", "вид": "kind", "code": "code", "код": "code", "inn": "inn", "инн": "inn", "ogrn": "ogrn",
    "огрн": "ogrn", "parent": "parent", "address": "address", "адрес": "address", "email": "email",
    "phone": "phone", "телефон": "phone",
}  # fmt: skip


def read_csv(content: bytes, columns: dict[str, str]) -> list[tuple[int, dict[str, str]]]:
    """The rows (with their line numbers) of a CSV in UTF-8 (a BOM is allowed) or Windows-1251, `,` or `;`, with
    the header's columns named as in `columns` (English or Russian). An unknown column refuses the whole file (422
    naming it): a misspelt header would otherwise report every row."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1251")  # a spreadsheet saved on Windows in Russian; every byte decodes
    if "\x00" in text:
        raise InvalidField("the CSV holds the NUL character", field="file")
    if not text.strip():
        raise InvalidField("the CSV is empty", field="file")
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = []
    for name in reader.fieldnames or []:
        column = columns.get(name.strip().lower())
        if column is None:
            raise InvalidField(f"unknown column {name.strip()!r}; the columns are {sorted(set(columns.values()))}",
                               field=name.strip() or "header")  # fmt: skip
        header.append(column)
    reader.fieldnames = header
    rows = []
    for row in reader:
        cleaned = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if any(cleaned.values()):
            rows.append((reader.line_num, cleaned))
    return rows


def row_errors(error: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in err["loc"]) or "row", err["msg"]) for err in error.errors()]


def import_rows(
    rows: Iterable[tuple[int, dict[str, Any]]],
    model: type[_Entry],
    save: Callable[[Any], Any],
) -> dict[str, Any]:
    """Validate and save each row on its own: good rows are imported, bad ones reported (line, field, reason)."""
    imported = 0
    errors: list[dict[str, Any]] = []
    total = 0
    for line, raw in rows:
        total += 1
        values = {k: v for k, v in raw.items() if v != ""}
        try:
            entry = model.model_validate(values)
        except ValidationError as exc:
            errors += [{"row": line, "field": field, "reason": reason} for field, reason in row_errors(exc)]
            continue
        try:
            save(entry)
        except DomainError as exc:
            errors += [{"row": line, "field": field or "row", "reason": reason} for field, reason in exc.errors] or [
                {"row": line, "field": "row", "reason": exc.detail}
            ]
            continue
        imported += 1
    return {"rows": total, "imported": imported, "errors": errors}


# -- cards naming people and units -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Named:
    """Who and what a card names: its organization, the unit it is registered in, logins by the field naming them."""

    org: str
    unit: str | None
    logins: dict[str, str]


def named_on(card: Any, org: str, unit: str | None) -> Named:
    """The people a card names by login (signer, executor) and the unit it is registered in."""
    logins = {
        f"{name}.login": person["login"]
        for name in ("signer", "executor")
        if isinstance(person := getattr(card, name, None), dict) and person.get("login")
    }
    return Named(org, unit, logins)


def refusals(
    conn: psycopg.Connection[Any], named: Sequence[Named], schema: str = "registry"
) -> list[InvalidField | None]:
    """For each card: why the directory refuses it (the first field naming someone or something unknown), or None.

    A login must be an active person of the card's organization (a person who left gets no new work:
    `PersonDeactivated`). The unit must be an open unit of the organization once the organization has entered its
    structure; before that (the organizational stage of joining, DOMAIN.md "What the system must do") there is
    nothing to check the unit against. One query (one round trip, no transaction) for a whole batch of cards.
    """
    pairs = sorted({(n.org, login) for n in named for login in n.logins.values()})
    unit_pairs = sorted({(n.org, n.unit) for n in named if n.unit is not None})
    if not pairs and not unit_pairs:
        return [None] * len(named)
    rows = conn.execute(
        sql.SQL(
            "SELECT 'person' AS what, org, login AS name, active FROM {people} "
            "WHERE (org, login) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
            "UNION ALL SELECT 'unit', org, code, active FROM {units} "
            "WHERE (org, code) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
            "UNION ALL SELECT 'structured', o, NULL, NULL FROM unnest(%s::text[]) AS o "
            "WHERE EXISTS (SELECT 1 FROM {units} WHERE org = o)"
        ).format(people=sql.Identifier(schema, "dir_people"), units=sql.Identifier(schema, "dir_units")),
        (
            [o for o, _ in pairs],
            [login for _, login in pairs],
            [o for o, _ in unit_pairs],
            [u for _, u in unit_pairs],
            sorted({o for o, _ in unit_pairs}),
        ),
    ).fetchall()
    people = {(r["org"], r["name"]): r["active"] for r in rows if r["what"] == "person"}
    units = {(r["org"], r["name"]): r["active"] for r in rows if r["what"] == "unit"}
    structured = {r["org"] for r in rows if r["what"] == "structured"}
    out: list[InvalidField | None] = []
    for n in named:
        refusal: InvalidField | None = None
        for field, login in n.logins.items():
            active = people.get((n.org, login))
            if active is None:
                refusal = InvalidField(f"{login} is not a person in the directory of {n.org}", field=field)
            elif not active:
                refusal = InvalidField(f"{login} is deactivated in the directory of {n.org}", field=field)
            if refusal is not None:
                break
        if refusal is None and n.unit is not None and n.org in structured:
            open_ = units.get((n.org, n.unit))
            if open_ is None:
                refusal = InvalidField(f"unit {n.unit} is not in the directory of {n.org}", field="unit")
            elif not open_:
                refusal = InvalidField(f"unit {n.unit} of {n.org} is closed", field="unit")
        out.append(refusal)
    return out
