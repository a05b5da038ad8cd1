"""`db.prewarm`: a read model's busiest tables read into PostgreSQL's page cache, within a share of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from edms_runtime.db import prewarm
from edms_runtime.stack import EmbeddedPostgres, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A server of the test's own: restarting it is the one sure way to empty its page cache."""
    pg = EmbeddedPostgres(tmp_path / "pgdata", free_port())
    pg.start()
    try:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_buffercache")
            conn.execute("CREATE SCHEMA rm")
            conn.execute("CREATE TABLE rm.cards (id int PRIMARY KEY, body text)")
            conn.execute("CREATE INDEX cards_body ON rm.cards (body)")
            conn.execute("CREATE TABLE rm.other (id int PRIMARY KEY)")
            conn.execute("INSERT INTO rm.cards SELECT i, repeat(md5(i::text), 8) FROM generate_series(1, 20000) i")
            conn.execute("INSERT INTO rm.other SELECT generate_series(1, 20000)")
        pg.stop()
        pg.start()
        yield pg
    finally:
        pg.stop()


def _cached(url: str, relation: str) -> tuple[int, int]:
    """(blocks of `relation` in shared_buffers, blocks it has)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_buffercache b WHERE b.relfilenode = pg_relation_filenode(%(r)s::regclass) "
            "AND b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())), "
            "pg_relation_size(%(r)s::regclass) / current_setting('block_size')::int",
            {"r": relation},
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_prewarm_reads_the_named_tables_and_their_indexes_and_nothing_else(server: EmbeddedPostgres) -> None:
    assert _cached(server.url, "rm.cards")[0] == 0  # cold after the restart

    outcome = prewarm(server.url, "rm", ["cards"])

    assert outcome.startswith("prewarmed 3 relations"), outcome  # the table, its primary key and its index
    for relation in ("rm.cards", "rm.cards_pkey", "rm.cards_body"):
        cached, blocks = _cached(server.url, relation)
        assert blocks > 10
        assert cached == blocks, relation
    assert _cached(server.url, "rm.other")[0] == 0


def test_prewarm_reads_nothing_when_the_tables_would_take_more_than_their_share(server: EmbeddedPostgres) -> None:
    outcome = prewarm(server.url, "rm", ["cards"], share=1e-6)

    assert outcome.startswith("not prewarmed: 3 relations"), outcome
    assert "shared_buffers" in outcome
    assert _cached(server.url, "rm.cards")[0] == 0


def test_the_services_start_up_part_prewarms_once_and_is_healthy_either_way(server: EmbeddedPostgres) -> None:
    """The part a service with `ReadModel.warm` runs at start (edms_runtime.service.build_parts)."""
    import asyncio

    from edms_runtime.background import Prewarm

    part = Prewarm(database_url=server.url, schema="rm", tables=("cards",))
    asyncio.run(part.run())
    assert part.outcome is not None
    assert part.outcome.startswith("prewarmed 3 relations"), part.outcome
    assert part.healthy()
    cached, blocks = _cached(server.url, "rm.cards")
    assert cached == blocks

    missing = Prewarm(database_url=server.url.rsplit("/", 1)[0] + "/no_such_database", schema="rm", tables=("x",))
    asyncio.run(missing.run())  # a cold cache is slower, not broken: said, not raised
    assert missing.outcome is not None
    assert missing.outcome.startswith("not prewarmed"), missing.outcome
    assert missing.healthy()
