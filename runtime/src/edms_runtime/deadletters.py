"""Dead letters: what a consumer or a relay could not handle, kept with its reason until it is re-driven.

Every service's schema has a `dead_letters` table. A consumer writes a row in the same transaction as the rest of
its fetch (so the fetch's offsets are committed only once its dead letters are safe) and then publishes it to the
dead-letter topic for whoever watches it; a relay writes one for a stored event it cannot publish. The same bytes
dead-lettered again by the same consumer (a redelivery, a restart) stay one row with a growing `attempts`.

`edms dlq list` shows the rows of every service; `edms dlq replay` marks rows for re-driving, and the consumer or
relay that wrote them takes them through the same code path as a new event (tracking makes that idempotent): the
row becomes `replayed`, or stays `dead` with the new reason.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

DEAD_LETTERS_DDL = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id bigserial PRIMARY KEY,
    consumer text NOT NULL,
    source text NOT NULL,
    digest text NOT NULL,
    event_id uuid,
    event_type text,
    reason text NOT NULL,
    key bytea,
    value bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '[]'::jsonb,
    state text NOT NULL DEFAULT 'dead' CHECK (state IN ('dead', 'replay', 'replayed')),
    attempts integer NOT NULL DEFAULT 1,
    published boolean NOT NULL DEFAULT false,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, digest)
);
CREATE INDEX IF NOT EXISTS dead_letters_waiting ON dead_letters (consumer) WHERE state = 'replay' OR NOT published;
"""


def relay_consumer(service: str) -> str:
    """The consumer name a service's relay writes its dead letters under."""
    return f"{service}-relay"


@dataclass(frozen=True)
class Letter:
    """One thing that could not be handled, as stored."""

    consumer: str
    source: str
    reason: str
    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    event_id: uuid.UUID | None = None
    event_type: str | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.value).hexdigest()


def record(conn: psycopg.Connection[Any], letters: Sequence[Letter]) -> None:
    """Keep letters (in the caller's transaction); a letter seen before counts one more attempt."""
    for letter in letters:
        conn.execute(
            "INSERT INTO dead_letters (consumer, source, digest, event_id, event_type, reason, key, value, headers) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (consumer, digest) DO UPDATE SET "
            "reason = EXCLUDED.reason, source = EXCLUDED.source, state = 'dead', published = false, "
            "attempts = dead_letters.attempts + 1, last_seen = now()",
            (
                letter.consumer,
                letter.source,
                letter.digest,
                letter.event_id,
                letter.event_type,
                letter.reason,
                letter.key,
                letter.value,
                Jsonb([[name, value.decode("utf-8", "replace")] for name, value in letter.headers]),
            ),
        )


@dataclass(frozen=True)
class Row:
    id: int
    schema: str
    consumer: str
    source: str
    event_id: uuid.UUID | None
    event_type: str | None
    reason: str
    state: str
    attempts: int
    first_seen: datetime
    last_seen: datetime
    key: bytes | None
    value: bytes
    published: bool = False


_COLUMNS = "id, consumer, source, event_id, event_type, reason, state, attempts, first_seen, last_seen, key, value"


def _rows(conn: psycopg.Connection[Any], schema: str, where: str, params: Sequence[Any]) -> list[Row]:
    query = sql.SQL("SELECT {columns}, published FROM {table} WHERE {where} ORDER BY id").format(
        columns=sql.SQL(_COLUMNS), table=sql.Identifier(schema, "dead_letters"), where=sql.SQL(where)
    )
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query, params)
        rows = []
        for r in cursor.fetchall():
            key, value = r.pop("key"), r.pop("value")
            rows.append(Row(schema=schema, key=None if key is None else bytes(key), value=bytes(value), **r))
        return rows


def waiting(conn: psycopg.Connection[Any], schema: str, consumer: str) -> list[Row]:
    """Rows of `consumer` marked for re-driving."""
    return _rows(conn, schema, "consumer = %s AND state = 'replay'", (consumer,))


def unpublished(conn: psycopg.Connection[Any], schema: str, consumer: str) -> list[Row]:
    return _rows(conn, schema, "consumer = %s AND NOT published AND state = 'dead'", (consumer,))


def mark_published(conn: psycopg.Connection[Any], ids: Sequence[int]) -> None:
    conn.execute("UPDATE dead_letters SET published = true WHERE id = ANY(%s)", (list(ids),))


def mark_replayed(conn: psycopg.Connection[Any], ids: Sequence[int]) -> None:
    conn.execute("UPDATE dead_letters SET state = 'replayed', last_seen = now() WHERE id = ANY(%s)", (list(ids),))


# -- the `edms dlq` command -----------------------------------------------------------------------------------------
def schemas_with_letters(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> list[str]:
    found = []
    for schema in schemas:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.dead_letters",)).fetchone()
        if row and row[0]:
            found.append(schema)
    return found


def listing(
    conn: psycopg.Connection[Any],
    schemas: Sequence[str],
    *,
    consumer: str | None = None,
    states: Sequence[str] = ("dead", "replay"),
) -> list[Row]:
    out: list[Row] = []
    for schema in schemas_with_letters(conn, schemas):
        where = "state = ANY(%s)"
        params: list[Any] = [list(states)]
        if consumer:
            where += " AND consumer = %s"
            params.append(consumer)
        out.extend(_rows(conn, schema, where, params))
    return out


def request_replay(
    conn: psycopg.Connection[Any], schemas: Sequence[str], *, consumer: str | None, ids: Sequence[int]
) -> list[Row]:
    """Mark dead rows (all of a consumer's, or these ids) for re-driving; returns what was marked."""
    marked: list[Row] = []
    for row in listing(conn, schemas, consumer=consumer, states=("dead",)):
        if ids and row.id not in ids:
            continue
        conn.execute(
            sql.SQL("UPDATE {} SET state = 'replay' WHERE id = %s AND state = 'dead'").format(
                sql.Identifier(row.schema, "dead_letters")
            ),
            (row.id,),
        )
        marked.append(row)
    return marked


def states(conn: psycopg.Connection[Any], rows: Sequence[Row]) -> dict[tuple[str, int], tuple[str, str]]:
    """(schema, id) -> (state, reason) for these rows now."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    for row in rows:
        found = conn.execute(
            sql.SQL("SELECT state, reason FROM {} WHERE id = %s").format(sql.Identifier(row.schema, "dead_letters")),
            (row.id,),
        ).fetchone()
        if found is not None:
            out[(row.schema, row.id)] = (str(found[0]), str(found[1]))
    return out
