"""The directory's HTTP API: organizations, units, positions, people, delegations, CSV import, history.

Thin: the request is validated into the directory's entry models, `Directory` does the rest. Writes need the
administrator role (a clerk may register and correct external correspondents, whom letters come from); any user of
an organization reads its directory, and everyone reads the organizations.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from edms_contracts import Role
from edms_contracts.directory import OrgKind
from edms_registry.directory import Organization, Person, Unit
from edms_registry.directory_app import (
    ORGANIZATION_COLUMNS,
    PEOPLE_COLUMNS,
    ContactIn,
    Deactivation,
    DelegationIn,
    Directory,
    EntryExists,
    OrganizationIn,
    OrganizationPatch,
    PersonIn,
    PersonPatch,
    PositionIn,
    UnitIn,
    UnitPatch,
    import_rows,
    read_csv,
)
from edms_runtime.auth import CurrentPrincipal, Principal, require_role
from edms_runtime.errors import InvalidField
from edms_runtime.http import Database, problem
from edms_runtime.text import RequestBody

router = APIRouter(tags=["directory"])

#: Who keeps the directory: an administrator. Clerks register external correspondents as letters arrive from them
#: (DOMAIN.md task 7: a single registry of organizations and contact persons).
ADMIN_ROLES = (Role.ADMIN,)
CORRESPONDENT_KEEPERS = (Role.ADMIN, Role.CLERK, Role.REGISTRAR)
#: Largest CSV accepted by an import.
MAX_CSV_BYTES = 10 * 1024 * 1024


async def directory(request: Request) -> Directory:
    request.app.state.parts.database.check()
    found: Directory | None = getattr(request.app.state, "directory", None)
    if found is None:
        found = request.app.state.directory = Directory(request.app.state.parts.application)
    return found


DirectoryDep = Annotated[Directory, Depends(directory)]
Size = Annotated[int, Query(ge=1, le=500)]
Q = Annotated[str | None, Query(min_length=1, max_length=200, description="Name prefix or word form")]


class ContactView(BaseModel):
    contact_id: uuid.UUID
    name: str
    position: str | None
    email: str | None
    phone: str | None


class OrganizationView(BaseModel):
    organization_id: uuid.UUID
    org: str
    code: str | None
    name: str
    short_name: str | None
    kind: OrgKind
    inn: str | None
    ogrn: str | None
    parent: str | None
    address: str | None
    email: str | None
    phone: str | None
    active: bool
    merged_into: uuid.UUID | None
    contacts: list[ContactView] = Field(default_factory=list)


class OrganizationList(BaseModel):
    items: list[OrganizationView]


class UnitView(BaseModel):
    code: str
    unit_id: uuid.UUID
    name: str
    parent: str | None
    active: bool


class UnitNode(UnitView):
    children: list[UnitNode]


class PositionView(BaseModel):
    org: str
    code: str
    position_id: uuid.UUID
    title: str
    unit: str
    head: bool


class PersonView(BaseModel):
    org: str
    login: str
    person_id: uuid.UUID
    full_name: str
    unit: str | None
    position: str | None
    roles: list[str]
    email: str | None
    phone: str | None
    active: bool


class PersonList(BaseModel):
    items: list[PersonView]


class DelegationView(BaseModel):
    delegation_id: uuid.UUID
    org: str
    principal: str
    deputy: str
    roles: list[str]
    starts: date
    ends: date
    reason: str | None
    active: bool


class ChangeEntry(BaseModel):
    version: int
    event: str
    at: Any
    by: str | None
    changes: dict[str, Any]


class ImportError_(BaseModel):
    row: int
    field: str
    reason: str


class ImportReport(BaseModel):
    rows: int
    imported: int
    errors: list[ImportError_]


class MergeIn(RequestBody):
    duplicate_id: uuid.UUID


def _exists(exc: EntryExists) -> JSONResponse:
    return problem(
        409,
        exc.title,
        exc.detail,
        [{"field": field or "", "reason": reason} for field, reason in exc.errors],
        existing=jsonable_encoder(exc.existing),
    )


def _own(principal: Principal, org: str) -> None:
    if org != principal.org:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"an administrator keeps the directory of their own organization ({org})"
        )


async def _csv(request: Request) -> bytes:
    """The CSV of an import: the request body (text/csv), or the multipart field `file`."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidField("send the CSV as the multipart field `file`", field="file")
        content = await upload.read(MAX_CSV_BYTES + 1)
    else:
        content = b""
        async for chunk in request.stream():
            content += chunk
            if len(content) > MAX_CSV_BYTES:
                break
    if len(content) > MAX_CSV_BYTES:
        raise InvalidField(f"the CSV is larger than {MAX_CSV_BYTES} bytes", field="file")
    return content


# -- organizations ---------------------------------------------------------------------------------------------------
@router.post("/organizations", status_code=status.HTTP_201_CREATED, response_model=OrganizationView)
def register_organization(
    body: OrganizationIn, principal: CurrentPrincipal, registry: DirectoryDep
) -> dict[str, Any] | JSONResponse:
    """Register an organization: a regional body or municipality (administrator), an external correspondent (clerk
    too). INN and OGRN are checked by their check digits; the same INN, OGRN or code again: 409 with the existing."""
    require_role(principal, *(CORRESPONDENT_KEEPERS if body.kind == OrgKind.EXTERNAL else ADMIN_ROLES))
    try:
        return registry.register_organization(body, keeper=principal.org, by=principal.sub)
    except EntryExists as exc:
        return _exists(exc)


@router.get("/organizations", response_model=OrganizationList)
def list_organizations(
    principal: CurrentPrincipal,
    pool: Database,
    q: Q = None,
    kind: OrgKind | None = None,
    inn: Annotated[str | None, Query(pattern=r"^\d{10}(\d{2})?$")] = None,
    ogrn: Annotated[str | None, Query(pattern=r"^\d{13}(\d{2})?$")] = None,
    include_merged: bool = False,
    size: Size = 50,
) -> dict[str, Any]:
    """Organizations by name prefix and Russian word forms (`q`), kind, INN or OGRN; best matches first."""
    with pool.connection() as conn:
        items = Directory.organizations(
            conn, q=q, kind=kind.value if kind else None, inn=inn, ogrn=ogrn, include_merged=include_merged, size=size
        )
    return {"items": items}


@router.post("/organizations/import", response_model=ImportReport)
async def import_organizations(request: Request, principal: CurrentPrincipal, registry: DirectoryDep) -> Any:
    """Import organizations from CSV (header: name,kind,short_name,code,inn,ogrn,parent,address,email,phone, or
    their Russian names: наименование, вид, ИНН, ОГРН, адрес...; UTF-8 or Windows-1251).
    Good rows are imported; each bad row is reported with its line number, field and reason."""
    require_role(principal, *ADMIN_ROLES)
    rows = read_csv(await _csv(request), ORGANIZATION_COLUMNS)

    def save(entry: OrganizationIn) -> None:
        registry.register_organization(entry, keeper=principal.org, by=principal.sub)

    return await asyncio.to_thread(import_rows, rows, OrganizationIn, save)


@router.get("/organizations/{organization_id}", response_model=OrganizationView)
def get_organization(
    organization_id: uuid.UUID, principal: CurrentPrincipal, registry: DirectoryDep, pool: Database
) -> dict[str, Any]:
    with pool.connection() as conn:
        return registry.organization(conn, organization_id)


@router.patch("/organizations/{organization_id}", response_model=OrganizationView)
def change_organization(
    organization_id: uuid.UUID,
    body: OrganizationPatch,
    principal: CurrentPrincipal,
    registry: DirectoryDep,
    pool: Database,
) -> dict[str, Any] | JSONResponse:
    with pool.connection() as conn:
        current = registry.organization(conn, organization_id)
    require_role(principal, *(CORRESPONDENT_KEEPERS if current["kind"] == OrgKind.EXTERNAL else ADMIN_ROLES))
    try:
        return registry.change_organization(organization_id, body, by=principal.sub)
    except EntryExists as exc:
        return _exists(exc)


@router.post("/organizations/{organization_id}/merge", response_model=OrganizationView)
def merge_organizations(
    organization_id: uuid.UUID, body: MergeIn, principal: CurrentPrincipal, registry: DirectoryDep
) -> dict[str, Any]:
    """Merge a duplicate into this organization (administrator): the duplicate is closed and means this one."""
    require_role(principal, *ADMIN_ROLES)
    return registry.merge_organizations(organization_id, body.duplicate_id, by=principal.sub)


@router.post(
    "/organizations/{organization_id}/contacts", status_code=status.HTTP_201_CREATED, response_model=OrganizationView
)
def add_contact(
    organization_id: uuid.UUID, body: ContactIn, principal: CurrentPrincipal, registry: DirectoryDep
) -> dict[str, Any]:
    """A contact person of the organization (e.g. a correspondent's clerk)."""
    require_role(principal, *CORRESPONDENT_KEEPERS)
    return registry.add_contact(organization_id, body, by=principal.sub)


@router.get("/organizations/{organization_id}/history", response_model=list[ChangeEntry])
def organization_history(
    organization_id: uuid.UUID, principal: CurrentPrincipal, registry: DirectoryDep
) -> list[dict[str, Any]]:
    return registry.history(organization_id, Organization)


# -- units and positions ----------------------------------------------------------------------------------------------
@router.post("/units", status_code=status.HTTP_201_CREATED, response_model=UnitView)
def create_unit(body: UnitIn, principal: CurrentPrincipal, registry: DirectoryDep) -> dict[str, Any] | JSONResponse:
    """A unit of the administrator's organization, under `parent` (or at the top)."""
    require_role(principal, *ADMIN_ROLES)
    try:
        return registry.create_unit(principal.org, body, by=principal.sub)
    except EntryExists as exc:
        return _exists(exc)


@router.get("/units", response_model=list[UnitNode])
def unit_tree(principal: CurrentPrincipal, pool: Database, include_closed: bool = False) -> list[dict[str, Any]]:
    """The caller's organization's units as a tree (top units with their `children`)."""
    with pool.connection() as conn:
        return Directory.unit_tree(conn, principal.org, include_closed=include_closed)


@router.get("/units/{code}", response_model=UnitView)
def get_unit(code: str, principal: CurrentPrincipal, registry: DirectoryDep, pool: Database) -> dict[str, Any]:
    with pool.connection() as conn:
        return registry.unit(conn, principal.org, code)


@router.patch("/units/{code}", response_model=UnitView)
def change_unit(code: str, body: UnitPatch, principal: CurrentPrincipal, registry: DirectoryDep) -> dict[str, Any]:
    """Rename a unit or move it in the tree."""
    require_role(principal, *ADMIN_ROLES)
    return registry.change_unit(principal.org, code, body, by=principal.sub)


@router.post("/units/{code}/close", response_model=UnitView)
def close_unit(code: str, principal: CurrentPrincipal, registry: DirectoryDep) -> dict[str, Any]:
    """Close a unit (its people and units moved out first: else 409)."""
    require_role(principal, *ADMIN_ROLES)
    return registry.close_unit(principal.org, code, by=principal.sub)


@router.get("/units/{code}/history", response_model=list[ChangeEntry])
def unit_history(code: str, principal: CurrentPrincipal, registry: DirectoryDep) -> list[dict[str, Any]]:
    return registry.history(Unit.create_id(principal.org, code), Unit)


@router.post("/positions", status_code=status.HTTP_201_CREATED, response_model=PositionView)
def define_position(
    body: PositionIn, principal: CurrentPrincipal, registry: DirectoryDep
) -> dict[str, Any] | JSONResponse:
    """A position in a unit; `head` marks the unit's head."""
    require_role(principal, *ADMIN_ROLES)
    try:
        return registry.define_position(principal.org, body, by=principal.sub)
    except EntryExists as exc:
        return _exists(exc)


@router.get("/positions", response_model=list[PositionView])
def list_positions(principal: CurrentPrincipal, pool: Database) -> list[dict[str, Any]]:
    with pool.connection() as conn:
        return Directory.positions(conn, principal.org)


# -- people -----------------------------------------------------------------------------------------------------------
@router.post("/people", status_code=status.HTTP_201_CREATED, response_model=PersonView)
def register_person(
    body: PersonIn, principal: CurrentPrincipal, registry: DirectoryDep
) -> dict[str, Any] | JSONResponse:
    """Register a person (administrator of `org`): login, full name, unit, position, roles. The same login again:
    409 with the person registered."""
    require_role(principal, *ADMIN_ROLES)
    _own(principal, body.org)
    try:
        return registry.register_person(body, by=principal.sub)
    except EntryExists as exc:
        return _exists(exc)


@router.get("/people", response_model=PersonList)
def list_people(
    principal: CurrentPrincipal,
    pool: Database,
    q: Q = None,
    unit: Annotated[str | None, Query(max_length=50)] = None,
    role: Role | None = None,
    include_inactive: bool = False,
    size: Size = 50,
) -> dict[str, Any]:
    """People of the caller's organization by name prefix and Russian word forms (`q=Иванову` finds Иванов),
    unit and role; best matches first."""
    with pool.connection() as conn:
        items = Directory.people(
            conn,
            principal.org,
            q=q,
            unit=unit,
            role=role.value if role else None,
            include_inactive=include_inactive,
            size=size,
        )
    return {"items": items}


_ROLE_SPLIT = re.compile(r"[\s,;|]+")


@router.post("/people/import", response_model=ImportReport)
async def import_people(request: Request, principal: CurrentPrincipal, registry: DirectoryDep) -> Any:
    """Import people from CSV (header: login,full_name,unit,position,roles,email,phone or логин, ФИО,
    подразделение, должность, роли, телефон; UTF-8 or Windows-1251; roles separated by spaces
    or `|`; `org` may be given and must be the administrator's). Good rows are imported; each bad row is reported
    with its line number, field and reason."""
    require_role(principal, *ADMIN_ROLES)
    rows = read_csv(await _csv(request), PEOPLE_COLUMNS)

    def prepared() -> Any:
        for line, row in rows:
            values: dict[str, Any] = {**row, "org": row.get("org") or principal.org}
            if "roles" in values:
                values["roles"] = [r for r in _ROLE_SPLIT.split(values["roles"]) if r]
            yield line, values

    def save(entry: PersonIn) -> None:
        if entry.org != principal.org:
            raise InvalidField(f"an administrator of {principal.org} imports people of {principal.org}", field="org")
        registry.register_person(entry, by=principal.sub)

    return await asyncio.to_thread(import_rows, prepared(), PersonIn, save)


@router.get("/people/{login}", response_model=PersonView)
def get_person(login: str, principal: CurrentPrincipal, registry: DirectoryDep, pool: Database) -> dict[str, Any]:
    with pool.connection() as conn:
        return registry.person(conn, principal.org, login)


@router.patch("/people/{login}", response_model=PersonView)
def change_person(login: str, body: PersonPatch, principal: CurrentPrincipal, registry: DirectoryDep) -> dict[str, Any]:
    """Move a person, rename them, change their position or roles: only the fields given change."""
    require_role(principal, *ADMIN_ROLES)
    return registry.change_person(principal.org, login, body, by=principal.sub)


@router.post("/people/{login}/deactivate", response_model=PersonView)
def deactivate_person(
    login: str, principal: CurrentPrincipal, registry: DirectoryDep, body: Deactivation | None = None
) -> dict[str, Any]:
    """A person left: the login stays in history but gets no new work."""
    require_role(principal, *ADMIN_ROLES)
    return registry.deactivate_person(principal.org, login, body.reason if body else None, by=principal.sub)


@router.get("/people/{login}/history", response_model=list[ChangeEntry])
def person_history(login: str, principal: CurrentPrincipal, registry: DirectoryDep) -> list[dict[str, Any]]:
    """Every change of the person: registered, moved, renamed, roles, deactivated — who did it and when."""
    return registry.history(Person.create_id(principal.org, login), Person)


# -- delegations ------------------------------------------------------------------------------------------------------
@router.post("/delegations", status_code=status.HTTP_201_CREATED, response_model=DelegationView)
def grant_delegation(body: DelegationIn, principal: CurrentPrincipal, registry: DirectoryDep) -> dict[str, Any]:
    """A deputy acts for a principal with some of the principal's roles from `starts` to `ends` (e.g. an acting
    head while the head is on leave)."""
    require_role(principal, *ADMIN_ROLES)
    return registry.grant_delegation(principal.org, body, by=principal.sub)


@router.get("/delegations", response_model=list[DelegationView])
def list_delegations(principal: CurrentPrincipal, pool: Database, on: date | None = None) -> list[dict[str, Any]]:
    """The organization's delegations; with `on`, those in force that day."""
    with pool.connection() as conn:
        return Directory.delegations(conn, principal.org, on=on)


@router.post("/delegations/{delegation_id}/revoke", response_model=DelegationView)
def revoke_delegation(delegation_id: uuid.UUID, principal: CurrentPrincipal, registry: DirectoryDep) -> dict[str, Any]:
    require_role(principal, *ADMIN_ROLES)
    return registry.revoke_delegation(principal.org, delegation_id, by=principal.sub)
