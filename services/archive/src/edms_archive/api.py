"""Archive HTTP API: file plans, filings, cases and their inventories, retention lists, transfers, disposal acts.

Thin: requests in, application commands and read-model queries out. Reading follows the read rule (own
organization; ДСП documents only for the admitted); changing needs an archivist (or admin); a disposal act is
approved or rejected only by the expert commission's routing stage (`POST :8102/documents/{act_id}/approval/
decisions`), never here.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from edms_archive import inventory as printable
from edms_archive.application import (
    ArchiveApplication,
    CaseNotFound,
    FilingNotFound,
    Plan,
)
from edms_archive.blobs import Blobs
from edms_archive.chain import chain_head
from edms_archive.config import ArchiveSettings
from edms_archive.domain import Case, DisposalAct, Filing, RuleBroken, Transfer
from edms_archive.plan import FilePlanItem, PlanInvalid, parse_items
from edms_contracts import Role
from edms_runtime.auth import CurrentPrincipal, Principal, readable, require_role
from edms_runtime.errors import InvalidField, NotFound
from edms_runtime.http import Database, application_dependency
from edms_runtime.text import RequestBody

router = APIRouter(tags=["archive"])

#: Who keeps the archive: the archivist (архивист) of the organization, or an administrator.
KEEPERS = (Role.ARCHIVIST, Role.ADMIN)
#: Largest CSV file plan or transfer package taken in one request body.
MAX_CSV_BYTES = 5 << 20
MAX_PACKAGE_BYTES = 8 << 30

Archive = Annotated[ArchiveApplication, Depends(application_dependency(ArchiveApplication))]


async def _blobs(request: Request) -> Blobs:
    blobs: Blobs = request.app.state.blobs
    return blobs


async def _settings(request: Request) -> ArchiveSettings:
    settings: ArchiveSettings = request.app.state.archive_settings
    return settings


BlobStore = Annotated[Blobs, Depends(_blobs)]
Settings = Annotated[ArchiveSettings, Depends(_settings)]


# -- views ------------------------------------------------------------------------------------------------------------
class CaseView(BaseModel):
    id: uuid.UUID
    index: str
    title: str
    year: int
    retention: str
    article: str
    volume: int = 1
    status: str = "open"


class FilingView(BaseModel):
    document_id: uuid.UUID
    case: CaseView
    reg_number: str | None = None
    title: str | None = None
    sheets: int | None = None
    files: list[dict[str, Any]] = []
    destroyed_on: date | None = None


class CaseListItem(BaseModel):
    case_id: uuid.UUID
    case_index: str
    title: str
    year: int
    volume: int
    unit: str | None
    retention: str
    article: str | None
    category: str | None
    status: str
    closed_on: date | None
    retention_end: date | None
    transfer_from: date | None
    transfer_by: date | None
    location: dict[str, Any] | None
    documents: int
    sheets: int


class InventoryItem(BaseModel):
    """A line of the case's inventory (опись): the document's number, date and title, sheets and files."""

    document_id: uuid.UUID
    reg_number: str | None
    reg_date: date | None
    title: str | None
    sheets: int | None
    files: int
    destroyed_on: date | None


class CaseInventory(CaseListItem):
    transfer_id: uuid.UUID | None
    seal: str | None
    destroyed_on: date | None
    locations: list[dict[str, Any]]
    inventory: list[InventoryItem]


class DueForTransfer(CaseListItem):
    overdue: bool


class PlanItemBody(RequestBody):
    """A case of the file plan as sent; the rules are checked by edms_archive.plan.parse_items, row by row."""

    index: str = Field(max_length=100, description="Case index, e.g. 01-10")
    title: str = Field(max_length=2000)
    retention: str = Field(max_length=100, description="permanent, N years, until no longer needed; ЭПК may follow")
    article: str = Field(max_length=100, description="Article of the standard list of retention periods")
    epk: bool = Field(default=False, description="ЭПК: the expert commission reviews before destruction")
    unit: str | None = Field(default=None, max_length=100, description="Unit that keeps the case")
    kinds: list[str] = Field(default=[], max_length=20, description="Document kinds filed here by default")


class PlanBody(RequestBody):
    items: list[PlanItemBody] = Field(max_length=5000)


class PlanCopyBody(RequestBody):
    from_year: int = Field(ge=1900, le=2200)
    items: list[PlanItemBody] = Field(default=[], max_length=5000, description="Items added or replaced by index")
    remove: list[str] = Field(default=[], max_length=5000, description="Indexes not carried over")


class PlanItemView(BaseModel):
    index: str
    title: str
    retention: str
    epk: bool
    article: str
    unit: str | None
    kinds: list[str]


class PlanView(BaseModel):
    org: str
    year: int
    adopted: bool = Field(description="False: the organization has no plan for the year; the model plan applies")
    version: int | None
    source: str | None
    items: list[PlanItemView]


class RefileBody(RequestBody):
    case_index: str = Field(min_length=1, max_length=100)
    year: int | None = Field(default=None, ge=1900, le=2200)
    reason: str = Field(min_length=1, max_length=2000)


class SheetsBody(RequestBody):
    sheets: int = Field(ge=0, le=100_000)


class CloseBody(RequestBody):
    reason: str = Field(default="closed by hand", min_length=1, max_length=2000)


class CloseYearBody(RequestBody):
    year: int = Field(ge=1900, le=2200)


class LocationBody(RequestBody):
    room: str = Field(min_length=1, max_length=100)
    shelf: str = Field(min_length=1, max_length=100)
    box: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class CasesBody(RequestBody):
    case_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class ActBody(CasesBody):
    note: str | None = Field(default=None, max_length=2000)
    expert_commission: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=50,
        description="Logins of the commission members who judge the act; none: everyone with the role",
    )


class TransferView(BaseModel):
    id: uuid.UUID
    org: str
    case_ids: list[uuid.UUID]
    seal: str
    package_sha256: str
    size: int
    documents: int
    files: int
    on: date
    by: str
    chain_head: str | None


class ImportView(BaseModel):
    transfer_id: uuid.UUID
    seal: str
    cases: int
    imported: list[uuid.UUID]


class ActView(BaseModel):
    id: uuid.UUID
    org: str
    status: str
    cases: list[dict[str, Any]]
    drafted_by: str
    drafted_on: date
    note: str | None
    expert_commission: list[str] = Field(description="The members the archivist named (none: everyone with the role)")
    decisions: list[dict[str, Any]] = Field(description="The commission's decisions at its routing stage")
    approval: dict[str, Any] | None
    rejection: dict[str, Any] | None
    executed: dict[str, Any] | None
    files_deleted: int | None = None


# -- documents --------------------------------------------------------------------------------------------------------
def _filing_view(filing: Filing, case: Case) -> FilingView:
    return FilingView(
        document_id=filing.document_id,
        case=_case_view(case),
        reg_number=filing.reg_number,
        title=filing.title,
        sheets=filing.sheets,
        files=filing.files,
        destroyed_on=filing.destroyed_on,
    )


@router.get("/documents/{document_id}", response_model=FilingView)
def get_filing(document_id: uuid.UUID, principal: CurrentPrincipal, archive: Archive) -> FilingView:
    """The case (дело) of the file plan the document was filed into, and what the archive keeps of it."""
    filing, case = archive.filing_of(document_id)
    readable(principal, filing, or_raise=FilingNotFound(document_id))
    return _filing_view(filing, case)


@router.post("/documents/{document_id}/refile", response_model=FilingView)
def refile(document_id: uuid.UUID, body: RefileBody, principal: CurrentPrincipal, archive: Archive) -> FilingView:
    """An archivist moves a document to another case of the plan, saying why (both cases open)."""
    require_role(principal, *KEEPERS)
    readable(principal, archive.filing(document_id, principal.org), or_raise=FilingNotFound(document_id))
    filing = archive.refile(
        document_id, principal.org, case_index=body.case_index, year=body.year, by=principal.sub, reason=body.reason
    )
    return _filing_view(filing, archive.case(filing.case_id))


@router.put("/documents/{document_id}/sheets", response_model=FilingView)
def count_sheets(document_id: uuid.UUID, body: SheetsBody, principal: CurrentPrincipal, archive: Archive) -> FilingView:
    """Sheets of the paper original (0: electronic only), for the inventory."""
    require_role(principal, *KEEPERS)
    readable(principal, archive.filing(document_id, principal.org), or_raise=FilingNotFound(document_id))
    filing = archive.count_sheets(document_id, principal.org, sheets=body.sheets, by=principal.sub)
    return _filing_view(filing, archive.case(filing.case_id))


# -- cases: lists -----------------------------------------------------------------------------------------------------
_STATUS = (
    "CASE WHEN c.destroyed_on IS NOT NULL THEN 'destroyed' WHEN c.transfer_id IS NOT NULL THEN 'transferred' "
    "WHEN c.closed_on IS NOT NULL THEN 'closed' ELSE 'open' END"
)


def _cases_of(principal: Principal, where: list[str], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Cases of the caller's organization (a case is not restricted; its documents may be), with the counts of the
    documents the caller may read."""
    readable_documents, reader = principal.read_condition("i", document_column="document_id")
    query = (
        "SELECT c.case_id, c.case_index, c.title, c.year, c.volume, c.unit, c.retention, c.article, c.category, "  # noqa: S608 - our own conditions
        f"{_STATUS} AS status, c.closed_on, c.retention_end, c.transfer_from, c.transfer_by, c.transfer_id, c.seal, "
        "c.destroyed_on, c.locations, c.locations -> -1 AS location, "
        "(SELECT count(*) FROM inventory i WHERE i.case_id = c.case_id AND " + readable_documents + ") AS documents, "
        "(SELECT coalesce(sum(i.sheets), 0) FROM inventory i WHERE i.case_id = c.case_id AND "
        + readable_documents
        + ") AS sheets "
        f"FROM cases c WHERE {' AND '.join(['c.org = %(reader_org)s', *where])}"
    )
    return query, {**reader, **params}


def _list(pool: ConnectionPool[Any], principal: Principal, where: list[str], params: dict[str, Any]) -> list[Any]:
    query, values = _cases_of(principal, where, params)
    with pool.connection() as conn:
        rows: list[Any] = conn.execute(f"{query} ORDER BY c.year DESC, c.case_index, c.volume", values).fetchall()
    return rows


@router.get("/cases", response_model=list[CaseListItem])
def list_cases(
    principal: CurrentPrincipal,
    pool: Database,
    org: Annotated[
        str | None, Query(max_length=200, description="Your organization (others' cases are not shown)")
    ] = None,
    year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
    status: Annotated[str | None, Query(pattern="^(open|closed|transferred|destroyed)$")] = None,
) -> list[CaseListItem]:
    """The caller's organization's cases (дела), by year and index, with how many documents and sheets each holds."""
    if org is not None and org != principal.org:
        return []
    where: list[str] = []
    params: dict[str, Any] = {}
    if year is not None:
        where.append("c.year = %(year)s")
        params["year"] = year
    if status is not None:
        where.append(f"{_STATUS} = %(status)s")
        params["status"] = status
    return [CaseListItem.model_validate(row) for row in _list(pool, principal, where, params)]


@router.get("/cases/due-for-transfer", response_model=list[DueForTransfer])
def due_for_transfer(
    principal: CurrentPrincipal,
    pool: Database,
    archive: Archive,
    as_of: Annotated[date | None, Query(description="Default: today")] = None,
) -> list[DueForTransfer]:
    """Permanent and long-term cases closed at least a year ago and not transferred yet (Order of Rosarchiv No. 77:
    to the organization's archive one to three years after closing); `overdue` past the third year."""
    day = as_of or archive.clock()
    rows = _list(
        pool,
        principal,
        ["c.transfer_from <= %(day)s", "c.transfer_id IS NULL", "c.destroyed_on IS NULL"],
        {"day": day},
    )
    return [DueForTransfer(**row, overdue=row["transfer_by"] <= day) for row in rows]


@router.get("/cases/due-for-disposal", response_model=list[CaseListItem])
def due_for_disposal(
    principal: CurrentPrincipal,
    pool: Database,
    archive: Archive,
    as_of: Annotated[date | None, Query(description="Default: today")] = None,
) -> list[CaseListItem]:
    """Cases whose retention has expired (from 1 January after closing) and that are not destroyed yet; never a
    permanent one. A disposal act lists them for the expert commission."""
    day = as_of or archive.clock()
    rows = _list(
        pool,
        principal,
        ["c.retention_end <= %(day)s", "c.category <> 'permanent'", "c.destroyed_on IS NULL"],
        {"day": day},
    )
    return [CaseListItem.model_validate(row) for row in rows]


@router.post("/cases/close-year", response_model=list[CaseView])
def close_year(body: CloseYearBody, principal: CurrentPrincipal, pool: Database, archive: Archive) -> list[CaseView]:
    """The year-end closing: every open case of the year is closed as of 31 December."""
    require_role(principal, *KEEPERS)
    with pool.connection() as conn:
        ids = [
            row["case_id"]
            for row in conn.execute(
                "SELECT case_id FROM cases WHERE org = %s AND year = %s AND closed_on IS NULL",
                (principal.org, body.year),
            ).fetchall()
        ]
    closed = archive.close_year(principal.org, body.year, ids, by=principal.sub)
    return [_case_view(case) for case in closed]


def _case_view(case: Case) -> CaseView:
    return CaseView.model_validate(case, from_attributes=True)


# -- one case ---------------------------------------------------------------------------------------------------------
def _inventory(pool: ConnectionPool[Any], principal: Principal, case_id: uuid.UUID) -> CaseInventory:
    query, params = _cases_of(principal, ["c.case_id = %(case_id)s"], {"case_id": case_id})
    readable_documents, reader = principal.read_condition("i", document_column="document_id")
    with pool.connection() as conn:
        case = conn.execute(query, params).fetchone()
        if case is None:
            raise CaseNotFound(case_id)
        lines = conn.execute(
            "SELECT i.document_id, i.reg_number, i.reg_date, i.title, i.sheets, i.destroyed_on, "  # noqa: S608
            "(SELECT count(*) FROM files f WHERE f.document_id = i.document_id) AS files FROM inventory i "
            f"WHERE i.case_id = %(case_id)s AND {readable_documents} ORDER BY i.reg_date, i.reg_number, i.document_id",
            {**reader, "case_id": case_id},
        ).fetchall()
    return CaseInventory(**case, inventory=[InventoryItem.model_validate(line) for line in lines])


@router.get(
    "/cases/{case_id}",
    response_model=CaseInventory,
    responses={200: {"content": {"application/pdf": {}, "application/vnd.oasis.opendocument.spreadsheet": {}}}},
)
def get_case(
    case_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    pool: Database,
    settings: Settings,
    format: Annotated[str | None, Query(pattern="^(json|pdf|ods)$", description="Or the Accept header")] = None,
) -> Any:
    """A case and its inventory (опись): the documents filed into it that the caller may read, in registration
    order, with sheets and files; where the paper case is and has been. As JSON, PDF or ODS."""
    case = _inventory(pool, principal, case_id)
    wanted = format or _from_accept(request.headers.get("accept", ""))
    if wanted == "json":
        return case
    name = f"inventory-{case.case_index}-{case.year}-{case.volume}".replace("/", "_")
    data = case.model_dump(mode="json")
    if wanted == "pdf":
        body, media = printable.as_pdf(data, settings.pdf_font), "application/pdf"
    else:
        body, media = printable.as_ods(data), "application/vnd.oasis.opendocument.spreadsheet"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{wanted}"'})


def _from_accept(accept: str) -> str:
    if "application/pdf" in accept:
        return "pdf"
    if "opendocument.spreadsheet" in accept:
        return "ods"
    return "json"


@router.post("/cases/{case_id}/close", response_model=CaseView)
def close_case(case_id: uuid.UUID, body: CloseBody, principal: CurrentPrincipal, archive: Archive) -> CaseView:
    """Close a case by hand (it takes no more documents; a new one continues in the next volume)."""
    require_role(principal, *KEEPERS)
    return _case_view(archive.close_case(case_id, principal.org, by=principal.sub, reason=body.reason))


@router.put("/cases/{case_id}/location", response_model=CaseView)
def locate_case(case_id: uuid.UUID, body: LocationBody, principal: CurrentPrincipal, archive: Archive) -> CaseView:
    """Where the paper case is now; the trail keeps every place it has been."""
    require_role(principal, *KEEPERS)
    case = archive.locate(
        case_id, principal.org, room=body.room, shelf=body.shelf, box=body.box, note=body.note, by=principal.sub
    )
    return _case_view(case)


# -- file plan ---------------------------------------------------------------------------------------------------------
def _plan_view(plan: Plan) -> PlanView:
    adopted = plan.adopted
    return PlanView(
        org=plan.org,
        year=plan.year,
        adopted=adopted is not None,
        version=adopted.version if adopted else None,
        source=adopted.source if adopted else None,
        items=[
            PlanItemView(
                index=i.index,
                title=i.title,
                retention=i.retention,
                epk=i.epk,
                article=i.article,
                unit=i.unit,
                kinds=list(i.kinds),
            )
            for i in sorted(plan.items.values(), key=lambda item: item.index)
        ],
    )


def _own(principal: Principal, org: str) -> None:
    if org != principal.org:
        raise NotFound(f"no file plan of {org} for you")  # another organization's plan is not revealed


@router.get("/file-plan", response_model=PlanView)
def get_own_file_plan(principal: CurrentPrincipal, archive: Archive) -> PlanView:
    """The caller's organization's file plan (номенклатура дел) of this year."""
    return _plan_view(archive.plan(principal.org, archive.clock().year))


@router.get("/file-plan/{org}/{year}", response_model=PlanView)
def get_file_plan(org: str, year: int, principal: CurrentPrincipal, archive: Archive) -> PlanView:
    """An organization's file plan for a year (the model plan while it has none of its own)."""
    _own(principal, org)
    return _plan_view(archive.plan(org, year))


def _items(items: list[PlanItemBody]) -> list[FilePlanItem]:
    return parse_items([item.model_dump() for item in items], [f"items[{n}]" for n in range(len(items))])


@router.put("/file-plan/{org}/{year}", response_model=PlanView)
def put_file_plan(org: str, year: int, body: PlanBody, principal: CurrentPrincipal, archive: Archive) -> PlanView:
    """Adopt or revise the year's plan: every item checked, duplicate indexes refused; nothing stored on an error."""
    _own(principal, org)
    require_role(principal, *KEEPERS)
    return _plan_view(archive.adopt_plan(org, year, _items(body.items), by=principal.sub, source="api"))


@router.post(
    "/file-plan/{org}/{year}/import",
    response_model=PlanView,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def import_file_plan(
    org: str, year: int, request: Request, principal: CurrentPrincipal, archive: Archive
) -> PlanView:
    """Adopt the year's plan from CSV (columns index, title, unit, retention, epk, article, kinds; `,` or `;`;
    UTF-8 or Windows-1251). Every error of every row is reported (`row N.column`), and nothing is stored then."""
    _own(principal, org)
    require_role(principal, *KEEPERS)
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidField(f"the file is larger than {MAX_CSV_BYTES >> 20} MB", field="<body>")
    rows, names = read_plan_csv(raw)
    return _plan_view(archive.adopt_plan(org, year, parse_items(rows, names), by=principal.sub, source="csv"))


#: Column names a CSV file plan may use (Russian ones as in a printed номенклатура).
CSV_COLUMNS = {
    "index": "index", "индекс": "index", "индекс дела": "index",
    "title": "title", "заголовок": "title", "заголовок дела": "title",
    "unit": "unit", "подразделение": "unit",
    "retention": "retention", "срок хранения": "retention",
    "epk": "epk", "эпк": "epk",
    "article": "article", "статья": "article", "статья перечня": "article",
    "kinds": "kinds", "виды документов": "kinds",
}  # fmt: skip


def read_plan_csv(raw: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of a CSV file plan and their names for the report (`row N`, N = the line in the file)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1251")  # what a Russian spreadsheet saves by default
    if "\x00" in text:
        raise InvalidField("must not contain the NUL character", field="<body>")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise PlanInvalid([("row 1", "the file is empty; the first row names the columns")])
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [CSV_COLUMNS.get(name.strip().lower(), name.strip()) for name in next(reader)]
    unknown = [name for name in header if name not in CSV_COLUMNS.values()]
    missing = sorted({"index", "title", "retention", "article"} - set(header))
    problems = [("row 1", f"unknown column {name!r}") for name in unknown]
    problems += [("row 1", f"no column {name!r}") for name in missing]
    if problems:
        raise PlanInvalid(problems)
    rows, names = [], []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        rows.append(dict(zip(header, values, strict=False)))
        names.append(f"row {reader.line_num}")
    return rows, names


@router.post("/file-plan/{org}/{year}/copy", response_model=PlanView)
def copy_file_plan(org: str, year: int, body: PlanCopyBody, principal: CurrentPrincipal, archive: Archive) -> PlanView:
    """This year's plan from another year's: the same items, with the ones sent added or replaced and the named
    ones removed."""
    _own(principal, org)
    require_role(principal, *KEEPERS)
    changes = _items(body.items) if body.items else []
    plan = archive.copy_plan(
        org, source_year=body.from_year, year=year, changes=changes, remove=body.remove, by=principal.sub
    )
    return _plan_view(plan)


# -- transfers ---------------------------------------------------------------------------------------------------------
def _documents(pool: ConnectionPool[Any], case_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The documents of these cases, as the read model knows them (each is checked against its filing)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT case_id, document_id FROM inventory WHERE case_id = ANY(%s) ORDER BY reg_date, reg_number",
            (case_ids,),
        ).fetchall()
    out: dict[uuid.UUID, list[uuid.UUID]] = {case_id: [] for case_id in case_ids}
    for row in rows:
        out[row["case_id"]].append(row["document_id"])
    return out


def _transfer_view(transfer: Transfer) -> TransferView:
    return TransferView.model_validate(transfer, from_attributes=True)


@router.post("/transfers", response_model=TransferView, status_code=201)
def transfer(
    body: CasesBody, principal: CurrentPrincipal, pool: Database, archive: Archive, blobs: BlobStore
) -> TransferView:
    """Transfer closed permanent and long-term cases to the organization's archive as a sealed integrity package."""
    require_role(principal, *KEEPERS)
    with pool.connection() as conn:
        head = chain_head(conn)
    record = archive.transfer(
        principal.org,
        body.case_ids,
        documents=_documents(pool, body.case_ids),
        by=principal.sub,
        blobs=blobs,
        chain_head=f"{head.notification_id}:{head.hash}" if head else None,
    )
    return _transfer_view(record)


@router.get("/transfers/{transfer_id}", response_model=TransferView)
def get_transfer(transfer_id: uuid.UUID, principal: CurrentPrincipal, archive: Archive) -> TransferView:
    return _transfer_view(archive.transfer_record(transfer_id, principal.org))


@router.get(
    "/transfers/{transfer_id}/package",
    response_class=StreamingResponse,
    responses={200: {"description": "The package", "content": {"application/zip": {}}}},
)
def get_package(
    transfer_id: uuid.UUID, principal: CurrentPrincipal, archive: Archive, blobs: BlobStore
) -> StreamingResponse:
    """The package (zip); check it offline with `edms archive verify FILE --seal <X-Package-Seal>`."""
    record = archive.transfer_record(transfer_id, principal.org)
    source = blobs.open(record.package_sha256)

    def chunks() -> Iterator[bytes]:
        with source:
            while chunk := source.read(1 << 20):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="transfer-{transfer_id}.zip"',
            "Content-Length": str(record.size),
            "X-Package-Seal": record.seal,
        },
    )


@router.post(
    "/transfers/import",
    response_model=ImportView,
    openapi_extra={"requestBody": {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def import_package(
    request: Request, principal: CurrentPrincipal, archive: Archive, blobs: BlobStore
) -> ImportView:
    """Take in a transfer package (the organization's archive, or a restore): refused whole unless it verifies."""
    require_role(principal, *KEEPERS)
    with tempfile.TemporaryDirectory(prefix="edms-upload-") as tmp:
        path = Path(tmp) / "package.zip"
        size = 0
        with path.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_PACKAGE_BYTES:
                    raise InvalidField("the package is too large", field="<body>")
                out.write(chunk)
        package, imported = await asyncio.to_thread(archive.import_package, path, by=principal.sub, blobs=blobs)
    return ImportView(
        transfer_id=package.manifest["transfer_id"],
        seal=package.seal,
        cases=len(package.cases),
        imported=[case.id for case in imported],
    )


# -- disposal acts -----------------------------------------------------------------------------------------------------
def _act_view(act: DisposalAct, files_deleted: int | None = None) -> ActView:
    return ActView(
        id=act.id,
        org=act.org,
        status=act.status,
        cases=act.cases,
        drafted_by=act.drafted_by,
        drafted_on=act.drafted_on,
        note=act.note,
        expert_commission=act.commission,
        decisions=act.decisions,
        approval=act.approval,
        rejection=act.rejection,
        executed=act.executed,
        files_deleted=files_deleted,
    )


@router.post("/disposal-acts", response_model=ActView, status_code=201)
def draft_act(body: ActBody, principal: CurrentPrincipal, pool: Database, archive: Archive) -> ActView:
    """Draft an act selecting expired cases for destruction (never a permanent case, never one not yet expired)."""
    require_role(principal, *KEEPERS)
    counts = {case_id: len(ids) for case_id, ids in _documents(pool, body.case_ids).items()}
    act = archive.draft_act(
        principal.org,
        body.case_ids,
        documents=counts,
        by=principal.sub,
        note=body.note,
        commission=body.expert_commission,
    )
    return _act_view(act)


@router.get("/disposal-acts/{act_id}", response_model=ActView)
def get_act(act_id: uuid.UUID, principal: CurrentPrincipal, archive: Archive) -> ActView:
    return _act_view(archive.act(act_id, principal.org))


def _through_routing(act_id: uuid.UUID, principal: Principal, archive: ArchiveApplication) -> ActView:
    act = archive.act(act_id, principal.org)
    raise RuleBroken(
        f"disposal act {act.id} is {act.status}: the expert commission approves or rejects it at its routing stage "
        f"(POST :8102/documents/{act.id}/approval/decisions), not through the archive"
    )


@router.post("/disposal-acts/{act_id}/approve", response_model=ActView)
def approve_act(act_id: uuid.UUID, principal: CurrentPrincipal, archive: Archive) -> ActView:
    """Refused (409): the approval is the expert commission's routing stage (issue 11 item 5)."""
    return _through_routing(act_id, principal, archive)


@router.post("/disposal-acts/{act_id}/reject", response_model=ActView)
def reject_act(act_id: uuid.UUID, principal: CurrentPrincipal, archive: Archive) -> ActView:
    """Refused (409): a rejection is the expert commission's at its routing stage."""
    return _through_routing(act_id, principal, archive)


@router.post("/disposal-acts/{act_id}/execute", response_model=ActView)
def execute_act(
    act_id: uuid.UUID, principal: CurrentPrincipal, pool: Database, archive: Archive, blobs: BlobStore
) -> ActView:
    """Destroy the contents of an approved act's cases; the act, the inventory and the fact stay forever."""
    require_role(principal, *KEEPERS)
    act = archive.act(act_id, principal.org)

    def used_elsewhere(shas: set[str], documents: set[uuid.UUID]) -> set[str]:
        with pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT f.sha256 FROM files f LEFT JOIN inventory i USING (document_id) "
                "WHERE f.sha256 = ANY(%s) AND NOT (f.document_id = ANY(%s)) AND i.destroyed_on IS NULL",
                (sorted(shas), sorted(documents)),
            ).fetchall()
        return {row["sha256"] for row in rows}

    done, deleted = archive.execute_act(
        act_id,
        principal.org,
        documents=_documents(pool, act.case_ids),
        by=principal.sub,
        blobs=blobs,
        used_elsewhere=used_elsewhere,
    )
    return _act_view(done, deleted)
