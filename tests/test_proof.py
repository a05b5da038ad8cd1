"""The backbone's proof (issue 6 item 11; shared/ARCHITECTURE.md "The event backbone"): two replicas of every
service against one PostgreSQL and one broker, 2,000 documents registered by 8 clients while `edms replay` rebuilds
control's and archive's read models and one replica of each service is killed with -9. At the end every document
is registered once, routed once, controlled once, filed once and searchable once, the rebuilt read models hold
every document, and no event is a dead letter.

Waiting is on the read models, never on broker offsets (Tansu's end offsets are wrong).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from edms_contracts.topics import DLQ
from edms_runtime.cli import main as edms
from edms_runtime.stack import SERVICES, ServiceProcess, Stack, free_port
from tests.support import Client, counts, eventually, register_many

pytestmark = pytest.mark.slow

DOCUMENTS = 2000


@pytest.fixture(scope="module")
def second_replicas(stack: Stack) -> Iterator[dict[str, ServiceProcess]]:
    replicas = {name: ServiceProcess(name, free_port(), stack.env(), stack.logs / f"{name}-2.log") for name in SERVICES}
    for replica in replicas.values():
        replica.start()
    try:
        for replica in replicas.values():
            replica.wait_ready(90)
        yield replicas
    finally:
        for replica in replicas.values():
            replica.stop()


def _exactly_once(stack: Stack, n: int) -> dict[str, int] | None:
    c = counts(stack)
    return c if set(c.values()) == {n} else None


def _read_model_rows(stack: Stack) -> dict[str, int]:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        out = {}
        for table in ("control.cards", "archive.inventory"):
            row = conn.execute(f"SELECT count(*), count(DISTINCT document_id) FROM {table}").fetchone()
            assert row is not None
            out[table], out[f"{table} distinct"] = int(row[0]), int(row[1])
        row = conn.execute(
            "SELECT count(*) FROM archive.inventory WHERE reg_number IS NULL OR case_id IS NULL"
        ).fetchone()
        assert row is not None
        out["archive.inventory incomplete"] = int(row[0])
    return out


async def _dead_letter_topic(bootstrap: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(DLQ.name, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        seen = 0
        for _ in range(6):
            seen += sum(len(records) for records in (await consumer.getmany(timeout_ms=500)).values())
        return seen
    finally:
        await consumer.stop()


def test_two_replicas_each_replays_and_kill_9_lose_and_double_nothing(
    stack: Stack, clerk: Client, second_replicas: dict[str, ServiceProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.database_url
    assert stack.kafka_bootstrap
    monkeypatch.setenv("EDMS_DATABASE_URL", stack.database_url)
    monkeypatch.setenv("EDMS_KAFKA_BOOTSTRAP", stack.kafka_bootstrap)
    registries = [stack.processes["registry"].url, second_replicas["registry"].url]
    progress: list[int] = []
    replays: dict[str, tuple[int, str]] = {}
    failures: list[BaseException] = []

    def replay(service: str) -> None:
        """`edms replay SERVICE` as an operator runs it, in a shell of its own."""
        done = subprocess.run(
            [sys.executable, "-m", "edms_runtime.cli", "replay", service, "--swap-wait", "60"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        replays[service] = (done.returncode, done.stdout + done.stderr)

    def chaos() -> None:
        try:
            eventually(lambda: len(progress) >= 300, timeout=300)
            threads = [threading.Thread(target=replay, args=(s,)) for s in ("control", "archive")]
            for thread in threads:
                thread.start()
            eventually(lambda: len(progress) >= 800, timeout=300)
            for name in SERVICES:  # one replica of each: the first ones run the relays' and indexer's leads
                stack.processes[name].stop(kill=True)
            for thread in threads:
                thread.join(timeout=600)
        except BaseException as exc:
            failures.append(exc)

    chaos_thread = threading.Thread(target=chaos)
    chaos_thread.start()
    started = time.monotonic()
    ids = register_many(clerk, DOCUMENTS, workers=8, progress=progress, urls=registries)
    registered_in = time.monotonic() - started
    chaos_thread.join(timeout=900)

    assert not failures, failures
    assert sorted(replays) == ["archive", "control"]
    for service, (code, output) in replays.items():
        assert code == 0, output
        assert f"{service}: swapped in" in output, output
    assert len(set(ids)) == DOCUMENTS
    final = eventually(lambda: _exactly_once(stack, DOCUMENTS), timeout=300, interval=1.0)
    assert final["registered"] == DOCUMENTS, final
    every_document_once = {
        "control.cards": DOCUMENTS,
        "control.cards distinct": DOCUMENTS,
        "archive.inventory": DOCUMENTS,
        "archive.inventory distinct": DOCUMENTS,
        "archive.inventory incomplete": 0,
    }
    eventually(lambda: _read_model_rows(stack) == every_document_once, timeout=120)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert edms(["dlq", "list"]) == 0
    assert out.getvalue() == "no dead letters\n"
    assert asyncio.run(_dead_letter_topic(stack.kafka_bootstrap)) == 0
    print(f"\n{DOCUMENTS} documents registered in {registered_in:.1f} s through two registry replicas")
