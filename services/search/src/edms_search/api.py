"""Search HTTP API: the operators' query language, filters, facets, highlights and cursors, filtered by what the
caller may read inside the query (edms_search.backend)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from edms_runtime.auth import CurrentPrincipal
from edms_search.backend import Bucket, Hit, SearchBackend
from edms_search.query import (
    FACETS,
    MAX_SIZE,
    STATUSES,
    WORD,
    Filters,
    QueryError,
    SearchRequest,
    parse,
)

router = APIRouter(tags=["search"])


class SearchResult(BaseModel):
    #: Exact up to 10 000; beyond, 10 000 with total_relation "gte", unless exact_total=true.
    total: int
    total_relation: Literal["eq", "gte"] = "eq"
    hits: list[Hit]
    #: Give it back as `cursor` for the next page (search_after); null on the last page.
    next_cursor: str | None = None
    facets: dict[str, list[Bucket]] = {}


def backend(request: Request) -> SearchBackend:
    value: SearchBackend = request.app.state.search_backend
    return value


Backend = Annotated[SearchBackend, Depends(backend)]

PARAMETERS = frozenset(
    {
        "q",
        "kind",
        "reg_number",
        "reg_date_from",
        "reg_date_to",
        "deadline_from",
        "deadline_to",
        "correspondent",
        "author",
        "executor",
        "unit",
        "status",
        "access",
        "case_index",
        "sort",
        "order",
        "size",
        "cursor",
        "facets",
        "exact_total",
    }
)


def _list(parameter: str, value: str | None, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A comma-separated parameter (any of the values matches)."""
    if value is None:
        return ()
    items = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not items:
        raise QueryError(parameter, "no value given")
    if allowed is not None:
        unknown = [v for v in items if v not in allowed]
        if unknown:
            raise QueryError(parameter, f"unknown {', '.join(unknown)}; one of {', '.join(allowed)}")
    return items


def _refuse_unknown(request: Request) -> None:
    unknown = sorted(set(request.query_params) - PARAMETERS)
    if unknown:
        raise QueryError(unknown[0], f"unknown parameter; the search takes {', '.join(sorted(PARAMETERS))}")


def _reg_number(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or value == "*" or "*" in value[:-1]:
        raise QueryError("reg_number", "a registration number, or its beginning followed by '*'")
    return value


Text = Annotated[str | None, Query(max_length=200)]


@router.get("/search", response_model=SearchResult)
def search(
    request: Request,
    principal: CurrentPrincipal,
    engine: Backend,
    q: Annotated[
        str | None,
        Query(max_length=1000, description='Words in any form, "phrases", prefix*, -exclusion, OR, (groups)'),
    ] = None,
    kind: Annotated[str | None, Query(max_length=500, description="Document kinds, comma-separated")] = None,
    reg_number: Annotated[str | None, Query(max_length=100, description="Exact, or a prefix ending in *")] = None,
    reg_date_from: date | None = None,
    reg_date_to: date | None = None,
    deadline_from: date | None = None,
    deadline_to: date | None = None,
    correspondent: Text = None,
    author: Annotated[str | None, Query(max_length=500, description="Logins or names, comma-separated")] = None,
    executor: Annotated[str | None, Query(max_length=500, description="Logins or names, comma-separated")] = None,
    unit: Annotated[str | None, Query(max_length=500, description="Unit codes, comma-separated")] = None,
    status: Annotated[str | None, Query(max_length=100, description="on_control, overdue, done")] = None,
    access: Annotated[str | None, Query(max_length=50, description="Restriction mark, or `none`")] = None,
    case_index: Annotated[str | None, Query(max_length=100)] = None,
    sort: Literal["relevance", "date", "number"] | None = None,
    order: Literal["asc", "desc"] = "desc",
    size: Annotated[int, Query(ge=1, le=MAX_SIZE)] = 20,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
    facets: Annotated[str | None, Query(max_length=100, description="kind,unit,status,year")] = None,
    exact_total: bool = False,
) -> SearchResult:
    _refuse_unknown(request)
    text = q.strip() if q is not None else None
    node = parse(text) if text else None
    correspondent_words: tuple[str, ...] = ()
    if correspondent is not None:
        correspondent_words = tuple(w.lower() for w in WORD.findall(correspondent))
        if not correspondent_words:
            raise QueryError("correspondent", "no word to look for in the correspondent's name")
    if reg_date_from and reg_date_to and reg_date_from > reg_date_to:
        raise QueryError("reg_date_to", "is before reg_date_from")
    if deadline_from and deadline_to and deadline_from > deadline_to:
        raise QueryError("deadline_to", "is before deadline_from")
    if sort == "relevance" and order == "asc":
        raise QueryError("order", "relevance is only from the best match down")
    filters = Filters(
        kind=_list("kind", kind),
        reg_number=_reg_number(reg_number),
        reg_date_from=reg_date_from,
        reg_date_to=reg_date_to,
        deadline_from=deadline_from,
        deadline_to=deadline_to,
        correspondent=correspondent_words,
        author=_list("author", author),
        executor=_list("executor", executor),
        unit=_list("unit", unit),
        status=_list("status", status, STATUSES),
        access=access.strip() if access and access.strip() else None,
        case_index=case_index.strip() if case_index and case_index.strip() else None,
    )
    wanted = SearchRequest(
        q=text or None,
        node=node,
        filters=filters,
        sort=sort or ("relevance" if node is not None else "date"),
        order=order,
        size=size,
        cursor=cursor if cursor else None,
        facets=_list("facets", facets, FACETS),
        exact_total=exact_total,
    )
    page = engine.search(principal, wanted)
    return SearchResult(
        total=page.total,
        total_relation="gte" if page.total_relation == "gte" else "eq",
        hits=page.hits,
        next_cursor=page.next_cursor,
        facets=page.facets,
    )
