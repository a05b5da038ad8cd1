"""What the search tests feed the read model with, shared by test_projection.py and test_elasticsearch.py.

Records are built by runtime.tests.records, as aiokafka's consumer returns them, holding the envelopes the services
publish; the read model is the real one (edms_search.projections) fed by the real TrackingConsumer. Imported by its
package path (services.search.tests.records): the tests run with --import-mode=importlib.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from edms_runtime.access import HANDLERS as ACCESS_HANDLERS
from edms_runtime.auth import Principal
from edms_runtime.consumer import TrackingConsumer
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.service import PLUMBING_DDL
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import OsmemProcess, free_port
from edms_search.backend import Page, SearchBackend
from edms_search.projections import READ_MODEL
from edms_search.query import Filters, SearchRequest, parse
from runtime.tests.records import (
    ORG,
    Record,
    attachment,
    card_opened,
    consumer_record,
    delivered_again,
    envelope_for,
    principal,
    published,
    registered,
    route_started,
)

__all__ = [
    "ORG",
    "Record",
    "ask",
    "attachment",
    "card_opened",
    "consumer_record",
    "delivered_again",
    "envelope_for",
    "principal",
    "published",
    "registered",
    "route_started",
    "running_osmem",
    "search_read_model",
]


def ask(
    backend: SearchBackend,
    who: Principal,
    q: str | None = None,
    kind: str | None = None,
    *,
    size: int = 20,
    sort: str | None = None,
    cursor: str | None = None,
    facets: tuple[str, ...] = (),
    exact_total: bool = False,
    order: str = "desc",
    today: date | None = None,
    **filters: Any,
) -> Page:
    """One search as GET /search makes it (edms_search.api): q parsed, kind and other filters, the default sort."""
    node = parse(q) if q else None
    request = SearchRequest(
        q=q,
        node=node,
        filters=Filters(kind=(kind,) if kind else (), **filters),
        sort=sort or ("relevance" if node is not None else "date"),
        size=size,
        cursor=cursor,
        facets=facets,
        exact_total=exact_total,
        order=order,
        today=today or date.today(),
    )
    return backend.search(who, request)


# -- for fixtures ------------------------------------------------------------------------------------------------------
@contextmanager
def search_read_model(database_url: str, max_size: int) -> Iterator[tuple[ConnectionPool[Any], TrackingConsumer]]:
    """The search schema in `database_url`, a pool on it (closed after) and the tracking consumer that feeds it."""
    ensure_schema(database_url, "search", PLUMBING_DDL + READ_MODEL.ddl)
    pool = make_pool(database_url, "search", max_size=max_size)
    consumer = TrackingConsumer(
        service="search",
        pool=pool,
        settings=PlatformSettings(database_url=database_url),
        read_model=READ_MODEL,
        access=ACCESS_HANDLERS,  # the facts of the shared read rule, as build_parts gives every service
    )
    try:
        yield pool, consumer
    finally:
        pool.close()


def running_osmem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OsmemProcess]:
    """A real osmem-server process on a free port (memory only), stopped when the fixture ends."""
    server = OsmemProcess(free_port(), tmp_path_factory.mktemp("osmem") / "osmem.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
