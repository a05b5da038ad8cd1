"""Registration cards and journals: pure domain, no I/O.

Numbering rule (DOMAIN.md, "Registration card"; Instruction on records management): a journal gives numbers by a
configurable pattern such as `<unit code>-<case index>/<sequence>`, the sequence restarts each year, and numbers are
never reused or skipped. The journal is an aggregate saved atomically with the document it numbers, so a number
exists only together with its document.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from eventsourcing.domain import Aggregate, event

from edms_contracts import Urgency

NAMESPACE = uuid.UUID("0b7f4d3e-3c55-4a47-9a43-2f6d2f0f8a11")


class DocumentKind(StrEnum):
    """Document kinds of the 15 processes that are registered in a journal."""

    INCOMING_LETTER = "incoming_letter"  # входящее письмо (process 6)
    OUTGOING_LETTER = "outgoing_letter"  # исходящее письмо (process 4)
    INTERNAL = "internal"  # внутренний документ (process 5)
    ORDER = "order"  # приказ / распоряжение (process 3)
    CITIZEN_APPEAL = "citizen_appeal"  # обращение гражданина (process 15, 59-ФЗ)


@dataclass(frozen=True)
class JournalSpec:
    """A registration journal (журнал регистрации): its code, number pattern and the case it files into."""

    code: str
    title: str
    pattern: str
    case_index: str

    def format(self, seq: int, year: int) -> str:
        return self.pattern.format(seq=seq, year=year, case=self.case_index, code=self.code)


JOURNALS: dict[DocumentKind, JournalSpec] = {
    DocumentKind.INCOMING_LETTER: JournalSpec("ВХ", "Журнал входящих документов", "{case}/{seq}", "01-10"),
    DocumentKind.OUTGOING_LETTER: JournalSpec("ИСХ", "Журнал исходящих документов", "{case}/{seq}-исх", "01-12"),
    DocumentKind.INTERNAL: JournalSpec("ВН", "Журнал внутренних документов", "{case}/{seq}-вн", "01-14"),
    DocumentKind.ORDER: JournalSpec("ПР", "Журнал приказов", "{case}/{seq}-п", "01-03"),
    DocumentKind.CITIZEN_APPEAL: JournalSpec("ОГ", "Журнал обращений граждан", "{case}/ОГ-{seq}", "01-20"),
}


class CorrespondentRequired(ValueError):
    """An incoming document names its correspondent and the correspondent's outgoing number and date."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is required for an incoming document")
        self.field = field


class Journal(Aggregate):
    """One journal's numbering for one organization and year; `last_seq` only grows, by one."""

    @staticmethod
    def create_id(org: str, code: str, year: int) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"journal/{org}/{code}/{year}")

    @event("Opened")
    def __init__(self, org: str, code: str, year: int) -> None:
        self.org = org
        self.code = code
        self.year = year
        self.last_seq = 0

    @event("NumberIssued")
    def issue_number(self, document_id: uuid.UUID, seq: int) -> None:
        if seq != self.last_seq + 1:  # never skipped, never reused
            raise ValueError(f"journal {self.code}/{self.year}: expected number {self.last_seq + 1}, got {seq}")
        self.last_seq = seq


class Document(Aggregate):
    """A registration card (регистрационная карточка)."""

    @event("Registered")
    def __init__(
        self,
        kind: str,
        journal: str,
        reg_number: str,
        reg_date: date,
        title: str,
        org: str,
        unit: str | None,
        registered_by: str,
        case_index: str,
        text: str | None = None,
        correspondent: str | None = None,
        correspondent_number: str | None = None,
        correspondent_date: date | None = None,
        urgency: str = Urgency.NONE.value,
        access: str | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        self.kind = kind
        self.journal = journal
        self.reg_number = reg_number
        self.reg_date = reg_date
        self.title = title
        self.org = org
        self.unit = unit
        self.registered_by = registered_by
        self.case_index = case_index
        self.text = text
        self.correspondent = correspondent
        self.correspondent_number = correspondent_number
        self.correspondent_date = correspondent_date
        self.urgency = urgency
        self.access = access
        self.attachments: list[dict[str, object]] = []

    @event("AttachmentAdded")
    def add_attachment(
        self,
        sha256: str,
        filename: str,
        media_type: str,
        size: int,
        added_by: str,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        self.attachments.append({"sha256": sha256, "filename": filename, "media_type": media_type, "size": size})


def register(
    journal: Journal,
    spec: JournalSpec,
    *,
    kind: DocumentKind,
    reg_date: date,
    title: str,
    org: str,
    unit: str | None,
    registered_by: str,
    text: str | None = None,
    correspondent: str | None = None,
    correspondent_number: str | None = None,
    correspondent_date: date | None = None,
    urgency: Urgency = Urgency.NONE,
    access: str | None = None,
    correlation_id: uuid.UUID | None = None,
) -> Document:
    """Number and create a card. The caller saves the journal and the document in one atomic save."""
    if kind is DocumentKind.INCOMING_LETTER:
        for name, value in (
            ("correspondent", correspondent),
            ("correspondent_number", correspondent_number),
            ("correspondent_date", correspondent_date),
        ):
            if value is None or value == "":
                raise CorrespondentRequired(name)
    seq = journal.last_seq + 1
    document = Document(
        kind=kind.value,
        journal=spec.code,
        reg_number=spec.format(seq, reg_date.year),
        reg_date=reg_date,
        title=title,
        org=org,
        unit=unit,
        registered_by=registered_by,
        case_index=spec.case_index,
        text=text,
        correspondent=correspondent,
        correspondent_number=correspondent_number,
        correspondent_date=correspondent_date,
        urgency=urgency.value,
        access=access,
        correlation_id=correlation_id,
    )
    journal.issue_number(document.id, seq)
    return document
