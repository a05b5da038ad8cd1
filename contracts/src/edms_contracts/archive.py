"""Archive events (v1 payloads) beyond opening a case and filing a document: what other services and the archive's
own read model learn about cases — closed, moved, refiled into, transferred to the organization's archive, destroyed
under an approved act. Each registers itself in `EVENT_TYPES` (edms_contracts imports this module).
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from edms_contracts.events import Event
from edms_contracts.topics import ARCHIVE_FILING


class CaseClosed(Event):
    """A case was closed (by hand, or at the end of its year); its retention counts from 1 January after."""

    topic = ARCHIVE_FILING

    case_id: uuid.UUID
    closed_on: date
    by: str
    reason: str


class CaseLocated(Event):
    """The paper case is now in this room, on this shelf, in this box (every move is kept)."""

    topic = ARCHIVE_FILING

    case_id: uuid.UUID
    room: str
    shelf: str
    box: str
    by: str
    at: date
    note: str | None = None


class CaseTransferred(Event):
    """The case went to the organization's (long-term) archive in a sealed transfer package."""

    topic = ARCHIVE_FILING

    case_id: uuid.UUID
    transfer_id: uuid.UUID
    seal: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the package's manifest")
    on: date
    by: str


class CaseImported(Event):
    """The case was taken in from a transfer package (closed and transferred as it was)."""

    topic = ARCHIVE_FILING

    case_id: uuid.UUID
    transfer_id: uuid.UUID
    seal: str = Field(pattern=r"^[0-9a-f]{64}$")
    closed_on: date
    by: str


class CaseDestroyed(Event):
    """The case's contents were destroyed under an approved disposal act; the act and the inventory stay."""

    topic = ARCHIVE_FILING

    case_id: uuid.UUID
    act_id: uuid.UUID
    destroyed_on: date
    by: str


class DocumentRefiled(Event):
    """An archivist moved a filed document into another case, saying why."""

    topic = ARCHIVE_FILING

    filing_id: uuid.UUID
    document_id: uuid.UUID
    case_id: uuid.UUID
    case_index: str
    case_title: str
    year: int
    retention: str
    from_case_id: uuid.UUID
    by: str
    reason: str


class DocumentFileArchived(Event):
    """The archive keeps a file of a filed document by its SHA-256 (the bytes stay in the blob store)."""

    topic = ARCHIVE_FILING

    filing_id: uuid.UUID
    document_id: uuid.UUID
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str
    media_type: str
    size: int = Field(ge=0)


class DocumentSheetsCounted(Event):
    """The sheets of a filed document's paper original (0: it has none), for the case's inventory."""

    topic = ARCHIVE_FILING

    filing_id: uuid.UUID
    document_id: uuid.UUID
    sheets: int = Field(ge=0)
    by: str


class DocumentDestroyed(Event):
    """A filed document's contents (files, paper) were destroyed under an approved act; its inventory line stays."""

    topic = ARCHIVE_FILING

    filing_id: uuid.UUID
    document_id: uuid.UUID
    act_id: uuid.UUID
    destroyed_on: date


class DisposalActCase(BaseModel):
    """A case as a disposal act lists it (what it was, without its contents)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    case_id: uuid.UUID
    index: str
    title: str
    year: int
    volume: int = 1
    retention: str
    article: str
    retention_end: date | None = None
    documents: int = Field(ge=0)


class DisposalActDrafted(Event):
    """An archivist drafted an act selecting expired cases for destruction (акт о выделении к уничтожению); the
    expert commission approves it as a routing stage (routing starts the act's route, its document id = `act_id`)."""

    topic = ARCHIVE_FILING

    act_id: uuid.UUID
    org: str
    drafted_by: str
    drafted_on: date
    title: str
    cases: list[DisposalActCase]
    expert_commission: list[str] = Field(
        default_factory=list, description="Logins the archivist named; empty: everyone with the expert_commission role"
    )
    note: str | None = None
