"""Search backends behind one interface. PostgreSQL FTS (`russian`) is the default; Elasticsearch when configured.

Both apply the same ACL inside the query (own organization; restricted cards only for those admitted to them;
nothing before its registration arrived) and rank the same way: relevance, then newest registration first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from elasticsearch import NotFoundError
from fastapi import status
from psycopg_pool import ConnectionPool

from edms_runtime.auth import Principal
from edms_runtime.http import DomainError
from edms_search.elastic import ENGINE_ERRORS, DocumentIndex


@dataclass(frozen=True)
class Hit:
    id: str
    reg_number: str
    reg_date: date | None
    title: str
    kind: str | None
    deadline: date | None
    case_index: str | None
    route_stage: str | None
    rank: float


@dataclass(frozen=True)
class Page:
    total: int
    hits: list[Hit]


class SearchBackend(Protocol):
    def search(self, principal: Principal, q: str | None, kind: str | None, limit: int, offset: int) -> Page: ...


class PostgresSearch:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def search(self, principal: Principal, q: str | None, kind: str | None, limit: int, offset: int) -> Page:
        # ACL inside the query: own organization only; restricted cards only for those admitted to them.
        where = ["reg_number IS NOT NULL", "org = %(org)s"]
        params: dict[str, Any] = {"org": principal.org, "limit": limit, "offset": offset, "q": q or ""}
        if not principal.reads_restricted:
            where.append("access IS NULL")
        if kind:
            where.append("kind = %(kind)s")
            params["kind"] = kind
        rank = "0.0"
        if q:
            where.append("(tsv @@ websearch_to_tsquery('russian', %(q)s) OR reg_number = %(q)s)")
            rank = "ts_rank_cd(tsv, websearch_to_tsquery('russian', %(q)s))"
        condition = " AND ".join(where)
        with self.pool.connection() as conn:
            total_row = conn.execute(f"SELECT count(*) AS n FROM documents WHERE {condition}", params).fetchone()  # noqa: S608
            rows = conn.execute(
                f"SELECT document_id, reg_number, reg_date, title, kind, deadline, case_index, route_stage, "  # noqa: S608
                f"{rank} AS rank FROM documents WHERE {condition} "
                f"ORDER BY rank DESC, reg_date DESC, reg_number DESC LIMIT %(limit)s OFFSET %(offset)s",
                params,
            ).fetchall()
        return Page(
            total=int(total_row["n"]) if total_row else 0,
            hits=[
                Hit(
                    id=str(r["document_id"]),
                    reg_number=r["reg_number"],
                    reg_date=r["reg_date"],
                    title=r["title"],
                    kind=r["kind"],
                    deadline=r["deadline"],
                    case_index=r["case_index"],
                    route_stage=r["route_stage"],
                    rank=float(r["rank"]),
                )
                for r in rows
            ],
        )


class SearchUnavailable(DomainError):
    status = status.HTTP_503_SERVICE_UNAVAILABLE
    title = "Search engine unavailable"


#: Text fields and their weights, as the PostgreSQL tsvector weighs them (title A, correspondent B, body C).
TEXT_FIELDS = ("title^3", "correspondent^2", "body")
#: Keyword fields a query matches exactly (a registration or correspondent number is one token, not words).
EXACT_FIELDS = ("reg_number", "correspondent_number")
_HIT_FIELDS = ["document_id", "reg_number", "reg_date", "title", "kind", "deadline", "case_index", "route_stage"]


class ElasticsearchSearch:
    """Search in the Elasticsearch index the indexer (edms_search.indexer) keeps in step with the read model.

    `q` is read with `simple_query_string` and AND between words, the counterpart of PostgreSQL's
    `websearch_to_tsquery`: words in any form (the `russian` analyzer), "quoted phrases", `-word` to exclude,
    `a | b` for either. A query equal to a registration or correspondent number also matches it exactly.
    """

    def __init__(self, index: DocumentIndex) -> None:
        self.index = index

    @staticmethod
    def query(principal: Principal, q: str | None, kind: str | None) -> dict[str, Any]:
        # ACL inside the query: own organization only; restricted cards only for those admitted to them.
        filters: list[dict[str, Any]] = [{"term": {"org": principal.org}}, {"exists": {"field": "reg_number"}}]
        must_not: list[dict[str, Any]] = []
        if not principal.reads_restricted:
            must_not.append({"exists": {"field": "access"}})
        if kind:
            filters.append({"term": {"kind": kind}})
        must: list[dict[str, Any]] = []
        if q:
            words = {"simple_query_string": {"query": q, "fields": list(TEXT_FIELDS), "default_operator": "and"}}
            exact = [{"term": {name: {"value": q, "boost": 10.0}}} for name in EXACT_FIELDS]
            must.append({"bool": {"should": [words, *exact], "minimum_should_match": 1}})
        return {"bool": {"filter": filters, "must_not": must_not, "must": must}}

    def search(self, principal: Principal, q: str | None, kind: str | None, limit: int, offset: int) -> Page:
        try:
            response = self.index.client.search(
                index=self.index.alias,
                query=self.query(principal, q, kind),
                sort=[
                    {"_score": {"order": "desc"}},
                    {"reg_date": {"order": "desc"}},
                    {"reg_number": {"order": "desc"}},
                ],
                source_includes=_HIT_FIELDS,
                from_=offset,
                size=limit,
                track_total_hits=True,
            )
        except NotFoundError:
            return Page(total=0, hits=[])  # the indexer has not created the index yet: nothing is indexed
        except ENGINE_ERRORS as exc:
            raise SearchUnavailable(f"the search engine did not answer: {exc}") from None
        found = response.body["hits"]
        return Page(
            total=int(found["total"]["value"]),
            hits=[
                Hit(
                    id=str(h["_source"]["document_id"]),
                    reg_number=h["_source"]["reg_number"],
                    reg_date=_date(h["_source"].get("reg_date")),
                    title=h["_source"].get("title") or "",
                    kind=h["_source"].get("kind"),
                    deadline=_date(h["_source"].get("deadline")),
                    case_index=h["_source"].get("case_index"),
                    route_stage=h["_source"].get("route_stage"),
                    rank=float(h.get("_score") or 0.0),
                )
                for h in found["hits"]
            ],
        )


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
