"""Archive's write side: opens the year's case when first needed and files documents into it."""

from __future__ import annotations

import uuid

from eventsourcing.application import AggregateNotFoundError

from edms_archive.domain import Case, Filing, plan_item_for
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.http import NotFound


class FilingNotFound(NotFound):
    pass


class ArchiveApplication(ServiceApplication):
    def file_document(
        self,
        *,
        document_id: uuid.UUID,
        org: str,
        kind: str,
        case_index: str | None,
        year: int,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        item = plan_item_for(case_index, kind)
        case_id = Case.create_id(org, item.index, year)
        if not self.exists(case_id):
            self.save_once(Case(org, item.index, year, item.title, item.retention, item.article))
        filing = Filing(
            document_id=document_id,
            org=org,
            case_id=case_id,
            case_index=item.index,
            case_title=item.title,
            year=year,
            retention=item.retention,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        self.save_once(filing)

    def filing_of(self, document_id: uuid.UUID) -> tuple[Filing, Case]:
        try:
            filing: Filing = self.repository.get(Filing.create_id(document_id))
        except AggregateNotFoundError:
            raise FilingNotFound(f"document {document_id} is not filed (yet)") from None
        case: Case = self.repository.get(filing.case_id)
        return filing, case
