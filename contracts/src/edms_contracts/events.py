"""Document events (v1 payloads). Within v1 changes are additive only; a breaking change is a new version."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from edms_contracts.topics import ARCHIVE_FILING, CONTROL_CARD, REGISTRY_DOCUMENT, ROUTING_ROUTE, Topic
from edms_contracts.vocabulary import DeliveryChannel, LinkType, Urgency

#: Every contract event by its event_type: each Event subclass registers itself when its module is imported
#: (edms_contracts imports them all), so a new module of events needs no list to be kept in step.
EVENT_TYPES: dict[str, type[Event]] = {}


class Event(BaseModel):
    """Base of every payload; the class name is the envelope's event_type, `topic` is where it is published."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: ClassVar[int] = 1
    topic: ClassVar[Topic]

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    #: True on a base class that shares fields among events but is not sent itself (it is not registered).
    abstract_event: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__dict__.get("abstract_event", False):
            return
        if cls.event_type() in EVENT_TYPES:
            raise TypeError(f"two contract events are called {cls.event_type()}")
        EVENT_TYPES[cls.event_type()] = cls


class PersonRef(BaseModel):
    """A person named on a card: signer, executor, addressee inside the organization (login when known)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    position: str | None = None
    login: str | None = None
    phone: str | None = None


class Applicant(BaseModel):
    """The citizen who sent or brought an appeal (59-ФЗ art. 7: name and postal or e-mail address)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    address: str | None = None
    email: str | None = None
    phone: str | None = None


class LinkRef(BaseModel):
    """A link from this document to another one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    link_type: LinkType
    target_id: uuid.UUID


class Similar(BaseModel):
    """An earlier document whose text is nearly the same (estimated Jaccard similarity of word shingles)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document_id: uuid.UUID
    reg_number: str
    similarity: float


class DocumentRegistered(Event):
    """A registration card received its number (регистрация документа)."""

    topic = REGISTRY_DOCUMENT

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
    # Added in v1 (optional): the rest of the card (DOMAIN.md "Registration card").
    addressee: str | None = None
    signer: PersonRef | None = None
    executor: PersonRef | None = None
    sheets: int | None = Field(default=None, ge=1, description="Number of sheets of the document")
    appendices: int | None = Field(default=None, ge=0, description="Number of appendices")
    appendix_sheets: int | None = Field(default=None, ge=0, description="Number of sheets of the appendices")
    delivery_channel: DeliveryChannel | None = None
    received_date: date | None = None
    applicant: Applicant | None = None
    counterparty: str | None = None
    valid_until: date | None = None
    deadline: date | None = Field(default=None, description="Deadline set on the card, if any")
    plan_period: str | None = None
    links: list[LinkRef] = Field(default_factory=list)
    similar: list[Similar] = Field(default_factory=list, description="Earlier documents with nearly the same text")
    draft_version: int | None = Field(default=None, description="The draft version that was signed and registered")


class DocumentDrafted(Event):
    """A draft (проект) of a document that is numbered when it is signed: outgoing letters, acts, contracts."""

    topic = REGISTRY_DOCUMENT

    document_id: uuid.UUID
    kind: str
    title: str
    org: str
    unit: str | None = None
    access: str | None = None
    author: str = Field(description="Login of who created the draft")
    addressee: str | None = None
    signer: PersonRef | None = None
    executor: PersonRef | None = None


class DraftRevised(Event):
    """A new version of a draft."""

    topic = REGISTRY_DOCUMENT

    document_id: uuid.UUID
    version: int = Field(ge=2)
    revised_by: str
    title: str | None = Field(default=None, description="The new title, when this version changed it")
    changed: list[str] = Field(description="The card fields this version changed")


class DocumentLinked(Event):
    """A document was linked to another one (links are shown from both ends)."""

    topic = REGISTRY_DOCUMENT

    document_id: uuid.UUID
    link_type: LinkType
    target_id: uuid.UUID
    linked_by: str


class AccessGranted(Event):
    """A person was let read a document by someone allowed to grant it (registry, `POST /documents/{id}/grants`).

    Decree of the Government of the RF No. 1233 of 03.11.1994: a document marked ДСП is for those it is for and
    those the head lets read it; every service's shared read rule (edms_runtime.access) applies the grant. Granting
    the same person again replaces the earlier grant (its reason and last day).
    """

    topic = REGISTRY_DOCUMENT

    document_id: uuid.UUID
    org: str = Field(description="Organization of the document")
    grantee: str = Field(description="Login of the person granted")
    grantee_org: str = Field(description="Organization of the person granted (the directory's)")
    by: str = Field(description="Login of who granted it")
    reason: str
    until: date | None = Field(default=None, description="Last day the grant holds; none: until revoked")


class AccessRevoked(Event):
    """A grant was withdrawn: the person reads the document again only if the rule lets them otherwise."""

    topic = REGISTRY_DOCUMENT

    document_id: uuid.UUID
    org: str = Field(description="Organization of the document")
    grantee: str
    grantee_org: str
    by: str = Field(description="Login of who revoked it")
    reason: str | None = None


class DocumentSigned(Event):
    """The signing stage of a document's route is done: registry numbers a draft when it hears this (routing)."""

    topic = ROUTING_ROUTE

    document_id: uuid.UUID
    signed_by: str
    signer_name: str | None = None
    signer_position: str | None = None


class AttachmentAdded(Event):
    """A file was attached; the bytes stay in the blob store (claim check by SHA-256)."""

    topic = REGISTRY_DOCUMENT

    document_id: uuid.UUID
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str
    media_type: str
    size: int = Field(ge=0)
    added_by: str


class AttachmentTextExtracted(Event):
    """The text of an attachment, extracted by the registry for search; a large text comes in several chunks.

    Chunk `chunk` of `chunks` (0-based); the chunks of one file together are its whole text. An empty file text
    (a scan without a text layer) is one empty chunk, so that search knows the extraction is done.
    """

    topic = REGISTRY_DOCUMENT

    document_id: uuid.UUID
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str
    chunk: int = Field(ge=0)
    chunks: int = Field(ge=1)
    text: str = Field(description="At most 65536 characters")


class RouteStarted(Event):
    """A route of the document's process started (маршрут)."""

    topic = ROUTING_ROUTE

    route_id: uuid.UUID
    document_id: uuid.UUID
    process: str
    stages: list[str]
    current_stage: str
    org: str | None = Field(default=None, description="Organization of the document (added in v1, optional)")
    access: str | None = Field(default=None, description="The document's access restriction mark, e.g. ДСП")


class ControlCardOpened(Event):
    """A document was put on control with a deadline (постановка на контроль)."""

    topic = CONTROL_CARD

    card_id: uuid.UUID
    document_id: uuid.UUID
    reg_number: str
    deadline: date
    rule: str = Field(description="Deadline rule that produced the deadline")
    reg_date: date | None = Field(default=None, description="The document's registration date")
    org: str | None = Field(default=None, description="Organization of the document (added in v1, optional)")
    access: str | None = Field(default=None, description="The document's access restriction mark, e.g. ДСП")
    unit: str | None = Field(default=None, description="The document's unit (added in v1, optional)")


class CaseOpened(Event):
    """A case (дело) of the file plan was opened for a year."""

    topic = ARCHIVE_FILING

    case_id: uuid.UUID
    index: str
    title: str
    year: int
    retention: str
    org: str | None = Field(default=None, description="Organization whose case it is")
    article: str | None = Field(default=None, description="Article of the standard list of retention periods")
    unit: str | None = Field(default=None, description="Unit that keeps the case")
    volume: int = Field(default=1, ge=1, description="Volume (том) of the case in its year")


class DocumentFiled(Event):
    """A document was filed into a case of the file plan (номенклатура дел)."""

    topic = ARCHIVE_FILING

    filing_id: uuid.UUID
    document_id: uuid.UUID
    case_id: uuid.UUID
    case_index: str
    case_title: str
    year: int
    retention: str
    org: str | None = Field(default=None, description="Organization of the document (added in v1, optional)")
    access: str | None = Field(default=None, description="The document's access restriction mark, e.g. ДСП")
    reg_number: str | None = Field(default=None, description="The card's registration number, as filed")
    reg_date: date | None = Field(default=None, description="The card's registration date, as filed")
    title: str | None = Field(default=None, description="The card's title, as filed")
