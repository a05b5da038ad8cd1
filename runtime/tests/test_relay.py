"""The outbox relay against a real PostgreSQL and a real Kafka-protocol broker (Tansu): a stored event that cannot be
published goes aside with its reason and the events behind it flow; after a fix it is re-driven (issue 6 items 3, 4).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from eventsourcing.domain import Aggregate

from edms_contracts import AttachmentAdded, declared_type, decode
from edms_contracts.topics import REGISTRY_DOCUMENT
from edms_runtime import deadletters
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.kafka import ensure_topics
from edms_runtime.relay import ContractMapper, OutboxRelay, Publish, UnmappedEvent
from edms_runtime.service import PLUMBING_DDL
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import TansuBroker, free_port
from runtime.tests.apps import Book, Note, notes_app

SERVICE = "notes"


def _as_attachment(state: dict[str, Any]) -> dict[str, Any]:
    """A note is published as an attachment whose hash is the note's text (so a text that is no hash is poison)."""
    return {"sha256": state["text"], "filename": state["cause"], "media_type": "text/plain", "size": 1, "added_by": "t"}


def _fixed(state: dict[str, Any]) -> dict[str, Any]:
    """The fix: a text that is no hash is published with its hash."""
    text = state["text"]
    digest = text if len(text) == 64 else hashlib.sha256(text.encode()).hexdigest()
    return {**_as_attachment(state), "sha256": digest}


def mapper(derive: Any) -> ContractMapper:
    return ContractMapper(
        {"Note.Written": Publish(AttachmentAdded, "document_id", derive=derive)},
        internal={"Note.Amended", "Book.Opened"},
    )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    server = TansuBroker(free_port(), tmp_path_factory.mktemp("tansu") / "tansu.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _published(bootstrap: str, wanted: int, seconds: float = 20) -> list[AttachmentAdded]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, metadata_max_age_ms=1000)
    await consumer.start()
    found: list[AttachmentAdded] = []
    try:
        partitions = [TopicPartition(REGISTRY_DOCUMENT.name, p) for p in range(REGISTRY_DOCUMENT.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(found) < wanted and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for record in records:
                    envelope = decode(record.value)
                    # through the broker, the record's headers name its type (consumers skip by it unparsed)
                    assert declared_type(record.headers) == envelope.event_type == "AttachmentAdded"
                    found.append(AttachmentAdded.model_validate(envelope.payload))
    finally:
        await consumer.stop()
    return found


def _letters(database_url: str) -> list[deadletters.Row]:
    with psycopg.connect(database_url) as conn:
        return deadletters.listing(conn, [SERVICE], states=("dead", "replay", "replayed"))


async def _until(probe: Any, seconds: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not probe():
        assert loop.time() < deadline, "not reached in time"
        await asyncio.sleep(0.1)


def test_a_stored_event_that_cannot_be_published_goes_aside_and_is_re_driven_after_a_fix(
    fresh_database_url: str, broker: TansuBroker, tmp_path: Path
) -> None:
    settings = PlatformSettings(database_url=fresh_database_url, kafka_bootstrap=broker.bootstrap, data_dir=tmp_path)
    ensure_schema(fresh_database_url, SERVICE, PLUMBING_DDL)
    pool = make_pool(fresh_database_url, SERVICE, max_size=2)
    good_hash = hashlib.sha256(b"first").hexdigest()
    with notes_app(fresh_database_url, SERVICE) as app:
        relay = OutboxRelay(service=SERVICE, app=app, mapper=mapper(_as_attachment), pool=pool, settings=settings)
        app.save(Note("first", good_hash))
        app.save(Note("poison", "not a hash at all"))
        app.save(Note("third", hashlib.sha256(b"third").hexdigest()))

        async def scenario() -> None:
            await ensure_topics(settings)
            task = asyncio.create_task(relay.run())
            try:
                first = await _published(broker.bootstrap, 2)
                assert sorted(a.filename for a in first) == ["first", "third"]  # the poison did not stop "third"
                (letter,) = _letters(fresh_database_url)
                assert (letter.consumer, letter.source, letter.state) == (f"{SERVICE}-relay", "notification/2", "dead")
                assert "sha256" in letter.reason
                assert letter.event_type is not None
                assert letter.event_type.endswith("Note.Written")

                relay.mapper = mapper(_fixed)  # the fix, deployed
                with psycopg.connect(fresh_database_url, autocommit=True) as conn:
                    marked = deadletters.request_replay(conn, [SERVICE], consumer=f"{SERVICE}-relay", ids=[])
                assert [row.id for row in marked] == [letter.id]
                await _until(lambda: [row.state for row in _letters(fresh_database_url)] == ["replayed"])
                after = await _published(broker.bootstrap, 3)
                assert sorted(a.filename for a in after) == ["first", "poison", "third"]
            finally:
                relay.stop()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

        asyncio.run(scenario())
    pool.close()


def test_a_domain_event_neither_published_nor_declared_internal_is_an_error() -> None:
    strict = ContractMapper({"Note.Written": Publish(AttachmentAdded, "document_id", derive=_as_attachment)})
    note = Note("cause", "x")
    note.amend("y")
    _, amended = note.collect_events()
    with pytest.raises(UnmappedEvent, match=r"Note\.Amended"):
        strict(amended)
    assert strict.unmapped(Note, Book) == ["Book.Opened", "Note.Amended"]
    assert mapper(_as_attachment).unmapped(Note, Book) == []


def test_unmapped_lists_only_concrete_events() -> None:
    class Empty(Aggregate):
        pass

    assert ContractMapper({}).unmapped(Empty) == []  # the base classes Event and Created are not events
