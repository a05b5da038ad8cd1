"""The registry's write side: registration with gapless numbering, attachments."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

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


class _Ticket:
    """One registration waiting in the group commit."""

    def __init__(self, cmd: Registration) -> None:
        self.cmd = cmd
        spec = JOURNALS[cmd.kind]
        self.journal_id = Journal.create_id(cmd.org, spec.code, cmd.reg_date.year)
        self.done = False
        self._document: Document | None = None
        self._error: BaseException | None = None

    def arguments(self) -> dict[str, Any]:
        return {field.name: getattr(self.cmd, field.name) for field in fields(self.cmd)}

    def succeed(self, document: Document) -> None:
        self._document, self.done = document, True

    def fail(self, error: BaseException) -> None:
        self._error, self.done = error, True

    def result(self) -> Document:
        if self._error is not None:
            raise self._error
        assert self._document is not None, "a ticket is answered before its thread leaves the numbering lock"
        return self._document


class RegistryApplication(ServiceApplication):
    # Journals are read on every registration: keep them cached and fast-forward them from the store.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "256", "AGGREGATE_CACHE_FASTFORWARD": "y"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Group commit: one leader at a time saves; the others queue their tickets and wait for an answer.
        self._turn = threading.Condition()
        self._leading = False
        self._pending: list[_Ticket] = []

    def register(self, cmd: Registration) -> Document:
        """Give the next number of the kind's journal and save number and card in one transaction.

        Group commit (leader/followers): while one thread saves a batch, later registrations queue; when it is done,
        the threads it answered return at once and one of the others leads the next batch with everything queued,
        numbered from one read of the journal and saved with it in one atomic save. Under load one transaction
        carries many registrations; alone a registration waits for nobody. A command the domain
        refuses gets no number and the others go on.

        Between replicas a PostgreSQL advisory lock on the journal queues them first come, first served. The
        journal's optimistic concurrency (a conflicting save fails as a whole) stays as the safety net: the loser
        retries with the next number. Retrying alone starves a replica under load, because the winner's next
        registration is always ahead of the loser's retry.
        """
        ticket = _Ticket(cmd)
        with self._turn:
            self._pending.append(ticket)
            while self._leading and not ticket.done:
                self._turn.wait()  # a leader is saving; it or the next one takes this ticket
            if ticket.done:
                return ticket.result()
            self._leading = True
            batch, self._pending = self._pending, []
        try:
            self._register_batch(batch)
        except BaseException as exc:
            for waiting in batch:
                if not waiting.done:
                    waiting.fail(exc)
        finally:
            with self._turn:
                self._leading = False
                self._turn.notify_all()
        return ticket.result()

    def _register_batch(self, tickets: list[_Ticket]) -> None:
        journals: dict[uuid.UUID, list[_Ticket]] = {}
        for ticket in tickets:
            journals.setdefault(ticket.journal_id, []).append(ticket)
        for journal_id, group in journals.items():
            first = group[0].cmd
            spec = JOURNALS[first.kind]
            with self._journal_lock(journal_id):
                for _ in range(20):
                    journal = self._journal(journal_id, first.org, spec.code, first.reg_date.year)
                    numbered: list[tuple[_Ticket, Document]] = []
                    for ticket in group:
                        try:
                            numbered.append((ticket, register(journal, spec, **ticket.arguments())))
                        except ValueError as exc:  # refused by the domain before a number was taken
                            ticket.fail(exc)
                    group = [ticket for ticket, _ in numbered]
                    if not numbered:
                        break
                    try:
                        self.save(journal, *(document for _, document in numbered))
                    except IntegrityError:
                        continue  # another replica took these numbers first
                    for ticket, document in numbered:
                        ticket.succeed(document)
                    break
                else:
                    for ticket in group:
                        ticket.fail(RuntimeError("registration kept conflicting on the journal; try again"))

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
