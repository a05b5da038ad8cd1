"""Search HTTP API: full-text and attribute search, filtered by what the caller may read."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from edms_runtime.auth import CurrentPrincipal
from edms_search.backend import SearchBackend

router = APIRouter(tags=["search"])


class HitView(BaseModel):
    id: str
    reg_number: str
    reg_date: date | None
    title: str
    kind: str | None
    deadline: date | None
    case_index: str | None
    route_stage: str | None
    rank: float


class SearchResult(BaseModel):
    total: int
    hits: list[HitView]


def backend(request: Request) -> SearchBackend:
    value: SearchBackend = request.app.state.search_backend
    return value


Backend = Annotated[SearchBackend, Depends(backend)]


@router.get("/search", response_model=SearchResult)
def search(
    principal: CurrentPrincipal,
    engine: Backend,
    q: Annotated[str | None, Query(max_length=500, description="Words in any form (Russian stemming)")] = None,
    kind: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> SearchResult:
    page = engine.search(principal, q.strip() if q else None, kind, limit, offset)
    return SearchResult(total=page.total, hits=[HitView(**hit.__dict__) for hit in page.hits])
