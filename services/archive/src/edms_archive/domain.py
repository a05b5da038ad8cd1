"""File plan, cases and filings: pure domain, no I/O.

Rules (DOMAIN.md, "Archive"; Rules of organising the storage of archival documents, Order of Rosarchiv No. 77 of
31.07.2023; List of standard archival documents with retention periods, Order of Rosarchiv No. 236 of 20.12.2019):
a case (дело) of the file plan (номенклатура дел) is opened per year; each case carries its index, title, retention
period and the article of the standard list; a document is filed into the case of its journal for its year.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("5a1c7e0d-2f44-4c8b-b1e6-9d0a3c2b4f51")


@dataclass(frozen=True)
class FilePlanItem:
    index: str
    title: str
    retention: str
    article: str


#: The organization's file plan: case index -> item. Retention per the standard list (Order No. 236).
FILE_PLAN: dict[str, FilePlanItem] = {
    "01-03": FilePlanItem("01-03", "Приказы по основной деятельности", "permanent", "19а"),
    "01-10": FilePlanItem("01-10", "Входящая переписка по основной деятельности", "5 years ЭПК", "27"),
    "01-12": FilePlanItem("01-12", "Исходящая переписка по основной деятельности", "5 years ЭПК", "27"),
    "01-14": FilePlanItem("01-14", "Внутренние документы (служебные записки)", "5 years", "34"),
    "01-20": FilePlanItem("01-20", "Обращения граждан", "5 years ЭПК", "154"),
}

#: Where a document goes when its card names no case index (older producers): by kind.
KIND_DEFAULTS: dict[str, str] = {
    "order": "01-03",
    "incoming_letter": "01-10",
    "outgoing_letter": "01-12",
    "internal": "01-14",
    "citizen_appeal": "01-20",
}


class NoCaseForDocument(ValueError):
    pass


def plan_item_for(case_index: str | None, kind: str) -> FilePlanItem:
    index = case_index if case_index in FILE_PLAN else KIND_DEFAULTS.get(kind)
    if index is None:
        raise NoCaseForDocument(f"the file plan has no case for index {case_index!r} or kind {kind!r}")
    return FILE_PLAN[index]


class Case(Aggregate):
    """A case (дело) of one file plan item for one organization and year."""

    @staticmethod
    def create_id(org: str, index: str, year: int, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"case/{org}/{index}/{year}")

    @event("Opened")
    def __init__(self, org: str, index: str, year: int, title: str, retention: str, article: str) -> None:
        self.org = org
        self.index = index
        self.year = year
        self.title = title
        self.retention = retention
        self.article = article


class Filing(Aggregate):
    """One document's place in a case; one per document, so filing is idempotent by construction."""

    @staticmethod
    def create_id(document_id: uuid.UUID, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"filing/{document_id}")

    @event("Filed")
    def __init__(
        self,
        document_id: uuid.UUID,
        org: str,
        case_id: uuid.UUID,
        case_index: str,
        case_title: str,
        year: int,
        retention: str,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        self.document_id = document_id
        self.org = org
        self.case_id = case_id
        self.case_index = case_index
        self.case_title = case_title
        self.year = year
        self.retention = retention
