"""Search backends behind one interface. PostgreSQL FTS (`russian`) is the default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

from edms_runtime.auth import Principal

#: Who may read a restricted (ДСП) card: Regulation on handling official information of limited distribution
#: (Decree of the Government of the RF No. 1233 of 03.11.1994) — only those admitted to it.
RESTRICTED_READER_ROLES = ("dsp_reader", "admin")


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
        if not principal.has_role(*RESTRICTED_READER_ROLES):
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
