"""Search backends behind one interface. PostgreSQL FTS (`russian`) is the default; Elasticsearch when configured.

The request is parsed once (edms_search.query) and prepared once against PostgreSQL (`prepare`): stop words are
taken out of the tree the way PostgreSQL's tsquery ignores them, and people named in filters are resolved to
logins through the directory. Both backends then compile the same tree and filters, apply the same ACL inside the
query (`Principal.read_condition`: own organization or named on the document; ДСП only for those admitted;
nothing before its registration arrived), so they find the same documents; scores differ (ts_rank vs BM25).
"""

from __future__ import annotations

import html
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Protocol

from elasticsearch import NotFoundError
from psycopg_pool import ConnectionPool

from edms_runtime.auth import Principal
from edms_runtime.availability import DatabaseWatch
from edms_runtime.errors import Unavailable
from edms_search.elastic import ENGINE_ERRORS, DocumentIndex
from edms_search.projections import REG_YEAR
from edms_search.query import (
    NO_MARK,
    TOTAL_LIMIT,
    And,
    Filters,
    Node,
    Not,
    Phrase,
    Prefix,
    QueryError,
    SearchRequest,
    Word,
    decode_cursor,
    without,
    words_of,
)


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
    status: str | None = None
    unit: str | None = None
    access: str | None = None
    rank: float = 0.0
    #: Fragments of the title and texts with the matched words in <mark>…</mark> (the rest HTML-escaped).
    highlights: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Bucket:
    value: str | int
    count: int


@dataclass(frozen=True)
class Page:
    total: int
    hits: list[Hit]
    #: "eq": total is exact; "gte": there are at least `total` (TOTAL_LIMIT) and more were not counted.
    total_relation: str = "eq"
    facets: dict[str, list[Bucket]] = field(default_factory=dict)
    next_cursor: str | None = None


class SearchBackend(Protocol):
    def search(self, principal: Principal, request: SearchRequest) -> Page: ...


class SearchUnavailable(Unavailable):
    title = "Search engine unavailable"


#: Facet buckets returned per facet (most frequent first, then by value).
FACET_SIZE = 50
#: Marks around matched words and between fragments, replaced by <mark> after the text is HTML-escaped.
_START, _STOP, _CUT = "\ue000", "\ue001", "\ue002"


def _highlights(*texts: str | None) -> list[str]:
    fragments = [f for t in texts if t for f in t.split(_CUT) if _START in f]
    return [
        html.escape(f.strip()).replace(_START, "<mark>").replace(_STOP, "</mark>") for f in fragments[:3] if f.strip()
    ]


def _buckets(counts: dict[str | int, int]) -> list[Bucket]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [Bucket(value=value, count=count) for value, count in ordered[:FACET_SIZE] if count > 0]


# -- preparation (both backends) ---------------------------------------------------------------------------------------
def _tsquery_sql(node: Node, params: dict[str, object]) -> str:
    """`node` as a PostgreSQL tsquery expression (each word stemmed by the `russian` configuration)."""
    if isinstance(node, Word):
        key = f"w{len(params)}"
        params[key] = node.text
        return f"plainto_tsquery('russian', %({key})s)"
    if isinstance(node, Phrase):
        key = f"w{len(params)}"
        params[key] = node.text
        return f"phraseto_tsquery('russian', %({key})s)"
    if isinstance(node, Prefix):
        # matched against the stemmed words as they are, unstemmed itself: the same as the engine's prefix query
        key = f"w{len(params)}"
        params[key] = f"'{node.text}':*"
        return f"to_tsquery('simple', %({key})s)"
    if isinstance(node, Not):
        return f"(!! {_tsquery_sql(node.node, params)})"
    joiner = " && " if isinstance(node, And) else " || "
    return "(" + joiner.join(_tsquery_sql(child, params) for child in node.nodes) + ")"


@dataclass(frozen=True)
class Prepared:
    request: SearchRequest
    tsquery: str | None = None  # the text query as a tsquery literal (None without q)


def prepare(pool: ConnectionPool[Any], request: SearchRequest) -> Prepared:
    """Stop words out of the tree, names in filters resolved to logins: what both backends then compile."""
    if request.node is None and not (request.filters.author or request.filters.executor):
        return Prepared(request)
    with pool.connection() as conn:
        tsquery: str | None = None
        if request.node is not None:
            params: dict[str, object] = {}
            expression = _tsquery_sql(request.node, params)
            words = sorted(set(words_of(request.node)))
            params["words"] = words
            row = conn.execute(
                f"SELECT ({expression})::text AS tsq, (SELECT coalesce(array_agg(w), '{{}}') FROM unnest("  # noqa: S608
                "%(words)s::text[]) AS w WHERE numnode(phraseto_tsquery('russian', w)) = 0) AS stops",
                params,
            ).fetchone()
            assert row is not None
            node = without(request.node, {str(w).lower() for w in row["stops"]})
            tsquery = str(row["tsq"]) if node is not None else None
            request = replace(request, node=node)
        filters = request.filters
        if filters.author or filters.executor:
            filters = replace(filters, author=_logins(conn, filters.author), executor=_logins(conn, filters.executor))
            request = replace(request, filters=filters)
    return Prepared(request, tsquery)


def _logins(conn: Any, names: tuple[str, ...]) -> tuple[str, ...]:
    """Each value as given, lowercased, and the logins of people whose full name or surname it is."""
    if not names:
        return ()
    lowered = [n.strip().lower() for n in names]
    rows = conn.execute(
        "SELECT login FROM people WHERE lower(full_name) = ANY(%s) OR lower(split_part(full_name, ' ', 1)) = ANY(%s)",
        (lowered, lowered),
    ).fetchall()
    return tuple(sorted({*names, *lowered, *(str(r["login"]) for r in rows)}))


# -- PostgreSQL --------------------------------------------------------------------------------------------------------
#: A word of a tsquery as PostgreSQL writes it: quoted, a quote inside doubled.
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def org_words_query(tsquery: str, org: str) -> str | None:
    """`tsquery` with each word prefixed by `org` the way `org_words` (edms_search.projections) prefixes a
    document's, so that it matches that organization's documents alone, through their own index.

    None for a query with a phrase or a negation: a phrase needs the words' positions, which the prefixed words do
    not keep, and a query that a document can satisfy without any of its words (`!word`) would match another
    organization's documents too. Every word the prefixed query matches carries the organization, so it needs no
    `org =` beside it (which the planner would turn into a scan of the organization's every entry)."""
    operators = _QUOTED.sub("", tsquery)
    if "<" in operators or "!" in operators:
        return None
    prefix = f"{len(org)}:{org}|".replace("\\", "\\\\").replace("'", "''")
    return _QUOTED.sub(lambda word: f"'{prefix}{word.group(1)}'", tsquery)


def _status(table: str = "") -> str:
    """A row's control status as SQL (done, overdue, on control), of `table`'s columns when named."""
    t = f"{table}." if table else ""
    return (
        f"CASE WHEN {t}done THEN 'done' WHEN {t}on_control AND {t}due < %(today)s THEN 'overdue' "
        f"WHEN {t}on_control THEN 'on_control' END"
    )


_STATUS = _status()
_COLUMNS = "document_id, reg_number, reg_date, title, kind, due, case_index, route_stage, unit, access"
_COLUMNS_OF_D = ", ".join(f"d.{column}" for column in _COLUMNS.split(", "))
_HEADLINE = f"StartSel={_START}, StopSel={_STOP}, FragmentDelimiter={_CUT}"


class PostgresSearch:
    """PostgreSQL full-text search (`russian`) over the read model, with the ACL in the WHERE clause.

    Relevance (`ts_rank`) is computed for every match when there are at most `rank_window` of them; beyond, for the
    newest `rank_window` matches only, which come first by relevance, the rest after them newest first. Ranking
    reads each candidate's tsvector, which is what makes a common word slow at a million documents; the window
    keeps it bounded, and one statement counts, finds the window and ranks in a single pass over the matches.
    Each search runs with its own `work_mem`, so that a common word's or a prefix's bitmap stays exact
    (documented in docs/ARCHITECTURE.md, measured in bench/search.py).
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        database: DatabaseWatch | None = None,
        rank_window: int = 1000,
        work_mem: str = "64MB",
    ) -> None:
        self.pool = pool
        self.database = database
        self.rank_window = rank_window
        self.work_mem = work_mem

    def where(self, principal: Principal, prepared: Prepared) -> tuple[str, dict[str, Any]]:
        request = prepared.request
        # and a ДСП document for those the shared rule derived from events lets read it (edms_runtime.access)
        acl, params = principal.read_condition(document_column="document_id", participants="readers")
        where = ["reg_number IS NOT NULL", acl]
        params["today"] = request.today
        if prepared.tsquery is not None:
            params["tsq"] = prepared.tsquery
            params["q"] = (request.q or "").strip()
            # the words once per arm of the read rule (the same rows: the rule is applied above as well), so that
            # each arm is one index scan rather than the words' bitmap over everyone: the caller's organization's
            # words in their own index (org_words), the documents naming the caller in the (org, readers, tsv) one
            mine = "org = %(reader_org)s AND tsv @@ %(tsq)s::tsquery"
            folded = org_words_query(prepared.tsquery, principal.org)
            if folded is not None:
                params["otsq"] = folded
                mine = "org_words(org, tsv) @@ %(otsq)s::tsquery"  # the organization's own words index
            where.append(
                f"(({mine}) "
                "OR (readers && ARRAY[%(reader_sub)s]::text[] AND tsv @@ %(tsq)s::tsquery) "
                "OR reg_number = %(q)s OR correspondent_number = %(q)s)"
            )
        elif request.q is not None:
            params["q"] = request.q.strip()
            where.append("(reg_number = %(q)s OR correspondent_number = %(q)s)")
        self._filters(request.filters, where, params)
        return " AND ".join(where), params

    @staticmethod
    def _filters(f: Filters, where: list[str], params: dict[str, Any]) -> None:
        def add(condition: str, **values: Any) -> None:
            where.append(condition)
            params.update(values)

        if f.kind:
            add("kind = ANY(%(f_kind)s)", f_kind=list(f.kind))
        if f.reg_number_prefix is not None:
            escaped = f.reg_number_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            add("reg_number LIKE %(f_number)s", f_number=escaped + "%")
        elif f.reg_number:
            add("reg_number = %(f_number)s", f_number=f.reg_number)
        if f.reg_date_from:
            add("reg_date >= %(f_reg_from)s", f_reg_from=f.reg_date_from)
        if f.reg_date_to:
            add("reg_date <= %(f_reg_to)s", f_reg_to=f.reg_date_to)
        if f.reg_date_from and f.reg_date_to and f.reg_date_from.year == f.reg_date_to.year:
            # implied by the dates, and a column of the words' index: the words, kind and year meet inside it
            add(f"{REG_YEAR} = %(f_reg_year)s::int", f_reg_year=f.reg_date_from.year)
        if f.deadline_from:
            add("due >= %(f_due_from)s", f_due_from=f.deadline_from)
        if f.deadline_to:
            add("due <= %(f_due_to)s", f_due_to=f.deadline_to)
        if f.correspondent:
            words = " & ".join(f"'{w}':B" for w in f.correspondent)
            add("tsv @@ to_tsquery('russian', %(f_corr)s)", f_corr=words)
        if f.author:
            add("authors && %(f_author)s::text[]", f_author=list(f.author))
        if f.executor:
            add("executors && %(f_executor)s::text[]", f_executor=list(f.executor))
        if f.unit:
            add("units && %(f_unit)s::text[]", f_unit=list(f.unit))
        if f.status:
            add(f"({_STATUS}) = ANY(%(f_status)s)", f_status=list(f.status))
        if f.access == NO_MARK:
            add("access IS NULL")
        elif f.access:
            add("access = %(f_access)s", f_access=f.access)
        if f.case_index:
            add("case_index = %(f_case)s", f_case=f.case_index)

    def search(self, principal: Principal, request: SearchRequest) -> Page:
        if self.database is not None:
            self.database.check()  # 503 at once while PostgreSQL is down, not after a pool's timeout
        prepared = prepare(self.pool, request)
        request = prepared.request
        if request.matches_nothing:
            return Page(total=0, hits=[], facets={name: [] for name in request.facets})
        condition, params = self.where(principal, prepared)
        with self.pool.connection() as conn:
            # the matches' bitmap and the sorts of one search stay in memory (exact, not lossy: no page rechecked)
            conn.execute("SELECT set_config('work_mem', %s, true)", (self.work_mem,))
            if request.sort == "relevance" and prepared.tsquery is not None:
                # one pass over the matches counts them, finds the rank window's edge and ranks the page
                rows, next_values, ranked_count = self._ranked(conn, request, condition, params)
                counted = ranked_count if ranked_count is not None else self._count(conn, request, condition, params)
            else:
                counted = self._count(conn, request, condition, params)
                rows, next_values = self._page(conn, request, condition, params)
            total, relation = (
                (TOTAL_LIMIT, "gte") if counted > TOTAL_LIMIT and not request.exact_total else (counted, "eq")
            )
            highlights = self._highlights(conn, prepared, [r["document_id"] for r in rows])
            facets = self._facets(conn, request, condition, params) if request.facets else {}
        hits = [
            Hit(
                id=str(r["document_id"]),
                reg_number=r["reg_number"],
                reg_date=r["reg_date"],
                title=r["title"] or "",
                kind=r["kind"],
                deadline=r["due"],
                case_index=r["case_index"],
                route_stage=r["route_stage"],
                status=r["status"],
                unit=r["unit"],
                access=r["access"],
                rank=float(r["rank"]),
                highlights=highlights.get(r["document_id"], []),
            )
            for r in rows
        ]
        cursor = request.encode_cursor(next_values) if next_values is not None else None
        return Page(total=total, total_relation=relation, hits=hits, facets=facets, next_cursor=cursor)

    @staticmethod
    def _count(conn: Any, request: SearchRequest, condition: str, params: dict[str, Any]) -> int:
        """The matches, counted up to TOTAL_LIMIT + 1 unless the caller asked for the exact total."""
        if request.exact_total:
            row = conn.execute(f"SELECT count(*) AS n FROM documents WHERE {condition}", params).fetchone()  # noqa: S608
        else:
            row = conn.execute(
                f"SELECT count(*) AS n FROM (SELECT 1 FROM documents WHERE {condition} "  # noqa: S608
                f"LIMIT {TOTAL_LIMIT + 1}) s",
                params,
            ).fetchone()
        return int(row["n"]) if row else 0

    def _page(
        self, conn: Any, request: SearchRequest, condition: str, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[Any] | None]:
        params = {**params, "limit": request.size + 1}
        direction = "ASC" if request.order == "asc" else "DESC"
        compare = ">" if request.order == "asc" else "<"
        select = f"SELECT {_COLUMNS}, number_key, {_STATUS} AS status"
        key = "reg_date" if request.sort != "number" else "number_key"
        after = ""
        if request.cursor is not None:
            values = decode_cursor(request, request.cursor, 2)
            params["c_key"] = _cursor_value(values[0], "date" if key == "reg_date" else "str")
            params["c_id"] = _cursor_value(values[1], "uuid")
            after = f"AND ({key}, document_id) {compare} (%(c_key)s, %(c_id)s::uuid)"
        rows = conn.execute(
            f"{select}, 0.0::float8 AS rank FROM documents WHERE {condition} {after} "
            f"ORDER BY {key} {direction}, document_id {direction} LIMIT %(limit)s",
            params,
        ).fetchall()
        rows = [dict(r) for r in rows]
        if len(rows) <= request.size:
            return rows, None
        rows = rows[: request.size]
        last = rows[-1]
        value = last["reg_date"].isoformat() if key == "reg_date" else last["number_key"]
        return rows, [value, str(last["document_id"])]

    def _ranked(
        self, conn: Any, request: SearchRequest, condition: str, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[Any] | None, int | None]:
        """The page by relevance, and the number of matches (None when the page is empty: counted apart then).

        Every match is read once: a window over them counts them and finds the rank window's edge (the
        `rank_window`-th newest match), and only the matches on its newer side are ranked."""
        params = {**params, "limit": request.size + 1, "rank_window": self.rank_window}
        after = ""
        if request.cursor is not None:
            values = decode_cursor(request, request.cursor, 6)
            params.update(
                c_w=_cursor_value(values[0], "int"),
                c_r=_cursor_value(values[1], "float"),
                c_d=_cursor_value(values[2], "date"),
                c_id=_cursor_value(values[3], "uuid"),
                b_d=_cursor_value(values[4], "date", optional=True),
                b_id=_cursor_value(values[5], "uuid", optional=True),
            )
            after = "WHERE (w, rank, reg_date, document_id) < (%(c_w)s, %(c_r)s, %(c_d)s, %(c_id)s::uuid)"
            edge = "%(b_d)s::date AS e_d, %(b_id)s::uuid AS e_id, true AS edged"
        else:
            edge = (
                "nth_value(reg_date, %(rank_window)s) OVER o AS e_d, nth_value(document_id, %(rank_window)s) OVER o "
                "AS e_id, count(*) OVER () > %(rank_window)s AS edged"
            )
        # the window: every match when there are at most rank_window (or the edge has no date), else the newer side
        window = "CASE WHEN NOT edged OR e_d IS NULL OR (reg_date, document_id) >= (e_d, e_id) THEN 1 ELSE 0 END"
        rank = (
            "(CASE WHEN w = 1 THEN (SELECT ts_rank(r.tsv, %(tsq)s::tsquery) FROM documents r WHERE r.ctid = m.c) "
            "ELSE 0 END + "
            "CASE WHEN reg_number = %(q)s OR correspondent_number = %(q)s THEN 10 ELSE 0 END)::float8"
        )
        # Each match carries only what the window and the order need (its date, id, numbers and ctid); the page's
        # rows get their other columns by ctid at the end, so the sort over every match stays narrow.
        page = (
            f"SELECT * FROM (SELECT c, reg_date, document_id, w, {rank} AS rank, n, e_d, e_id "  # noqa: S608
            f"FROM (SELECT *, {window} AS w FROM (SELECT ctid AS c, reg_date, document_id, reg_number, "
            f"correspondent_number, count(*) OVER () AS n, {edge} FROM documents WHERE {condition} "
            "WINDOW o AS (ORDER BY reg_date DESC, document_id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND "
            "UNBOUNDED FOLLOWING)) a) m) s "
            f"{after} ORDER BY w DESC, rank DESC, reg_date DESC, document_id DESC LIMIT %(limit)s"
        )
        rows = conn.execute(
            f"SELECT {_COLUMNS_OF_D}, d.number_key, {_status('d')} AS status, p.w, p.rank, p.n, p.e_d, p.e_id "  # noqa: S608
            f"FROM ({page}) p JOIN documents d ON d.ctid = p.c "
            "ORDER BY p.w DESC, p.rank DESC, p.reg_date DESC, p.document_id DESC",
            params,
        ).fetchall()
        rows = [dict(r) for r in rows]
        if not rows:
            return [], None, None
        counted = int(rows[0]["n"])
        if len(rows) <= request.size:
            return rows, None, counted
        rows = rows[: request.size]
        last = rows[-1]
        if request.cursor is not None:
            boundary = [params["b_d"], params["b_id"]]
        elif counted > self.rank_window:
            boundary = [last["e_d"], str(last["e_id"])]
        else:
            boundary = [None, None]
        edge_date = boundary[0].isoformat() if isinstance(boundary[0], date) else boundary[0]
        return (
            rows,
            [last["w"], last["rank"], last["reg_date"].isoformat(), str(last["document_id"]), edge_date, boundary[1]],
            counted,
        )

    def _highlights(self, conn: Any, prepared: Prepared, ids: list[Any]) -> dict[Any, list[str]]:
        if prepared.tsquery is None or not ids:
            return {}
        rows = conn.execute(
            "SELECT document_id, ts_headline('russian', coalesce(title, ''), %(tsq)s::tsquery, %(whole)s) AS t, "
            "ts_headline('russian', left(concat_ws(E'\\n', body, notes, names, files), 20000), %(tsq)s::tsquery, "
            "%(parts)s) AS b FROM documents WHERE document_id = ANY(%(ids)s)",
            {
                "tsq": prepared.tsquery,
                "ids": ids,
                "whole": f"{_HEADLINE}, HighlightAll=true",
                "parts": f"{_HEADLINE}, MaxFragments=2, MinWords=5, MaxWords=20",
            },
        ).fetchall()
        return {r["document_id"]: _highlights(r["t"], r["b"]) for r in rows}

    def _facets(
        self, conn: Any, request: SearchRequest, condition: str, params: dict[str, Any]
    ) -> dict[str, list[Bucket]]:
        expressions = {
            "kind": "SELECT 'kind' AS f, kind AS v FROM m",
            "unit": "SELECT 'unit', unnest(units) FROM m",
            "status": "SELECT 'status', status FROM m",
            "year": "SELECT 'year', extract(year FROM reg_date)::int::text FROM m",
        }
        parts = " UNION ALL ".join(expressions[name] for name in request.facets)
        rows = conn.execute(
            f"WITH m AS MATERIALIZED (SELECT kind, units, reg_date, {_STATUS} AS status FROM documents "  # noqa: S608
            f"WHERE {condition}) SELECT f, v, count(*) AS n FROM ({parts}) x WHERE v IS NOT NULL GROUP BY f, v",
            params,
        ).fetchall()
        counts: dict[str, dict[str | int, int]] = {name: {} for name in request.facets}
        for r in rows:
            value: str | int = int(r["v"]) if r["f"] == "year" else str(r["v"])
            counts[r["f"]][value] = int(r["n"])
        return {name: _buckets(found) for name, found in counts.items()}


def _cursor_value(value: Any, kind: str, *, optional: bool = False) -> Any:
    """One value of a cursor, of the type its place needs; a forged one is QueryError (422), never a 500."""
    if value is None and optional:
        return None
    try:
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "uuid":
            return str(uuid.UUID(value))
        if isinstance(value, bool):
            raise TypeError
        if kind == "float" and isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
        if kind == "int" and isinstance(value, int):
            return value
        if kind == "str" and isinstance(value, str):
            return value
        raise TypeError
    except (TypeError, ValueError, AttributeError):
        raise QueryError("cursor", "not a cursor this service gave (malformed)") from None


# -- Elasticsearch -----------------------------------------------------------------------------------------------------
#: Text fields and their weights, as the PostgreSQL tsvector weighs them (title A, correspondent B, texts C, files D).
TEXT_FIELDS = ("title^3", "correspondent^2", "body", "notes", "names", "files^0.5")
#: Keyword fields a query matches exactly (a registration or correspondent number is one token, not words).
EXACT_FIELDS = ("reg_number", "correspondent_number")
_HIT_FIELDS = [
    "document_id",
    "reg_number",
    "reg_date",
    "title",
    "kind",
    "due",
    "case_index",
    "route_stage",
    "unit",
    "access",
    "on_control",
    "done",
]


def _fields() -> list[tuple[str, float]]:
    out = []
    for spec in TEXT_FIELDS:
        name, _, boost = spec.partition("^")
        out.append((name, float(boost) if boost else 1.0))
    return out


def _any_field(make: Callable[[str, float], dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"should": [make(name, boost) for name, boost in _fields()], "minimum_should_match": 1}}


def compile_es(node: Node) -> dict[str, Any]:
    """The tree as Elasticsearch query DSL, clause for clause what `_tsquery_sql` makes for PostgreSQL."""
    if isinstance(node, Word):
        return _any_field(lambda f, b: {"match": {f: {"query": node.text, "operator": "and", "boost": b}}})
    if isinstance(node, Phrase):
        return _any_field(lambda f, b: {"match_phrase": {f: {"query": node.text, "boost": b}}})
    if isinstance(node, Prefix):
        return _any_field(lambda f, b: {"prefix": {f: {"value": node.text, "boost": b}}})
    if isinstance(node, Not):
        return {"bool": {"must_not": [compile_es(node.node)]}}
    if isinstance(node, And):
        return {"bool": {"must": [compile_es(child) for child in node.nodes]}}
    return {"bool": {"should": [compile_es(child) for child in node.nodes], "minimum_should_match": 1}}


def _status_clause(status: str, today: date) -> dict[str, Any]:
    if status == "done":
        return {"term": {"done": True}}
    open_card = [{"term": {"on_control": True}}, {"term": {"done": False}}]
    if status == "overdue":
        return {"bool": {"filter": [*open_card, {"range": {"due": {"lt": today.isoformat()}}}]}}
    return {
        "bool": {
            "filter": open_card,
            "must_not": [{"range": {"due": {"lt": today.isoformat()}}}],
        }
    }


class ElasticsearchSearch:
    """Search in the Elasticsearch index the indexer (edms_search.indexer) keeps in step with the read model."""

    def __init__(self, index: DocumentIndex, pool: ConnectionPool[Any]) -> None:
        self.index = index
        self.pool = pool

    def readable_restricted(self, principal: Principal) -> list[str]:
        """The marked (ДСП) documents of the caller's organization the shared rule lets them read although they are
        not admitted by role (the clerk who registered it, those it concerns, units it went to, the heads above,
        grants): `access_may_read` over the access facts this service keeps — the engine cannot call it, so the ids
        go into the engine's query."""
        if principal.reads_restricted:
            return []
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT document_id::text AS id FROM access_documents WHERE org = %(org)s AND access IS NOT NULL "
                "AND access_may_read(document_id, %(sub)s, %(org)s, %(unit)s, false, current_date) "
                "UNION SELECT document_id::text FROM access_grants WHERE org = %(org)s AND login = %(sub)s "
                "AND (until IS NULL OR current_date <= until)",
                {"org": principal.org, "sub": principal.sub, "unit": principal.unit},
            ).fetchall()
        return [str(row["id"]) for row in rows]

    @staticmethod
    def query(principal: Principal, prepared: Prepared, restricted: Sequence[str] = ()) -> dict[str, Any]:
        request = prepared.request
        # ACL inside the query, as Principal.read_condition: own organization or named on the document; restricted
        # cards only for those admitted to them or let in by the shared rule (`restricted`, the ids it allows);
        # nothing before its registration arrived.
        filters: list[dict[str, Any]] = [
            {"exists": {"field": "reg_number"}},
            {
                "bool": {
                    "should": [{"term": {"org": principal.org}}, {"term": {"readers": principal.sub}}],
                    "minimum_should_match": 1,
                }
            },
        ]
        must_not: list[dict[str, Any]] = []
        if not principal.reads_restricted and restricted:
            unmarked = {"bool": {"must_not": {"exists": {"field": "access"}}}}
            filters.append(
                {
                    "bool": {
                        "should": [unmarked, {"terms": {"document_id": list(restricted)}}],
                        "minimum_should_match": 1,
                    }
                }
            )
        elif not principal.reads_restricted:
            must_not.append({"exists": {"field": "access"}})
        filters += ElasticsearchSearch._filters(request)
        must: list[dict[str, Any]] = []
        q = (request.q or "").strip()
        exact = [{"term": {name: {"value": q, "boost": 10.0}}} for name in EXACT_FIELDS]
        if request.node is not None:
            must.append({"bool": {"should": [compile_es(request.node), *exact], "minimum_should_match": 1}})
        elif request.q is not None:
            must.append({"bool": {"should": exact, "minimum_should_match": 1}})
        return {"bool": {"filter": filters, "must_not": must_not, "must": must}}

    @staticmethod
    def _filters(request: SearchRequest) -> list[dict[str, Any]]:
        f = request.filters
        out: list[dict[str, Any]] = []
        if f.kind:
            out.append({"terms": {"kind": list(f.kind)}})
        if f.reg_number_prefix is not None:
            out.append({"prefix": {"reg_number": f.reg_number_prefix}})
        elif f.reg_number:
            out.append({"term": {"reg_number": f.reg_number}})
        for name, low, high in (
            ("reg_date", f.reg_date_from, f.reg_date_to),
            ("due", f.deadline_from, f.deadline_to),
        ):
            bounds = {k: v.isoformat() for k, v in (("gte", low), ("lte", high)) if v is not None}
            if bounds:
                out.append({"range": {name: bounds}})
        if f.correspondent:
            text = " ".join(f.correspondent)
            out.append({"match": {"correspondent": {"query": text, "operator": "and"}}})
        for name, values in (("authors", f.author), ("executors", f.executor), ("units", f.unit)):
            if values:
                out.append({"terms": {name: list(values)}})
        if f.status:
            clauses = [_status_clause(s, request.today) for s in f.status]
            out.append({"bool": {"should": clauses, "minimum_should_match": 1}})
        if f.access == NO_MARK:
            out.append({"bool": {"must_not": [{"exists": {"field": "access"}}]}})
        elif f.access:
            out.append({"term": {"access": f.access}})
        if f.case_index:
            out.append({"term": {"case_index": f.case_index}})
        return out

    @staticmethod
    def _sort(request: SearchRequest, ranked: bool) -> list[dict[str, Any]]:
        if ranked:
            return [{"_score": {"order": "desc"}}, {"reg_date": {"order": "desc"}}, {"document_id": {"order": "desc"}}]
        key = "number_key" if request.sort == "number" else "reg_date"
        return [{key: {"order": request.order}}, {"document_id": {"order": request.order}}]

    def search(self, principal: Principal, request: SearchRequest) -> Page:
        prepared = prepare(self.pool, request)
        request = prepared.request
        if request.matches_nothing:
            return Page(total=0, hits=[], facets={name: [] for name in request.facets})
        ranked = request.sort == "relevance" and request.node is not None
        arguments: dict[str, Any] = {}
        if request.cursor is not None:
            values = decode_cursor(request, request.cursor, 3 if ranked else 2)
            kinds = ["float", "int", "str"] if ranked else ["int" if request.sort != "number" else "str", "str"]
            arguments["search_after"] = [_cursor_value(v, k) for v, k in zip(values, kinds, strict=True)]
        if request.node is not None:
            arguments["highlight"] = {
                "fields": {name: {} for name, _ in _fields()},
                "pre_tags": [_START],
                "post_tags": [_STOP],
                "fragment_size": 150,
                "number_of_fragments": 2,
            }
        if request.facets:
            arguments["aggs"] = self._aggs(request)
        try:
            response = self.index.client.search(
                index=self.index.alias,
                query=self.query(principal, prepared, self.readable_restricted(principal)),
                sort=self._sort(request, ranked),
                source_includes=_HIT_FIELDS,
                size=request.size + 2,
                track_total_hits=True if request.exact_total else TOTAL_LIMIT,
                **arguments,
            )
        except NotFoundError:
            return Page(total=0, hits=[], facets={name: [] for name in request.facets})  # nothing indexed yet
        except ENGINE_ERRORS as exc:
            raise SearchUnavailable(f"the search engine did not answer: {exc}") from None
        body = response.body
        found = body["hits"]["hits"]
        if "search_after" in arguments:
            # osmem-server compares a float32 _score with the cursor's decimal as float64 and may give the cursor's
            # own document again; the id, last in every sort, is unique, so it is dropped here (see ARCHITECTURE)
            last_id = arguments["search_after"][-1]
            found = [h for h in found if h["_source"].get("document_id") != last_id]
        more = len(found) > request.size
        found = found[: request.size]
        hits = [self._hit(h, request.today) for h in found]
        cursor = request.encode_cursor(list(found[-1]["sort"])) if more and found else None
        total = body["hits"]["total"]
        relation = "gte" if total.get("relation") == "gte" else "eq"
        return Page(
            total=int(total["value"]),
            total_relation=relation,
            hits=hits,
            facets=self._facets(request, body.get("aggregations") or {}),
            next_cursor=cursor,
        )

    @staticmethod
    def _hit(h: dict[str, Any], today: date) -> Hit:
        s = h["_source"]
        due = _date(s.get("due"))
        status = None
        if s.get("done"):
            status = "done"
        elif s.get("on_control"):
            status = "overdue" if due is not None and due < today else "on_control"
        fragments = [f for name, _ in _fields() for f in (h.get("highlight") or {}).get(name, [])]
        return Hit(
            id=str(s["document_id"]),
            reg_number=s["reg_number"],
            reg_date=_date(s.get("reg_date")),
            title=s.get("title") or "",
            kind=s.get("kind"),
            deadline=due,
            case_index=s.get("case_index"),
            route_stage=s.get("route_stage"),
            status=status,
            unit=s.get("unit"),
            access=s.get("access"),
            rank=float(h.get("_score") or 0.0),
            highlights=_highlights(_CUT.join(fragments)),
        )

    @staticmethod
    def _aggs(request: SearchRequest) -> dict[str, Any]:
        aggs: dict[str, Any] = {}
        for name in request.facets:
            if name == "status":
                filters = {s: _status_clause(s, request.today) for s in ("on_control", "overdue", "done")}
                aggs[name] = {"filters": {"filters": filters}}
            else:
                target = {"kind": "kind", "unit": "units", "year": "reg_year"}[name]
                aggs[name] = {"terms": {"field": target, "size": 1000}}
        return aggs

    @staticmethod
    def _facets(request: SearchRequest, aggregations: dict[str, Any]) -> dict[str, list[Bucket]]:
        out: dict[str, list[Bucket]] = {}
        for name in request.facets:
            found = aggregations.get(name) or {}
            counts: dict[str | int, int] = {}
            if name == "status":
                for value, bucket in (found.get("buckets") or {}).items():
                    counts[value] = int(bucket["doc_count"])
            else:
                for bucket in found.get("buckets") or []:
                    value = int(bucket["key"]) if name == "year" else str(bucket["key"])
                    counts[value] = int(bucket["doc_count"])
            out[name] = _buckets(counts)
        return out


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None
