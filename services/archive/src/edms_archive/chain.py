"""The hash chain over every archive event, and the audit that checks it and the stored files (`edms archive audit`).

Each event the archive stores gets a chain entry in the same transaction — a trigger on the event table writes it,
so no code path can store an event without one: the entry holds the event's position, identity, topic and the
SHA-256 of its stored bytes, the previous entry's hash, and its own hash over all of that. Inserts into the event
table are serialized by eventsourcing's table lock (edms_runtime.recorder), so the chain follows commit order.

The audit recomputes everything: a changed byte of a stored event, a changed, removed or inserted chain entry, an
event without an entry (written around the trigger) and an entry without its event (deleted) are each named; so is
a file of a document whose bytes in the blob store no longer have the SHA-256 the archive recorded. What a chain
alone cannot show is a tail cut off together with its entries: the audit prints the head, and `--head HASH` checks
that a head recorded elsewhere (a transfer package's manifest, a printed act) is still on the chain.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from edms_archive.blobs import BlobMissing, Blobs, stream_sha256
from edms_runtime import hashchain

SCHEMA = "archive"
EVENTS_TABLE = "archiveapplication_events"
GENESIS = hashchain.GENESIS

CHAIN_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.chain (
    notification_id bigint PRIMARY KEY,
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text NOT NULL,
    state_sha256 bytea NOT NULL,
    prev_hash bytea NOT NULL,
    entry_hash bytea NOT NULL
);
CREATE OR REPLACE FUNCTION {schema}.chain_append() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
    state_hash bytea := sha256(NEW.state);
BEGIN
    SELECT entry_hash INTO previous FROM {schema}.chain ORDER BY notification_id DESC LIMIT 1;
    previous := coalesce(previous, '\\x{genesis}'::bytea);
    INSERT INTO {schema}.chain VALUES (
        NEW.notification_id, NEW.originator_id, NEW.originator_version, NEW.topic, state_hash, previous,
        sha256(previous || convert_to(
            NEW.notification_id || '|' || NEW.originator_id || '|' || NEW.originator_version || '|' || NEW.topic || '|',
            'UTF8') || state_hash)
    );
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER chain_append AFTER INSERT ON {schema}.{events}
    FOR EACH ROW EXECUTE FUNCTION {schema}.chain_append();
"""


def install_chain(database_url: str, schema: str = SCHEMA) -> None:
    """Create the chain table and the trigger on the archive's event table (which the application created)."""
    ddl = CHAIN_DDL.format(schema=schema, events=EVENTS_TABLE, genesis=GENESIS.hex())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"edms-ddl-{schema}",))
        try:
            conn.execute(ddl.encode())
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"edms-ddl-{schema}",))


def entry_hash(
    previous: bytes, notification_id: int, originator_id: uuid.UUID, version: int, topic: str, state_sha256: bytes
) -> bytes:
    """The hash the trigger computes, recomputed in Python (the link of every hash chain here, as the audit log's)."""
    fields = f"{notification_id}|{originator_id}|{version}|{topic}|".encode()
    return hashchain.link(previous, fields + state_sha256)


@dataclass
class Head:
    notification_id: int
    hash: str


@dataclass
class Audit:
    problems: list[str] = field(default_factory=list)
    events: int = 0
    files: int = 0
    head: Head | None = None


def chain_head(conn: psycopg.Connection[Any], schema: str = SCHEMA) -> Head | None:
    row = conn.execute(
        sql.SQL("SELECT notification_id, entry_hash FROM {}.chain ORDER BY notification_id DESC LIMIT 1").format(
            sql.Identifier(schema)
        )
    ).fetchone()
    if row is None:
        return None
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return Head(int(values[0]), bytes(values[1]).hex())


def audit_chain(database_url: str, *, expect_head: str | None = None, schema: str = SCHEMA) -> Audit:
    """Walk the event table and the chain side by side in position order, naming every difference."""
    result = Audit()
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        previous = GENESIS
        seen_head = expect_head is None
        for event, entry in _side_by_side(conn, schema):
            position = (event or entry or {})["notification_id"]
            if event is not None:
                result.events += 1
            if entry is None:
                result.problems.append(f"event {position} ({_name(event)}): no chain entry (inserted around the chain)")
                continue
            if bytes(entry["prev_hash"]) != previous:
                result.problems.append(
                    f"chain entry {position}: does not follow the entry before it (an entry was removed or inserted)"
                )
            recomputed = entry_hash(
                bytes(entry["prev_hash"]),
                position,
                entry["originator_id"],
                entry["originator_version"],
                entry["topic"],
                bytes(entry["state_sha256"]),
            )
            if recomputed != bytes(entry["entry_hash"]):
                result.problems.append(f"chain entry {position} ({_name(entry)}): changed (its hash does not match)")
            previous = bytes(entry["entry_hash"])
            seen_head = seen_head or previous.hex() == expect_head
            if event is None:
                result.problems.append(f"event {position} ({_name(entry)}): missing from the event store (deleted)")
                continue
            _compare(event, entry, result)
        if previous != GENESIS:
            result.head = Head(position, previous.hex())
        if not seen_head:
            result.problems.append(
                f"head {expect_head}: not on the chain (entries after it were cut off, or it is from another archive)"
            )
    return result


def _compare(event: dict[str, Any], entry: dict[str, Any], result: Audit) -> None:
    position = event["notification_id"]
    same_identity = (event["originator_id"], event["originator_version"], event["topic"]) == (
        entry["originator_id"],
        entry["originator_version"],
        entry["topic"],
    )
    if not same_identity:
        result.problems.append(f"event {position}: its identity differs from the chain's ({_name(entry)})")
    if hashlib.sha256(bytes(event["state"])).digest() != bytes(entry["state_sha256"]):
        result.problems.append(f"event {position} ({_name(event)}): its stored bytes were changed")


def _name(row: dict[str, Any] | None) -> str:
    if row is None:
        return "?"
    return f"{str(row['topic']).rsplit(':', 1)[-1]} of {row['originator_id']} v{row['originator_version']}"


def _side_by_side(
    conn: psycopg.Connection[Any], schema: str
) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Events and chain entries merged by position (a full outer join, streamed with a server-side cursor)."""
    query = sql.SQL(
        "SELECT coalesce(e.notification_id, c.notification_id) AS notification_id, "
        "e.notification_id AS e_id, e.originator_id AS e_originator_id, e.originator_version AS e_version, "
        "e.topic AS e_topic, e.state AS e_state, c.notification_id AS c_id, c.originator_id AS c_originator_id, "
        "c.originator_version AS c_version, c.topic AS c_topic, c.state_sha256, c.prev_hash, c.entry_hash "
        "FROM {schema}.{events} e FULL OUTER JOIN {schema}.chain c ON c.notification_id = e.notification_id "
        "ORDER BY 1"
    ).format(schema=sql.Identifier(schema), events=sql.Identifier(EVENTS_TABLE))
    with conn.cursor(name="archive_audit") as cursor:
        cursor.execute(query)
        for row in cursor:
            event = (
                None
                if row["e_id"] is None
                else {
                    "notification_id": row["e_id"],
                    "originator_id": row["e_originator_id"],
                    "originator_version": row["e_version"],
                    "topic": row["e_topic"],
                    "state": row["e_state"],
                }
            )
            entry = (
                None
                if row["c_id"] is None
                else {
                    "notification_id": row["c_id"],
                    "originator_id": row["c_originator_id"],
                    "originator_version": row["c_version"],
                    "topic": row["c_topic"],
                    "state_sha256": row["state_sha256"],
                    "prev_hash": row["prev_hash"],
                    "entry_hash": row["entry_hash"],
                }
            )
            yield event, entry


def audit_files(files: Iterator[tuple[str, str, dict[str, Any]]], blobs: Blobs, result: Audit) -> None:
    """Every kept file of every document not destroyed: its bytes must still have the recorded SHA-256.

    `files`: (document label, case label, file record) for each file the archive keeps.
    """
    for document, case, item in files:
        result.files += 1
        try:
            with blobs.open(item["sha256"]) as source:
                digest, size = stream_sha256(source)
        except BlobMissing:
            result.problems.append(f"{document} in {case}: file {item['filename']!r} is missing from the blob store")
            continue
        if digest != item["sha256"]:
            result.problems.append(
                f"{document} in {case}: file {item['filename']!r} was changed ({size} bytes, SHA-256 {digest}; "
                f"archived {item['size']} bytes, {item['sha256']})"
            )
