"""Registry HTTP API: register documents, drafts, links, the journal view, history, journals as data, grants.

Thin: the request is validated into the domain's carrier (`Card`), the application does the rest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edms_contracts import DeliveryChannel, DocumentKind, LinkType, Role, Urgency
from edms_registry.application import (
    CauseReused,
    DocumentNotFound,
    DuplicateLetter,
    GrantRefused,
    NewAttachment,
    Registration,
    RegistryApplication,
)
from edms_registry.config import RegistrySettings
from edms_registry.domain import (
    Card,
    CardHolder,
    Draft,
    InvalidCard,
    InvalidJournal,
    LinkRefused,
    UnknownJournal,
    grant_key,
    idempotency_cause,
    plan_to_data,
)
from edms_runtime.auth import CurrentPrincipal, Principal, require_permission, require_role
from edms_runtime.errors import InvalidField, NotFound
from edms_runtime.http import Database, application_dependency, problem
from edms_runtime.text import RequestBody

router = APIRouter(tags=["documents"])

#: Roles allowed to register (records office clerks) — Instruction on records management: registration is done
#: by the records service.
REGISTRAR_ROLES = (Role.CLERK, Role.REGISTRAR, Role.ADMIN)
#: Who drafts documents made inside: anyone who prepares them (executors), clerks, heads.
DRAFTER_ROLES = (Role.EXECUTOR, Role.CLERK, Role.REGISTRAR, Role.HEAD, Role.ADMIN)

Text = Annotated[str, Field(min_length=1, max_length=500)]


class PersonIn(RequestBody):
    """A person named on a card (signer, executor): name, position; the login when they are a user."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text
    position: Text | None = None
    login: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    phone: Annotated[str, Field(min_length=3, max_length=50)] | None = None


class ApplicantIn(RequestBody):
    """The citizen of an appeal (59-ФЗ art. 7)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text
    address: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[str, Field(min_length=3, max_length=50)] | None = None


class LinkIn(RequestBody):
    link_type: LinkType
    target_id: uuid.UUID


class CardFields(RequestBody):
    """The fields of a registration card (DOMAIN.md "Registration card"); which ones a kind needs: GET /kinds."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=2000, description="Title / summary (заголовок)")
    text: str | None = Field(default=None, max_length=200_000)
    addressee: Text | None = None
    signer: PersonIn | None = None
    executor: PersonIn | None = None
    sheets: int | None = Field(default=None, ge=1, le=100_000)
    appendices: int | None = Field(default=None, ge=0, le=10_000)
    appendix_sheets: int | None = Field(default=None, ge=0, le=100_000)
    delivery_channel: DeliveryChannel | None = None
    received_date: date | None = None
    correspondent: Text | None = None
    correspondent_number: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    correspondent_date: date | None = None
    urgency: Urgency = Urgency.NONE
    access: str | None = Field(default=None, max_length=50, description="Access restriction mark, e.g. ДСП")
    applicant: ApplicantIn | None = None
    counterparty: Text | None = None
    valid_until: date | None = None
    deadline: date | None = None
    plan_period: Annotated[str, Field(min_length=1, max_length=50)] | None = None

    def card(self, kind: DocumentKind) -> Card:
        fields = Card.__dataclass_fields__
        values = {name: getattr(self, name) for name in type(self).model_fields if name in fields and name != "kind"}
        for name in ("signer", "executor", "applicant"):
            model = values[name]
            values[name] = model.model_dump(exclude_none=True) if model is not None else None
        return Card(kind=kind, **values)


class RegisterRequest(CardFields):
    kind: DocumentKind = Field(description="Document kind; incoming_letter for an incoming document")
    links: list[LinkIn] = Field(default_factory=list, max_length=50)
    confirm_duplicate: bool = Field(
        default=False, description="Register the same letter again, as a duplicate of the earlier card (after a 409)"
    )


class DraftRequest(CardFields):
    kind: DocumentKind


class DraftRevision(RequestBody):
    """A new version of a draft: only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(default=None, min_length=1, max_length=2000)
    text: str | None = Field(default=None, max_length=200_000)
    addressee: Text | None = None
    signer: PersonIn | None = None
    executor: PersonIn | None = None
    sheets: int | None = Field(default=None, ge=1, le=100_000)
    appendices: int | None = Field(default=None, ge=0, le=10_000)
    appendix_sheets: int | None = Field(default=None, ge=0, le=100_000)
    delivery_channel: DeliveryChannel | None = None
    urgency: Urgency | None = None
    access: str | None = Field(default=None, max_length=50)
    counterparty: Text | None = None
    valid_until: date | None = None
    deadline: date | None = None


class JournalIn(RequestBody):
    code: Annotated[str, Field(min_length=1, max_length=20)]
    title: Text
    pattern: Annotated[str, Field(min_length=1, max_length=100)]
    case_index: Annotated[str, Field(min_length=1, max_length=50)]
    kinds: list[DocumentKind] = Field(min_length=1)
    units: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=list)
    per_unit: bool = False


class JournalPlanIn(RequestBody):
    journals: list[JournalIn] = Field(min_length=1, max_length=200)


class AttachmentView(BaseModel):
    sha256: str
    filename: str
    media_type: str
    size: int
    added_by: str | None = None
    added_at: datetime | None = None
    #: Text extraction for search: pending, extracted, failed.
    text: str = "pending"


class LinkView(BaseModel):
    link_type: str
    document_id: uuid.UUID


class VersionView(BaseModel):
    version: int
    by: str
    changes: dict[str, Any]


class DocumentView(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    journal: str | None
    reg_number: str | None
    reg_date: date | None
    title: str
    text: str | None
    addressee: str | None
    signer: dict[str, Any] | None
    executor: dict[str, Any] | None
    sheets: int | None
    appendices: int | None
    appendix_sheets: int | None
    delivery_channel: str | None
    received_date: date | None
    correspondent: str | None
    correspondent_number: str | None
    correspondent_date: date | None
    urgency: str
    access: str | None
    applicant: dict[str, Any] | None
    counterparty: str | None
    valid_until: date | None
    deadline: date | None
    plan_period: str | None
    case_index: str | None
    org: str
    unit: str | None
    registered_by: str | None
    version: int
    links: list[LinkView]
    linked_from: list[LinkView]
    similar: list[dict[str, Any]]
    attachments: list[AttachmentView]

    @classmethod
    def of(cls, card: CardHolder) -> DocumentView:
        return cls.model_validate(
            {
                **{name: getattr(card, name, None) for name in cls.model_fields},
                "id": card.id,
                "version": card.version_no,
                "links": [{"link_type": r["link_type"], "document_id": r["target_id"]} for r in card.links.out],
                "linked_from": [
                    {"link_type": r["link_type"], "document_id": r["source_id"]} for r in card.links.inbound
                ],
            }
        )


class DraftView(DocumentView):
    created_by: str
    versions: list[VersionView]

    @classmethod
    def of(cls, card: CardHolder) -> DraftView:
        assert isinstance(card, Draft)
        view = DocumentView.of(card).model_dump()
        return cls.model_validate({**view, "created_by": card.created_by, "versions": card.versions})


class JournalRow(BaseModel):
    document_id: uuid.UUID
    kind: str
    status: str
    journal: str | None
    reg_number: str | None
    reg_date: date | None
    title: str | None
    correspondent: str | None
    unit: str | None
    author: str | None


class JournalPage(BaseModel):
    items: list[JournalRow]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    version: int
    event: str
    at: datetime
    by: str | None
    changes: dict[str, Any]


async def settings(request: Request) -> RegistrySettings:
    value: RegistrySettings = request.app.state.registry_settings
    return value


Registry = Annotated[RegistryApplication, Depends(application_dependency(RegistryApplication))]
Settings = Annotated[RegistrySettings, Depends(settings)]
CorrelationId = Annotated[uuid.UUID | None, Header(alias="X-Correlation-ID")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]


def _fingerprint(body: BaseModel, *files: str) -> str:
    """The request as JSON with sorted keys (and the hashes of its files), hashed: a repeat has the same one."""
    request = body.model_dump(mode="json")
    if files:
        request = {"card": request, "files": list(files)}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _refused(exc: Exception) -> InvalidField:
    """A domain refusal of a card, as 422 naming the field."""
    field = getattr(exc, "field", None) or "kind"
    return InvalidField(str(getattr(exc, "reason", exc)), field=field)


def _visible(principal: Principal, card: CardHolder) -> CardHolder:
    """The shared read rule (Principal.may_read); the people the card itself names (who registered it, its
    addressee, executor, signer: Decree No. 1233, those a ДСП document is for) read it at once, before the rule's
    facts, derived from the card's own events, catch up."""
    if card.org == principal.org and principal.sub in card.named_logins():
        return card
    if not principal.may_read(card.org, card.access, card.id):
        raise DocumentNotFound(card.id)  # the same answer as for an unknown id: existence is not revealed
    return card


# -- registration ------------------------------------------------------------------------------------------------------
@router.post("/documents", status_code=status.HTTP_201_CREATED, response_model=DocumentView)
async def register_document(
    body: RegisterRequest,
    principal: CurrentPrincipal,
    registry: Registry,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> DocumentView | JSONResponse:
    """Register a document received or made (incoming, appeals, assignments, plan items): the next number of its
    journal and today's date in the organization's time zone. Outgoing letters, internal documents, orders, acts and
    contracts are drafted (POST /drafts) and numbered when signed.

    With an `Idempotency-Key` header, sending the same request again (after a timeout, a lost answer) returns the
    same card, number and status instead of registering the letter twice; the same key with a different request
    is refused (422). The same letter (correspondent, its number and date) registered before: 409 with the earlier
    card, unless `confirm_duplicate` says to register it as its duplicate.
    """
    require_role(principal, *REGISTRAR_ROLES)
    return await register(registry, registration(body, principal, registry, correlation_id, idempotency_key))


def registration(
    body: RegisterRequest,
    principal: Principal,
    registry: RegistryApplication,
    correlation_id: uuid.UUID | None,
    idempotency_key: str | None,
    attachments: tuple[NewAttachment, ...] = (),
) -> Registration:
    """The registration `body` asks for (with `attachments`, files to attach in the same transaction), checked by
    the card's own rules: a refused card raises 422 naming the field."""
    fingerprint = None
    if idempotency_key:  # a repeat sends the same card and the same files
        fingerprint = _fingerprint(body, *(file.sha256 for file in attachments))
    cmd = Registration(
        card=body.card(body.kind),
        reg_date=registry.local_date(),
        org=principal.org,
        unit=principal.unit,
        registered_by=principal.sub,
        correlation_id=correlation_id or uuid.uuid4(),
        cause=idempotency_cause(principal.org, principal.sub, idempotency_key) if idempotency_key else None,
        fingerprint=fingerprint,
        links=tuple((link.link_type, link.target_id) for link in body.links),
        confirm_duplicate=body.confirm_duplicate,
        attachments=attachments,
    )
    try:
        registry.check(cmd)
    except InvalidCard as exc:
        raise _refused(exc) from None
    return cmd


async def register(registry: RegistryApplication, cmd: Registration) -> DocumentView | JSONResponse:
    """Number and save `cmd`: the card, or the 409 about the same letter registered before (422 for a refusal)."""
    try:
        document = await registry.register_async(cmd)
    except (InvalidCard, UnknownJournal, LinkRefused) as exc:
        raise _refused(exc) from None
    except CauseReused as exc:
        raise InvalidField(str(exc), field="Idempotency-Key") from None
    except DuplicateLetter as exc:
        return problem(
            409,
            exc.title,
            exc.detail,
            [{"field": "correspondent_number", "reason": exc.detail}],
            earlier={"id": str(exc.earlier.document_id), "reg_number": exc.earlier.reg_number},
        )
    return DocumentView.of(document)


# -- reading -------------------------------------------------------------------------------------------------------
@router.get("/documents", response_model=JournalPage)
def list_documents(
    principal: CurrentPrincipal,
    pool: Database,
    journal: Annotated[str | None, Query(max_length=20, description="Journal code, e.g. ВХ")] = None,
    kind: DocumentKind | None = None,
    unit: Annotated[str | None, Query(max_length=50)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(draft|registered)$")] = None,
    reg_date_from: date | None = None,
    reg_date_to: date | None = None,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JournalPage:
    """The clerk's journal view: cards and drafts the caller may read, newest first, a page at a time."""
    condition, params = principal.read_condition(document_column="document_id")
    filters = {"journal": journal, "kind": kind.value if kind else None, "unit": unit, "status": status_}
    for name, value in filters.items():
        if value is not None:
            condition += f" AND {name} = %({name})s"
            params[name] = value
    if reg_date_from is not None:
        condition += " AND reg_date >= %(reg_date_from)s"
        params["reg_date_from"] = reg_date_from
    if reg_date_to is not None:
        condition += " AND reg_date <= %(reg_date_to)s"
        params["reg_date_to"] = reg_date_to
    if cursor is not None:
        since, last_id = _cursor(cursor)
        condition += " AND (since, document_id) < (%(since)s, %(last_id)s)"
        params.update(since=since, last_id=last_id)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT document_id, kind, status, journal, reg_number, reg_date, title, correspondent, unit, author, "  # noqa: S608
            f"since FROM cards WHERE {condition} ORDER BY since DESC, document_id DESC LIMIT %(size)s",
            {**params, "size": size + 1},
        ).fetchall()
    items = [JournalRow.model_validate(row) for row in rows[:size]]
    more = len(rows) > size
    next_cursor = _encode_cursor(rows[size - 1]["since"], rows[size - 1]["document_id"]) if more else None
    return JournalPage(items=items, next_cursor=next_cursor)


def _encode_cursor(since: datetime, document_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{since.isoformat()}|{document_id}".encode()).decode()


def _cursor(value: str) -> tuple[datetime, uuid.UUID]:
    try:
        since, document_id = base64.urlsafe_b64decode(value.encode()).decode().split("|")
        return datetime.fromisoformat(since), uuid.UUID(document_id)
    except ValueError:
        raise InvalidField("not a cursor this API gave", field="cursor") from None


@router.get("/documents/{document_id}", response_model=DocumentView)
def get_document(document_id: uuid.UUID, principal: CurrentPrincipal, registry: Registry) -> DocumentView:
    """A registration card or a draft (status `draft`), with its links from both ends."""
    return DocumentView.of(_visible(principal, registry.card(document_id)))


@router.get("/documents/{document_id}/history", response_model=list[HistoryEntry])
def get_history(document_id: uuid.UUID, principal: CurrentPrincipal, registry: Registry) -> list[dict[str, Any]]:
    """Every event of the document in order: what happened, when, by whom, what changed."""
    _visible(principal, registry.card(document_id))
    return registry.history(document_id)


@router.post("/documents/{document_id}/links", status_code=status.HTTP_201_CREATED, response_model=DocumentView)
def link_documents(
    document_id: uuid.UUID, body: LinkIn, principal: CurrentPrincipal, registry: Registry
) -> DocumentView:
    """Link this document to another ("in reply to", "in execution of", "repeat of", "appendix to"); both show it."""
    require_role(principal, *REGISTRAR_ROLES)
    _visible(principal, registry.card(document_id))
    target = registry.card(body.target_id) if body.target_id != document_id else None
    if target is not None and not principal.may_read(target.org, target.access):
        raise InvalidField(f"no document {body.target_id} to link to", field="target_id")
    try:
        return DocumentView.of(registry.link(document_id, body.link_type, body.target_id, linked_by=principal.sub))
    except LinkRefused as exc:
        raise InvalidField(str(exc), field="target_id") from None
    except DocumentNotFound:
        raise InvalidField(f"no document {body.target_id} to link to", field="target_id") from None


# -- drafts ----------------------------------------------------------------------------------------------------------
@router.post("/drafts", status_code=status.HTTP_201_CREATED, response_model=DraftView, tags=["drafts"])
def create_draft(
    body: DraftRequest,
    principal: CurrentPrincipal,
    registry: Registry,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> DraftView:
    """A draft (проект) of an outgoing letter, internal document, order, act or contract: versions kept; it is
    numbered when routing reports it signed."""
    require_role(principal, *DRAFTER_ROLES)
    try:
        draft = registry.create_draft(
            body.card(body.kind),
            org=principal.org,
            unit=principal.unit,
            created_by=principal.sub,
            today=registry.local_date(),
            cause=idempotency_cause(principal.org, principal.sub, idempotency_key) if idempotency_key else None,
            fingerprint=_fingerprint(body) if idempotency_key else None,
            correlation_id=correlation_id,
        )
    except (InvalidCard, UnknownJournal) as exc:
        raise _refused(exc) from None
    except CauseReused as exc:
        raise InvalidField(str(exc), field="Idempotency-Key") from None
    return DraftView.of(draft)


@router.get("/drafts/{document_id}", response_model=DraftView, tags=["drafts"])
def get_draft(document_id: uuid.UUID, principal: CurrentPrincipal, registry: Registry) -> DraftView:
    """A draft with every version (who changed what); after signing, with its registration number."""
    return DraftView.of(_visible(principal, registry.draft(document_id)))


@router.patch("/drafts/{document_id}", response_model=DraftView, tags=["drafts"])
def revise_draft(
    document_id: uuid.UUID, body: DraftRevision, principal: CurrentPrincipal, registry: Registry
) -> DraftView:
    """A new version of the draft: the fields given change, the earlier versions stay."""
    require_role(principal, *DRAFTER_ROLES)
    _visible(principal, registry.draft(document_id))
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    for name in ("signer", "executor"):
        if name in changes and changes[name] is not None:
            changes[name] = changes[name].model_dump(exclude_none=True)
    try:
        draft = registry.revise_draft(document_id, changes, revised_by=principal.sub, today=registry.local_date())
    except InvalidCard as exc:
        raise _refused(exc) from None
    return DraftView.of(draft)


# -- journals as data ------------------------------------------------------------------------------------------------
@router.get("/journals/{org}", response_model=JournalPlanIn, tags=["journals"])
def get_journals(org: str, principal: CurrentPrincipal, registry: Registry) -> Any:
    """The organization's registration journals: code, title, number pattern, case, kinds, units."""
    if org != principal.org and not principal.has_role(Role.ADMIN):
        raise NotFound(f"no journals of {org}")
    return {"journals": plan_to_data(registry.plan(org))}


@router.put("/journals/{org}", response_model=JournalPlanIn, tags=["journals"])
def set_journals(org: str, body: JournalPlanIn, principal: CurrentPrincipal, registry: Registry) -> Any:
    """Set the organization's journals (administrator). Numbers already given stay; new ones follow the new plan."""
    require_role(principal, Role.ADMIN)
    try:
        plan = registry.set_plan(org, [j.model_dump(mode="json") for j in body.journals], principal.sub)
    except InvalidJournal as exc:
        raise InvalidField(str(exc), field="journals") from None
    return {"journals": plan_to_data(plan)}


# -- explicit grants ---------------------------------------------------------------------------------------------------
class GrantIn(RequestBody):
    """Let a person read the document (a ДСП one above all): who, why, until when."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    login: Annotated[str, Field(min_length=1, max_length=100, description="Login of the person granted")]
    org: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="The person's organization; the directory's when absent (and it must be that)"
    )
    reason: Annotated[str, Field(min_length=1, max_length=1000, description="Why, e.g. the head's permission")]
    until: date | None = Field(default=None, description="Last day the grant holds; none: until revoked")


class Revocation(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class GrantView(BaseModel):
    login: str
    org: str
    by: str
    reason: str
    until: date | None
    granted_at: datetime | None = None


def _granting(principal: Principal, registry: RegistryApplication, document_id: uuid.UUID) -> CardHolder:
    """The card, if the caller may read it (else 404, as for an unknown id) and may grant reading it: the head's
    permission, given by a head, the records office (clerk, registrar) or an administrator of the document's own
    organization (Decree No. 1233 of 03.11.1994; `registry:access.grant` in roles.toml); else 403."""
    card = _visible(principal, registry.card(document_id))
    require_permission(principal, "registry:access.grant")
    if card.org != principal.org:
        raise GrantRefused(f"only the organization {card.org} grants reading its documents")
    return card


@router.post(
    "/documents/{document_id}/grants", status_code=status.HTTP_201_CREATED, response_model=GrantView, tags=["grants"]
)
def grant_access(document_id: uuid.UUID, body: GrantIn, principal: CurrentPrincipal, registry: Registry) -> Any:
    """Let a person read the document — above all one marked ДСП, which is otherwise only for those it concerns
    (Decree No. 1233 of 03.11.1994: by the head's permission). Every service applies the grant (`AccessGranted`)
    within moments; granting again with another reason or last day replaces it."""
    _granting(principal, registry, document_id)
    org = registry.person_org(body.login)
    if body.org is not None and body.org != org:
        raise InvalidField(f"{body.login} is a person of {org}, not of {body.org}", field="org")
    if body.until is not None and body.until < registry.local_date():
        raise InvalidField(f"{body.until} is in the past", field="until")
    card = registry.grant_access(
        document_id, grantee=body.login, grantee_org=org, by=principal.sub, reason=body.reason, until=body.until
    )
    return card.grants[grant_key(body.login, org)]


@router.get("/documents/{document_id}/grants", response_model=list[GrantView], tags=["grants"])
def list_grants(document_id: uuid.UUID, principal: CurrentPrincipal, registry: Registry) -> Any:
    """Who is granted reading the document, by whom, why and until when (for those who may grant it)."""
    card = _granting(principal, registry, document_id)
    return sorted(card.grants.values(), key=lambda grant: (grant["org"], grant["login"]))


@router.post("/documents/{document_id}/grants/{login}/revoke", response_model=GrantView, tags=["grants"])
def revoke_access(
    document_id: uuid.UUID,
    login: str,
    principal: CurrentPrincipal,
    registry: Registry,
    body: Revocation | None = None,
) -> Any:
    """Withdraw a person's grant (`AccessRevoked`): they read the document again only if the rule lets them
    otherwise. 404 when the person has no grant."""
    _granting(principal, registry, document_id)
    return registry.revoke_access(
        document_id, login, by=principal.sub, reason=body.reason if body is not None else None
    )
