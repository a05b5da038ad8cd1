"""Registry write side against a real PostgreSQL: gapless numbering under concurrency, yearly restart, blobs.

DOMAIN.md "Registration card": numbers are never reused or skipped and the sequence restarts each year — also when
several threads and several replicas of the service register at the same time.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from edms_registry.application import BlobStore, DocumentNotFound, Registration, RegistryApplication
from edms_registry.domain import DocumentKind, Journal
from edms_runtime.eventstore import build_application

ORG = "demo-region"
REG_DATE = date(2026, 11, 25)
INCOMING_NUMBER = re.compile(r"^01-10/(\d+)$")


def _incoming(org: str = ORG, reg_date: date = REG_DATE, title: str = "О предоставлении сведений") -> Registration:
    return Registration(
        kind=DocumentKind.INCOMING_LETTER,
        title=title,
        reg_date=reg_date,
        org=org,
        unit="01",
        registered_by="clerk1",
        correspondent="Территориальный орган Росстата",
        correspondent_number="12-07/345",
        correspondent_date=date(2026, 11, 20),
    )


def _sequence(reg_number: str) -> int:
    match = INCOMING_NUMBER.match(reg_number)
    assert match, f"unexpected incoming number {reg_number!r}"
    return int(match.group(1))


@pytest.fixture
def replicas(fresh_database_url: str) -> Iterator[tuple[RegistryApplication, RegistryApplication]]:
    """Two RegistryApplication instances on one database: two replicas of the service."""
    first = build_application(RegistryApplication, fresh_database_url, "registry")
    second = build_application(RegistryApplication, fresh_database_url, "registry")
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_n_registrations_get_numbers_1_to_n(replicas: tuple[RegistryApplication, RegistryApplication]) -> None:
    registry, _ = replicas
    numbers = [registry.register(_incoming()).reg_number for _ in range(12)]
    assert numbers == [f"01-10/{n}" for n in range(1, 13)]


def test_a_registered_card_reads_back_from_another_replica(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    first, second = replicas
    document = first.register(_incoming(title="О ремонте автомобильных дорог"))
    stored = second.document(document.id)
    assert stored.reg_number == "01-10/1"
    assert stored.reg_date == REG_DATE
    assert stored.correspondent_date == date(2026, 11, 20)
    assert stored.title == "О ремонте автомобильных дорог"
    journal: Journal = second.repository.get(Journal.create_id(ORG, "ВХ", 2026))
    assert journal.last_seq == 1


def test_concurrent_registration_by_threads_and_two_replicas_has_no_gaps(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """8 threads, split across two replicas (each with its own in-process lock), register 200 documents at once."""
    total, workers = 200, 8
    start = threading.Barrier(workers)

    def work(worker: int) -> list[str]:
        registry = replicas[worker % 2]
        start.wait()
        return [registry.register(_incoming()).reg_number for _ in range(total // workers)]

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(work, range(workers)))

    numbers = [number for chunk in results for number in chunk]
    sequences = sorted(_sequence(n) for n in numbers)
    assert len(numbers) == total
    assert len(set(numbers)) == total, "a number was given twice"
    assert sequences == list(range(1, total + 1)), "a number was skipped"
    for registry in replicas:
        journal: Journal = registry.repository.get(Journal.create_id(ORG, "ВХ", REG_DATE.year))
        assert journal.last_seq == total
    # Each replica's own numbers are increasing (a thread never sees an older journal than its last save).
    for chunk in results:
        assert [_sequence(n) for n in chunk] == sorted(_sequence(n) for n in chunk)


def test_replicas_queue_for_the_journal_instead_of_colliding(
    replicas: tuple[RegistryApplication, RegistryApplication], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retrying a lost race alone starves a replica (the winner's next registration is always ahead of the loser's
    retry, so the loser can run out of retries under load). Numbering waits on the journal's lock instead."""
    conflicts: list[str] = []
    for registry in replicas:
        save = registry.save

        def counting_save(*aggregates: Any, _save: Any = save) -> Any:
            try:
                return _save(*aggregates)
            except IntegrityError as exc:
                conflicts.append(str(exc))
                raise

        monkeypatch.setattr(registry, "save", counting_save)

    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(lambda n: replicas[n % 2].register(_incoming()).reg_number, range(60)))
    assert sorted(_sequence(n) for n in numbers) == list(range(1, 61))
    assert conflicts == []


def test_concurrent_registration_in_one_replica_has_no_gaps(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, _ = replicas
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda _: registry.register(_incoming()).reg_number, range(80)))
    assert sorted(_sequence(n) for n in numbers) == list(range(1, 81))


def test_a_new_year_restarts_at_1(replicas: tuple[RegistryApplication, RegistryApplication]) -> None:
    """DOMAIN.md "Registration card": the sequence restarts each year."""
    registry, other = replicas
    late = [registry.register(_incoming(reg_date=date(2025, 12, 30))).reg_number for _ in range(3)]
    early = [other.register(_incoming(reg_date=date(2026, 1, 12))).reg_number for _ in range(2)]
    assert late == ["01-10/1", "01-10/2", "01-10/3"]
    assert early == ["01-10/1", "01-10/2"]
    assert registry.register(_incoming(reg_date=date(2025, 12, 31))).reg_number == "01-10/4"


def test_each_organization_has_its_own_journal(replicas: tuple[RegistryApplication, RegistryApplication]) -> None:
    registry, _ = replicas
    assert registry.register(_incoming(org="org-a")).reg_number == "01-10/1"
    assert registry.register(_incoming(org="org-b")).reg_number == "01-10/1"
    assert registry.register(_incoming(org="org-a")).reg_number == "01-10/2"


def test_journals_of_different_kinds_number_independently(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, _ = replicas
    registry.register(_incoming())
    order = Registration(
        kind=DocumentKind.ORDER, title="Об утверждении", reg_date=REG_DATE, org=ORG, unit="01", registered_by="u"
    )
    assert registry.register(order).reg_number == "01-03/1-п"
    assert registry.register(_incoming()).reg_number == "01-10/2"


def test_attachment_is_recorded_on_the_card(replicas: tuple[RegistryApplication, RegistryApplication]) -> None:
    first, second = replicas
    document = first.register(_incoming())
    sha = hashlib.sha256(b"scan").hexdigest()
    first.add_attachment(
        document.id, sha256=sha, filename="скан.pdf", media_type="application/pdf", size=4, added_by="u"
    )
    assert second.document(document.id).attachments == [
        {"sha256": sha, "filename": "скан.pdf", "media_type": "application/pdf", "size": 4}
    ]


def test_unknown_document_and_a_journal_id_are_not_found(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, _ = replicas
    with pytest.raises(DocumentNotFound):
        registry.document(uuid.uuid4())
    registry.register(_incoming())
    with pytest.raises(DocumentNotFound):
        registry.document(Journal.create_id(ORG, "ВХ", 2026))  # an aggregate, but not a registration card


# -- blob store --------------------------------------------------------------------------------------------------------
def test_blob_store_is_content_addressed(tmp_path: Path) -> None:
    """Claim check: the event carries the SHA-256; the bytes are found by it."""
    blobs = BlobStore(tmp_path / "blobs")
    content = "Сканированная копия письма".encode()
    sha = blobs.put(content)
    assert sha == hashlib.sha256(content).hexdigest()
    assert blobs.get(sha) == content
    assert blobs.path(sha) == tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    assert blobs.put(b"another file") != sha


def test_blob_store_put_is_idempotent(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    first = blobs.put(b"%PDF-1.7 ...")
    mtime = blobs.path(first).stat().st_mtime_ns
    second = blobs.put(b"%PDF-1.7 ...")
    assert first == second
    assert blobs.path(first).stat().st_mtime_ns == mtime  # not written again
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [blobs.path(first)]  # one file, no temporary leftovers


def test_blob_store_concurrent_puts_of_the_same_content(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    content = bytes(range(256)) * 1000
    with ThreadPoolExecutor(8) as pool:
        hashes = set(pool.map(lambda _: blobs.put(content), range(16)))
    assert len(hashes) == 1
    assert blobs.get(hashes.pop()) == content
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1


def test_blob_store_get_of_unknown_hash_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        BlobStore(tmp_path).get(hashlib.sha256(b"never stored").hexdigest())
