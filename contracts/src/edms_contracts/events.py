"""Document events (v1 payloads). Within v1 changes are additive only; a breaking change is a new version."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class Urgency(StrEnum):
    """Urgency marks of the federal rules (срочно, оперативно, весьма срочно)."""

    NONE = "none"
    URGENT = "urgent"  # срочно
    OPERATIVE = "operative"  # оперативно
    VERY_URGENT = "very_urgent"  # весьма срочно


class Event(BaseModel):
    """Base of every payload; the class name is the envelope's event_type."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__


class DocumentRegistered(Event):
    """A registration card received its number (регистрация документа)."""

    document_id: uuid.UUID
    kind: str = Field(description="Document kind, e.g. incoming_letter")
    journal: str = Field(description="Registration journal code")
    reg_number: str
    reg_date: date
    title: str
    text: str | None = None
    correspondent: str | None = None
    correspondent_number: str | None = None
    correspondent_date: date | None = None
    urgency: Urgency = Urgency.NONE
    case_index: str | None = Field(default=None, description="File plan case index the journal files into")
    org: str = Field(description="Organization that registered the document")
    unit: str | None = None
    access: str | None = Field(default=None, description="Access restriction mark, e.g. ДСП")
    registered_by: str


class AttachmentAdded(Event):
    """A file was attached; the bytes stay in the blob store (claim check by SHA-256)."""

    document_id: uuid.UUID
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str
    media_type: str
    size: int = Field(ge=0)
    added_by: str


class RouteStarted(Event):
    """A route of the document's process started (маршрут)."""

    route_id: uuid.UUID
    document_id: uuid.UUID
    process: str
    stages: list[str]
    current_stage: str


class ControlCardOpened(Event):
    """A document was put on control with a deadline (постановка на контроль)."""

    card_id: uuid.UUID
    document_id: uuid.UUID
    reg_number: str
    deadline: date
    rule: str = Field(description="Deadline rule that produced the deadline")


class CaseOpened(Event):
    """A case (дело) of the file plan was opened for a year."""

    case_id: uuid.UUID
    index: str
    title: str
    year: int
    retention: str


class DocumentFiled(Event):
    """A document was filed into a case of the file plan (номенклатура дел)."""

    filing_id: uuid.UUID
    document_id: uuid.UUID
    case_id: uuid.UUID
    case_index: str
    case_title: str
    year: int
    retention: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type(): cls
    for cls in (DocumentRegistered, AttachmentAdded, RouteStarted, ControlCardOpened, CaseOpened, DocumentFiled)
}
