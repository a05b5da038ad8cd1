"""The registry's write side: registration with gapless numbering, attachments."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from edms_contracts import Urgency
from edms_registry.domain import JOURNALS, Document, DocumentKind, Journal, register
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.http import NotFound


@dataclass(frozen=True)
class Registration:
    kind: DocumentKind
    title: str
    reg_date: date
    org: str
    unit: str | None
    registered_by: str
    text: str | None = None
    correspondent: str | None = None
    correspondent_number: str | None = None
    correspondent_date: date | None = None
    urgency: Urgency = Urgency.NONE
    access: str | None = None
    correlation_id: uuid.UUID | None = None


class DocumentNotFound(NotFound):
    pass


class RegistryApplication(ServiceApplication):
    # Journals are read on every registration: keep them cached and fast-forward them from the store.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "256", "AGGREGATE_CACHE_FASTFORWARD": "y"}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._numbering = threading.Lock()

    def register(self, cmd: Registration) -> Document:
        """Give the next number of the kind's journal and save number and card in one transaction.

        Within a process the lock serialises numbering; between replicas a PostgreSQL advisory lock on the journal
        queues them first come, first served. The journal's optimistic concurrency (a conflicting save fails as a
        whole) stays as the safety net: the loser retries with the next number. Retrying alone starves a replica
        under load, because the winner's next registration is always ahead of the loser's retry.
        """
        spec = JOURNALS[cmd.kind]
        journal_id = Journal.create_id(cmd.org, spec.code, cmd.reg_date.year)
        with self._numbering, self._journal_lock(journal_id):
            for _ in range(20):
                journal = self._journal(journal_id, cmd.org, spec.code, cmd.reg_date.year)
                document = register(
                    journal,
                    spec,
                    kind=cmd.kind,
                    reg_date=cmd.reg_date,
                    title=cmd.title,
                    org=cmd.org,
                    unit=cmd.unit,
                    registered_by=cmd.registered_by,
                    text=cmd.text,
                    correspondent=cmd.correspondent,
                    correspondent_number=cmd.correspondent_number,
                    correspondent_date=cmd.correspondent_date,
                    urgency=cmd.urgency,
                    access=cmd.access,
                    correlation_id=cmd.correlation_id,
                )
                try:
                    self.save(journal, document)
                except IntegrityError:
                    continue  # another replica took this number first
                return document
        raise RuntimeError("registration kept conflicting on the journal; try again")

    @contextlib.contextmanager
    def _journal_lock(self, journal_id: uuid.UUID) -> Iterator[None]:
        """Hold a transaction-level advisory lock on the journal (released when the transaction rolls back)."""
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is None:  # not PostgreSQL (e.g. the in-memory recorder): one process, the thread lock suffices
            yield
            return
        key = int.from_bytes(journal_id.bytes[:8], "big", signed=True)
        with datastore.transaction(commit=False) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            yield

    def _journal(self, journal_id: uuid.UUID, org: str, code: str, year: int) -> Journal:
        try:
            journal: Journal = self.repository.get(journal_id)
        except AggregateNotFoundError:
            journal = Journal(org, code, year)
        return journal

    def document(self, document_id: uuid.UUID) -> Document:
        try:
            document: Document = self.repository.get(document_id)
        except AggregateNotFoundError:
            raise DocumentNotFound(f"document {document_id} is not registered") from None
        if not isinstance(document, Document):
            raise DocumentNotFound(f"document {document_id} is not registered")
        return document

    def add_attachment(
        self,
        document_id: uuid.UUID,
        *,
        sha256: str,
        filename: str,
        media_type: str,
        size: int,
        added_by: str,
        correlation_id: uuid.UUID | None = None,
    ) -> Document:
        document = self.document(document_id)
        document.add_attachment(sha256, filename, media_type, size, added_by, correlation_id=correlation_id)
        self.save(document)
        return document


class BlobStore:
    """Content-addressed file store (claim check): events carry the SHA-256 and metadata, never the bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, content: bytes) -> str:
        sha256 = hashlib.sha256(content).hexdigest()
        target = self.path(sha256)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(content)
            tmp.replace(target)  # atomic: a reader never sees half a file
        return sha256

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
