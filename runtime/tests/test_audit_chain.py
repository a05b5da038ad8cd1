"""The audit log's hash chain against a real PostgreSQL (issue 12, item 4): entries are append-only, and
`edms audit verify` names every changed, missing and inserted entry, and a cut-off tail against a recorded head."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest

from edms_runtime.audit import AuditLog, Entry, verify
from edms_runtime.cli import main
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.service import PLUMBING_DDL

SERVICE = "registry"


def _entry(i: int, outcome: str = "allowed") -> Entry:
    return Entry(
        at=datetime.now(UTC),
        actor=f"user{i % 3}",
        org="region",
        unit="01",
        roles=["clerk"],
        action="GET /documents/{document_id}",
        target=f"/documents/{i}",
        document=str(i),
        outcome=outcome,
        status=200 if outcome == "allowed" else 404,
        reason=None,
        client="127.0.0.1",
        forwarded_for=None,
        correlation_id=None,
    )


@pytest.fixture
def audited(fresh_database_url: str) -> str:
    """A schema with the audit log and 20 entries written by concurrent requests (group commit)."""
    ensure_schema(fresh_database_url, SERVICE, PLUMBING_DDL)
    pool = make_pool(fresh_database_url, SERVICE)
    audit = AuditLog(service=SERVICE, pool=pool, database_url=fresh_database_url)

    async def write() -> None:
        await asyncio.gather(*(audit.record(_entry(i)) for i in range(20)))
        await audit.close()

    try:
        asyncio.run(write())
    finally:
        pool.close()
    return fresh_database_url


def _tamper(url: str, statement: str) -> None:
    """As a superuser who gets round the append-only triggers would."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # triggers off for this session
        conn.execute(statement)


def test_an_untouched_log_verifies_and_is_gapless(audited: str) -> None:
    result = verify(audited, SERVICE)
    assert result.problems == []
    assert result.entries == 20
    assert result.head is not None
    assert result.head[0] == 20


def test_updates_deletes_and_truncation_are_refused(audited: str) -> None:
    with psycopg.connect(audited, autocommit=True) as conn:
        for statement in (
            "UPDATE registry.audit_log SET outcome = 'allowed' WHERE seq = 3",
            "DELETE FROM registry.audit_log WHERE seq = 3",
            "TRUNCATE registry.audit_log",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
    assert verify(audited, SERVICE).problems == []


def test_a_changed_entry_is_named(audited: str) -> None:
    _tamper(audited, "UPDATE registry.audit_log SET actor = 'somebody-else' WHERE seq = 7")
    problems = verify(audited, SERVICE).problems
    assert len(problems) == 1
    assert problems[0].startswith("registry: entry 7 (somebody-else, GET /documents/{document_id}, ")
    assert problems[0].endswith(") changed: its hash does not match its content (or it was inserted)")


def test_a_deleted_entry_is_named(audited: str) -> None:
    _tamper(audited, "DELETE FROM registry.audit_log WHERE seq IN (11, 12)")
    problems = verify(audited, SERVICE).problems
    assert problems[0] == "registry: entry 11-12 missing (deleted)"
    assert "entry 13 does not follow the entry before it" in problems[1]
    assert len(problems) == 2


def test_an_inserted_entry_is_named(audited: str) -> None:
    """Rows after 15 moved one up to make room: the inserted one and every moved one fail their hash."""
    _tamper(audited, "UPDATE registry.audit_log SET seq = seq + 100 WHERE seq > 15")
    _tamper(audited, "UPDATE registry.audit_log SET seq = seq - 99 WHERE seq > 100")
    _tamper(
        audited,
        "INSERT INTO registry.audit_log SELECT 16, at, 'forger', org, unit, roles, action, target, document, "
        "outcome, status, reason, client, forwarded_for, correlation_id, entry_hash, sha256(entry_hash) "
        "FROM registry.audit_log WHERE seq = 15",
    )
    problems = verify(audited, SERVICE).problems
    assert problems[0].startswith("registry: entry 16 (forger, ")
    assert problems[0].endswith("changed: its hash does not match its content (or it was inserted)")
    assert any("entry 17 does not follow" in p for p in problems)


def test_a_cut_off_tail_shows_against_a_recorded_head(audited: str) -> None:
    head = verify(audited, SERVICE).head
    assert head is not None
    _tamper(audited, "DELETE FROM registry.audit_log WHERE seq >= 18")
    assert verify(audited, SERVICE).problems == []  # a chain alone cannot show it
    assert verify(audited, SERVICE, expect_head=head[1]).problems == [
        f"registry: head {head[1]} is not on the chain (entries after it were cut off)"
    ]


def test_the_command_exits_non_zero_and_names_the_entry(audited: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--service", SERVICE, "--database-url", audited]) == 0
    _tamper(audited, "UPDATE registry.audit_log SET status = 404, outcome = 'refused' WHERE seq = 4")
    assert main(["audit", "verify", "--service", SERVICE, "--database-url", audited]) == 1
    out = capsys.readouterr().out
    assert "registry: entry 4 (user0, GET /documents/{document_id}" in out
    assert "1 problems" in out


def test_requests_on_two_event_loops_each_get_their_entry_committed(fresh_database_url: str) -> None:
    """A test client runs each request on an event loop of its own: a request whose entry joins another loop's
    batch must still be woken on its own loop (it hung for good before)."""
    import threading

    ensure_schema(fresh_database_url, SERVICE, PLUMBING_DDL)
    pool = make_pool(fresh_database_url, SERVICE)
    audit = AuditLog(service=SERVICE, pool=pool, database_url=fresh_database_url)
    slow_write = audit.write
    started = threading.Event()

    async def write(entries: list[Entry]) -> None:
        started.set()
        await asyncio.sleep(0.3)  # the other loop's request arrives while this batch is being written
        await slow_write(entries)

    audit.write = write  # type: ignore[method-assign]
    finished: list[int] = []

    def request(i: int) -> None:
        if i:
            started.wait(5)
        asyncio.run(asyncio.wait_for(audit.record(_entry(i)), timeout=10))
        finished.append(i)

    try:
        threads = [threading.Thread(target=request, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert sorted(finished) == [0, 1]
        assert verify(fresh_database_url, SERVICE).entries == 2
    finally:
        pool.close()


def test_two_replicas_writing_in_turn_keep_one_gapless_chain(fresh_database_url: str) -> None:
    """Each log seals a batch on the head it wrote last; when the other replica wrote meanwhile, the primary key
    refuses the stale `seq` and the batch is sealed again on the head read under the lock: one chain, no gap
    (issue 12, item 4: the log is append-only and hash-chained across replicas)."""
    ensure_schema(fresh_database_url, SERVICE, PLUMBING_DDL)
    pool = make_pool(fresh_database_url, SERVICE)
    one, two = (AuditLog(service=SERVICE, pool=pool, database_url=fresh_database_url) for _ in range(2))

    async def write() -> None:
        for i in range(6):  # strictly in turn: every batch after the first two starts from a stale head
            await (one if i % 2 == 0 else two).record(_entry(i))
        for i in range(6, 40, 2):  # and at once
            await asyncio.gather(one.record(_entry(i)), two.record(_entry(i + 1)), one.record(_entry(i + 100)))
        await one.close()
        await two.close()

    try:
        asyncio.run(write())
        result = verify(fresh_database_url, SERVICE)
        assert result.entries == 6 + 17 * 3
        assert result.problems == []
        with psycopg.connect(fresh_database_url) as conn:
            seqs = [row[0] for row in conn.execute(f"SELECT seq FROM {SERVICE}.audit_log ORDER BY seq")]
        assert seqs == list(range(1, 6 + 17 * 3 + 1))
    finally:
        pool.close()
