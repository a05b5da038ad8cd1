"""Composition root of search. Search has no write side of its own yet: it is a read model of everyone's events.

The read model in PostgreSQL is always kept; with EDMS_ELASTICSEARCH_URL set, the indexer copies it into
Elasticsearch and the search API asks Elasticsearch, otherwise it asks PostgreSQL full-text search.
"""

from __future__ import annotations

from fastapi import FastAPI

from edms_runtime.http import ServiceParts, create_app
from edms_runtime.service import build_parts, serve
from edms_runtime.settings import PlatformSettings
from edms_search.api import router
from edms_search.backend import ElasticsearchSearch, PostgresSearch, SearchBackend
from edms_search.config import SearchSettings
from edms_search.elastic import DocumentIndex, make_client
from edms_search.indexer import Indexer
from edms_search.projections import READ_MODEL


def build_app(platform: PlatformSettings | None = None, settings: SearchSettings | None = None) -> FastAPI:
    platform = platform or PlatformSettings()
    settings = settings or SearchSettings()
    parts = build_parts(name="search", settings=platform, read_model=READ_MODEL)
    backend = build_backend(parts, settings)
    app = create_app(parts, [router], title="EDMS search", description="Full-text and attribute search.")
    app.state.search_backend = backend
    return app


def build_backend(parts: ServiceParts, settings: SearchSettings) -> SearchBackend:
    """PostgreSQL FTS, or Elasticsearch (with its indexer as a background part) when EDMS_ELASTICSEARCH_URL is set."""
    url = parts.settings.elasticsearch_url
    if not url:
        return PostgresSearch(parts.pool, parts.database)
    client = make_client(url, ca_certs=settings.elasticsearch_ca_certs, timeout=settings.elasticsearch_timeout_seconds)
    index = DocumentIndex(client, settings.elasticsearch_index)
    parts.background.append(
        Indexer(
            service=parts.name,
            pool=parts.pool,
            index=index,
            database_url=parts.settings.database_url,
            batch_size=settings.index_batch_size,
            idle_seconds=settings.index_idle_seconds,
            retry_seconds=settings.index_retry_seconds,
            max_retry_seconds=settings.index_max_retry_seconds,
            quarantine_seconds=settings.index_quarantine_seconds,
        )
    )
    return ElasticsearchSearch(index, parts.pool)


def run() -> None:
    settings = SearchSettings()
    platform = PlatformSettings()
    serve(build_app(platform, settings), settings.port, settings.host, platform.log_level)
