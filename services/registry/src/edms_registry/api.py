"""Registry HTTP API: register documents, read cards, attach files. Thin: validation in, application calls out."""

from __future__ import annotations

import asyncio
import mimetypes
import uuid
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Request, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edms_contracts import Urgency
from edms_registry.application import BlobStore, DocumentNotFound, Registration, RegistryApplication
from edms_registry.config import RegistrySettings
from edms_registry.domain import CorrespondentRequired, Document, DocumentKind
from edms_runtime.auth import CurrentPrincipal, Principal, require_role
from edms_runtime.http import DomainError, application_dependency

router = APIRouter(tags=["documents"])

#: Roles allowed to register (records office clerks) — Instruction on records management: registration is done
#: by the records service.
REGISTRAR_ROLES = ("clerk", "registrar", "admin")


class InvalidField(DomainError):
    status = status.HTTP_422_UNPROCESSABLE_CONTENT
    title = "Invalid request"


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: DocumentKind = Field(description="Document kind; incoming_letter for an incoming document")
    title: str = Field(min_length=1, max_length=2000, description="Title / summary (заголовок)")
    text: str | None = Field(default=None, max_length=200_000)
    correspondent: str | None = Field(default=None, min_length=1, max_length=500)
    correspondent_number: str | None = Field(default=None, min_length=1, max_length=100)
    correspondent_date: date | None = None
    urgency: Urgency = Urgency.NONE
    access: str | None = Field(default=None, max_length=50, description="Access restriction mark, e.g. ДСП")

    @field_validator("correspondent_date")
    @classmethod
    def not_in_future(cls, value: date | None) -> date | None:
        if value is not None and value > date.today():
            raise ValueError("the correspondent's date cannot be in the future")
        return value


class AttachmentView(BaseModel):
    sha256: str
    filename: str
    media_type: str
    size: int


class DocumentView(BaseModel):
    id: uuid.UUID
    kind: str
    journal: str
    reg_number: str
    reg_date: date
    title: str
    text: str | None
    correspondent: str | None
    correspondent_number: str | None
    correspondent_date: date | None
    urgency: str
    case_index: str
    org: str
    unit: str | None
    access: str | None
    registered_by: str
    attachments: list[AttachmentView]

    @classmethod
    def of(cls, document: Document) -> DocumentView:
        return cls(
            id=document.id,
            kind=document.kind,
            journal=document.journal,
            reg_number=document.reg_number,
            reg_date=document.reg_date,
            title=document.title,
            text=document.text,
            correspondent=document.correspondent,
            correspondent_number=document.correspondent_number,
            correspondent_date=document.correspondent_date,
            urgency=document.urgency,
            case_index=document.case_index,
            org=document.org,
            unit=document.unit,
            access=document.access,
            registered_by=document.registered_by,
            attachments=[AttachmentView.model_validate(a) for a in document.attachments],
        )


async def settings(request: Request) -> RegistrySettings:
    value: RegistrySettings = request.app.state.registry_settings
    return value


async def blob_store(request: Request) -> BlobStore:
    value: BlobStore = request.app.state.blobs
    return value


Registry = Annotated[RegistryApplication, Depends(application_dependency(RegistryApplication))]
Blobs = Annotated[BlobStore, Depends(blob_store)]
Settings = Annotated[RegistrySettings, Depends(settings)]
CorrelationId = Annotated[uuid.UUID | None, Header(alias="X-Correlation-ID")]


def _visible(document: Document, principal: Principal) -> Document:
    if not principal.may_read(document.org, document.access):
        raise DocumentNotFound(f"document {document.id} is not registered")  # do not reveal what one may not read
    return document


@router.post("/documents", status_code=status.HTTP_201_CREATED, response_model=DocumentView)
def register_document(
    body: RegisterRequest,
    principal: CurrentPrincipal,
    registry: Registry,
    config: Settings,
    correlation_id: CorrelationId = None,
) -> DocumentView:
    """Register a document: it gets the next number of its kind's journal and today's registration date."""
    require_role(principal, *REGISTRAR_ROLES)
    reg_date = datetime.now(ZoneInfo(config.timezone)).date()
    try:
        document = registry.register(
            Registration(
                kind=body.kind,
                title=body.title,
                reg_date=reg_date,
                org=principal.org,
                unit=principal.unit,
                registered_by=principal.sub,
                text=body.text,
                correspondent=body.correspondent,
                correspondent_number=body.correspondent_number,
                correspondent_date=body.correspondent_date,
                urgency=body.urgency,
                access=body.access,
                correlation_id=correlation_id or uuid.uuid4(),
            )
        )
    except CorrespondentRequired as exc:
        raise InvalidField(str(exc), field=exc.field) from None
    return DocumentView.of(document)


@router.get("/documents/{document_id}", response_model=DocumentView)
def get_document(document_id: uuid.UUID, principal: CurrentPrincipal, registry: Registry) -> DocumentView:
    return DocumentView.of(_visible(registry.document(document_id), principal))


@router.post("/documents/{document_id}/attachments", status_code=status.HTTP_201_CREATED, response_model=AttachmentView)
async def add_attachment(
    document_id: uuid.UUID,
    file: UploadFile,
    principal: CurrentPrincipal,
    registry: Registry,
    blobs: Blobs,
    config: Settings,
    correlation_id: CorrelationId = None,
) -> AttachmentView:
    """Attach a file (multipart field `file`). The bytes go to the blob store; the event carries the hash."""
    require_role(principal, *REGISTRAR_ROLES)
    document = await asyncio.to_thread(registry.document, document_id)
    _visible(document, principal)
    content = await file.read(config.max_attachment_bytes + 1)
    if len(content) > config.max_attachment_bytes:
        raise InvalidField(f"the file is larger than {config.max_attachment_bytes} bytes", field="file")
    if not content:
        raise InvalidField("the file is empty", field="file")
    sha256 = await asyncio.to_thread(blobs.put, content)
    attachment = AttachmentView(
        sha256=sha256,
        filename=file.filename or "attachment",
        media_type=_media_type(file),
        size=len(content),
    )
    await asyncio.to_thread(
        registry.add_attachment,
        document_id,
        added_by=principal.sub,
        correlation_id=correlation_id,
        **attachment.model_dump(),
    )
    return attachment


def _media_type(file: UploadFile) -> str:
    """The client's content type, or one guessed from the file name when the client sent none in particular."""
    declared = file.content_type or "application/octet-stream"
    if declared == "application/octet-stream" and file.filename:
        return mimetypes.guess_type(file.filename)[0] or declared
    return declared
