"""Archive HTTP API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from edms_archive.application import ArchiveApplication, FilingNotFound
from edms_archive.domain import FILE_PLAN
from edms_runtime.auth import CurrentPrincipal
from edms_runtime.http import application_dependency

router = APIRouter(tags=["archive"])


class CaseView(BaseModel):
    id: uuid.UUID
    index: str
    title: str
    year: int
    retention: str
    article: str


class FilingView(BaseModel):
    document_id: uuid.UUID
    case: CaseView


class PlanItemView(BaseModel):
    index: str
    title: str
    retention: str
    article: str


Archive = Annotated[ArchiveApplication, Depends(application_dependency(ArchiveApplication))]


@router.get("/documents/{document_id}", response_model=FilingView)
def get_filing(document_id: uuid.UUID, principal: CurrentPrincipal, archive: Archive) -> FilingView:
    """The case (дело) of the file plan the document was filed into."""
    filing, case = archive.filing_of(document_id)
    if filing.org != principal.org:
        raise FilingNotFound(f"document {document_id} is not filed (yet)")
    return FilingView(
        document_id=filing.document_id,
        case=CaseView(
            id=case.id,
            index=case.index,
            title=case.title,
            year=case.year,
            retention=case.retention,
            article=case.article,
        ),
    )


@router.get("/file-plan", response_model=list[PlanItemView])
def get_file_plan(principal: CurrentPrincipal) -> list[PlanItemView]:
    """The file plan (номенклатура дел)."""
    return [
        PlanItemView(index=i.index, title=i.title, retention=i.retention, article=i.article) for i in FILE_PLAN.values()
    ]
