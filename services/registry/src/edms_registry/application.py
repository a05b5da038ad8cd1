"""The registry's write side: registration with gapless numbering, drafts numbered when signed, links, history."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

import psycopg
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from psycopg import sql

from edms_contracts import DocumentKind, LinkType
from edms_registry import directory_app, duplicates
from edms_registry.domain import (
    KIND_RULES,
    Card,
    CardHolder,
    Document,
    Draft,
    InvalidCard,
    Journal,
    JournalBook,
    JournalPlan,
    JournalSpec,
    UnknownJournal,
    attachment,
    check_card,
    grant_key,
    journal_id,
    link,
    number_draft,
    plan_from_data,
    plan_to_data,
    register,
)
from edms_registry.journals import default_plan, file_plan
from edms_runtime.errors import DomainError, InvalidField, NotFound
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.faults import ConcurrencyConflict

T = TypeVar("T")

#: Restriction marks a card may carry unless configured otherwise: ДСП (Decree of the Government of the RF No. 1233
#: of 03.11.1994, "Для служебного пользования").
DEFAULT_MARKS = frozenset({"ДСП"})


@dataclass(frozen=True)
class NewAttachment:
    """A file stored already (blob store, by hash) to attach to the card it is registered with."""

    sha256: str
    filename: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Registration:
    """A card to register (one carrier from the request to the domain)."""

    card: Card
    reg_date: date
    org: str
    unit: str | None
    registered_by: str
    correlation_id: uuid.UUID | None = None
    #: What asked for this registration (`idempotency_cause`, `event_cause`): asking again gives the same card.
    cause: str | None = None
    #: A digest of the request, to tell a repeat from another request under the same cause.
    fingerprint: str | None = None
    links: tuple[tuple[LinkType, uuid.UUID], ...] = ()
    #: The clerk saw the 409 about the same letter registered before and registers it as its duplicate.
    confirm_duplicate: bool = False
    #: The scanned letter and its appendices sent with the card: attached in the registration's own transaction.
    attachments: tuple[NewAttachment, ...] = ()


class DocumentNotFound(NotFound):
    def __init__(self, document_id: uuid.UUID) -> None:
        super().__init__(f"document {document_id} is not registered")


class CauseReused(DomainError):
    """The same idempotency key was sent with a different request."""

    status = 422
    title = "Idempotency key reused"


class DuplicateLetter(DomainError):
    """The same letter (correspondent, its number and date) is registered already."""

    status = 409
    title = "Registered already"

    def __init__(self, earlier: duplicates.Earlier) -> None:
        super().__init__(
            f"this letter is registered already as {earlier.reg_number}; send confirm_duplicate to register it "
            "again as its duplicate",
            field="correspondent_number",
        )
        self.earlier = earlier


class GrantRefused(DomainError):
    """Someone who may not grant reading the document asked to (403)."""

    status = 403
    title = "Forbidden"


class GrantNotFound(NotFound):
    def __init__(self, document_id: uuid.UUID, login: str) -> None:
        super().__init__(f"document {document_id} has no grant to {login}")


class NotADraft(DomainError):
    status = 409
    title = "Not a draft"


@dataclass
class _Ticket:
    """One registration waiting in the group commit; answered once, then its waiter is woken."""

    cmd: Registration
    spec: JournalSpec | None = None
    journal_id: uuid.UUID | None = None
    done: bool = False
    answered: threading.Event = field(default_factory=threading.Event, repr=False)
    #: Called (in the writer's thread) when answered: wakes an asyncio waiter.
    on_answer: Callable[[], None] | None = field(default=None, repr=False)
    _document: Document | None = field(default=None, repr=False)
    _error: BaseException | None = field(default=None, repr=False)

    def succeed(self, document: Document) -> None:
        self._document, self.done = document, True
        self._wake()

    def fail(self, error: BaseException) -> None:
        self._error, self.done = error, True
        self._wake()

    def _wake(self) -> None:
        self.answered.set()
        if self.on_answer is not None:
            self.on_answer()

    def result(self) -> Document:
        if self._error is not None:
            raise self._error
        assert self._document is not None, "a ticket is answered before its thread leaves the numbering lock"
        return self._document


def _spec(ticket: _Ticket) -> JournalSpec:
    assert ticket.spec is not None, "the writer resolves the journal before numbering"
    return ticket.spec


def lock_key(aggregate_id: uuid.UUID) -> int:
    return int.from_bytes(aggregate_id.bytes[:8], "big", signed=True)


class RegistryApplication(ServiceApplication):
    # Journals are read on every registration: keep them cached and fast-forward them from the store.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "256", "AGGREGATE_CACHE_FASTFORWARD": "y"}
    ddl: ClassVar[str] = duplicates.DDL + directory_app.DDL
    #: Restriction marks a card may carry (RegistrySettings.restriction_marks, set by the composition root).
    restriction_marks: frozenset[str] = DEFAULT_MARKS
    #: The organization's time zone: registration dates and every "today" of a check (RegistrySettings.timezone).
    timezone: str = "Europe/Moscow"

    def local_date(self, moment: datetime | None = None) -> date:
        """The date in the organization's time zone (now, or of a moment)."""
        return (moment or datetime.now(UTC)).astimezone(ZoneInfo(self.timezone)).date()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Group commit: registrations queue tickets; one writer thread numbers and saves all it finds queued.
        self._tickets: queue.SimpleQueue[_Ticket | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._plans: dict[str, JournalPlan] = {}
        schema = getattr(getattr(self.recorder, "datastore", None), "schema", None) or "public"
        self._search_path = sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))

    # -- journals as data -------------------------------------------------------------------------------------------
    def plan(self, org: str) -> JournalPlan:
        """The organization's journals: set by an administrator, else its file, else the default file."""
        cached = self._plans.get(org)
        if cached is not None:
            return cached
        try:
            book: JournalBook = self.repository.get(JournalBook.create_id(org))
            plan = plan_from_data(book.plan) if book.plan is not None else None
        except AggregateNotFoundError:
            plan = None
        plan = plan or file_plan(org) or default_plan()
        self._plans[org] = plan
        return plan

    def set_plan(self, org: str, data: list[dict[str, Any]], set_by: str) -> JournalPlan:
        plan = plan_from_data(data)  # refuses a plan that is wrong before anything is saved
        try:
            book: JournalBook = self.repository.get(JournalBook.create_id(org))
        except AggregateNotFoundError:
            book = JournalBook(org)
        book.set_plan(plan_to_data(plan), set_by)
        self.save(book)
        self._plans.pop(org, None)
        return plan

    # -- registration -------------------------------------------------------------------------------------------------
    def register(self, cmd: Registration) -> Document:
        """Give the next number of the kind's journal and save number and card in one transaction.

        Group commit: the registration is queued for the registry's writer thread, which takes everything queued at
        once, numbers it from one read of each journal and saves numbers and cards in one transaction per journal.
        Under load one transaction carries many registrations; alone a registration waits for nobody. A card the
        domain refuses gets no number and the others go on.

        Between replicas a PostgreSQL advisory lock on the journal queues them first come, first served. The
        journal's optimistic concurrency (a conflicting save fails as a whole) stays as the safety net: the loser
        retries with the next number.
        """
        ticket = self._ticket(cmd)
        self._submit(ticket)
        ticket.answered.wait()
        return ticket.result()

    async def register_async(self, cmd: Registration) -> Document:
        """`register` for an asyncio caller: waits for the writer without a thread of its own."""
        ticket = self._ticket(cmd)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not answer.done():
                answer.set_result(None)

        def wake() -> None:
            loop.call_soon_threadsafe(settle)

        ticket.on_answer = wake
        self._submit(ticket)
        await answer
        return ticket.result()

    def check(self, cmd: Registration) -> None:
        """The card's own rules (fields per kind, dates, the restriction mark), before anything is stored; the
        journal, the directory's names and duplicates are checked when it is numbered."""
        check_card(cmd.card, cmd.reg_date, self.restriction_marks)
        if KIND_RULES[cmd.card.kind].at_signing:
            raise InvalidCard(
                "kind", f"a {cmd.card.kind.value} is numbered when it is signed: make a draft of it first"
            )

    def _ticket(self, cmd: Registration) -> _Ticket:
        self.check(cmd)
        return _Ticket(cmd)

    def _submit(self, ticket: _Ticket) -> None:
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write, name="registry-writer", daemon=True)
                    self._writer.start()
        self._tickets.put(ticket)

    def _write(self) -> None:
        """The writer: takes every ticket queued, registers them as one batch, answers each; until closed."""
        while True:
            first = self._tickets.get()
            if first is None:
                return
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while (ticket := self._tickets.get_nowait()) is not None:
                    batch.append(ticket)
            try:
                self._register_batch(batch)
            except BaseException as exc:
                for waiting in batch:
                    if not waiting.done:
                        waiting.fail(exc)

    def close(self) -> None:
        if self._writer is not None:
            self._tickets.put(None)
            self._writer.join(10)
        super().close()

    def _register_batch(self, tickets: list[_Ticket]) -> None:
        journals: dict[uuid.UUID, list[_Ticket]] = {}
        self._check_names(tickets)
        for ticket in (ticket for ticket in tickets if not ticket.done):
            cmd = ticket.cmd
            try:
                ticket.spec = self.plan(cmd.org).journal_for(cmd.card.kind, cmd.unit)
            except UnknownJournal as exc:
                ticket.fail(exc)
                continue
            ticket.journal_id = journal_id(cmd.org, ticket.spec, cmd.unit, cmd.reg_date.year)
            journals.setdefault(ticket.journal_id, []).append(ticket)
        for group in journals.values():
            self._number(group)
        for ticket in tickets:
            if not ticket.done:  # never leave a caller waiting
                ticket.fail(RuntimeError("the registration was not answered; try again"))

    # -- the directory: cards name people and units it knows ---------------------------------------------------------
    def _refusals(self, named: list[directory_app.Named]) -> list[InvalidField | None]:
        if not any(n.logins or n.unit for n in named):
            return [None] * len(named)
        with self.store.datastore.get_connection() as conn:  # one read, on an autocommit connection
            return directory_app.refusals(conn, named, self.store.datastore.schema)

    def check_named(self, named: directory_app.Named) -> None:
        """A card naming a person or unit unknown to the organization's directory is refused (422 naming the field)."""
        refusal = self._refusals([named])[0]
        if refusal is not None:
            raise refusal

    def _check_names(self, tickets: list[_Ticket]) -> None:
        """Refuse the batch's cards that name unknown people or units, with two queries for the whole batch."""
        named = [directory_app.named_on(t.cmd.card, t.cmd.org, t.cmd.unit) for t in tickets]
        refused = [(t, r) for t, r in zip(tickets, self._refusals(named), strict=True) if r is not None]
        # a repeat of a registration made before the directory changed gets its card, not a refusal
        caused = [Document.create_id(cause=t.cmd.cause) for t, _ in refused if t.cmd.cause]
        registered = self._existing(caused) if caused else set()
        for ticket, refusal in refused:
            if not (ticket.cmd.cause and Document.create_id(cause=ticket.cmd.cause) in registered):
                ticket.fail(refusal)

    def _number(self, group: list[_Ticket]) -> None:
        """Number a journal's tickets and save numbers and cards in one transaction that holds the journal's lock.

        The advisory lock is taken in the transaction that saves, on its connection (ServiceRecorder.transaction):
        it cannot silently end while the numbers are being given, and it ends with the commit. The duplicate
        lookups are written in the same transaction, so two registrations of one letter cannot miss each other.
        """
        first = group[0]
        for _ in range(20):
            numbered: list[tuple[_Ticket, Document]] = []
            repeats: list[tuple[_Ticket, _Ticket]] = []
            if group:
                try:
                    with self.store.transaction() as conn:
                        assert first.journal_id is not None
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(first.journal_id),))
                        conn.execute(self._search_path)  # the duplicate lookups live in the registry's schema
                        # under the lock: a cause another replica registered a moment ago is found, not numbered
                        group, repeats = self._unanswered(group)
                        journal = self._journal(first)
                        targets: dict[uuid.UUID, CardHolder] = {}
                        batch = duplicates.Batch(first.cmd.org)
                        found = duplicates.find(conn, first.cmd.org, [ticket.cmd.card for ticket in group])
                        for ticket, lookup in zip(group, found, strict=True):
                            document = self._register_one(
                                journal, ticket, batch.check(ticket.cmd.card, lookup), targets
                            )
                            if document is not None:
                                numbered.append((ticket, document))
                                batch.add(ticket.cmd.card, document.id, document.reg_number, lookup)
                        if numbered:
                            batch.remember(conn)
                            self.save(journal, *(document for _, document in numbered), *targets.values())
                except IntegrityError:
                    continue  # a replica without the lock took these numbers, or registered the same cause
            for ticket, document in numbered:
                ticket.succeed(document)
            for repeat, original in repeats:
                self._answer_repeat(repeat, original.result)
            return
        for ticket in group:
            ticket.fail(RuntimeError("registration kept conflicting on the journal; try again"))

    def _register_one(
        self, journal: Journal, ticket: _Ticket, found: duplicates.Found, targets: dict[uuid.UUID, CardHolder]
    ) -> Document | None:
        """Number one card (or refuse it: then it gets no number and the batch goes on)."""
        cmd = ticket.cmd
        try:
            links = list(cmd.links)
            if found.duplicate is not None:
                if not cmd.confirm_duplicate:
                    raise DuplicateLetter(found.duplicate)
                links.append((LinkType.DUPLICATE_OF, found.duplicate.document_id))
            if found.repeat_of is not None and cmd.card.kind in (
                DocumentKind.CITIZEN_APPEAL,
                DocumentKind.CITIZEN_ORAL_APPEAL,
            ):
                links.append((LinkType.REPEAT_OF, found.repeat_of.document_id))
            linked = [(link_type, self._target(target, cmd.org, targets)) for link_type, target in dict.fromkeys(links)]
            document = register(
                journal,
                _spec(ticket),
                cmd.card,
                reg_date=cmd.reg_date,
                org=cmd.org,
                unit=cmd.unit,
                registered_by=cmd.registered_by,
                correlation_id=cmd.correlation_id,
                cause=cmd.cause,
                fingerprint=cmd.fingerprint,
                links=[{"link_type": link_type.value, "target_id": target.id} for link_type, target in linked],
                similar=found.similar,
            )
        except (ValueError, DomainError) as exc:
            ticket.fail(exc)
            return None
        for file in cmd.attachments:  # process 7: who added which file and when, from the registration on
            document.add_attachment(
                file.sha256,
                file.filename,
                file.media_type,
                file.size,
                cmd.registered_by,
                correlation_id=cmd.correlation_id,
                added_at=datetime.now(UTC),
            )
        for link_type, target in linked:
            target.link_from(link_type.value, document.id, cmd.registered_by)
        return document

    def _target(self, target_id: uuid.UUID, org: str, loaded: dict[uuid.UUID, CardHolder]) -> CardHolder:
        """A link's target, loaded once per batch; it must be a card of the same organization."""
        if target_id not in loaded:
            try:
                target = self.card(target_id)
            except DocumentNotFound:
                raise InvalidField(f"no document {target_id} to link to", field="links.target_id") from None
            if target.org != org:
                raise InvalidField(f"no document {target_id} to link to", field="links.target_id")
            loaded[target_id] = target
        return loaded[target_id]

    def _unanswered(self, group: list[_Ticket]) -> tuple[list[_Ticket], list[tuple[_Ticket, _Ticket]]]:
        """Answer tickets whose cause is registered already; of repeats within the group, number only the first.

        Returns the tickets to number, and (repeat, first) pairs to answer once the first is numbered.
        """
        caused = {id(ticket): Document.create_id(cause=ticket.cmd.cause) for ticket in group if ticket.cmd.cause}
        known = self._existing(list(caused.values()))
        todo: list[_Ticket] = []
        repeats: list[tuple[_Ticket, _Ticket]] = []
        first_of: dict[uuid.UUID, _Ticket] = {}
        for ticket in group:
            document_id = caused.get(id(ticket))
            if document_id is None:
                todo.append(ticket)
            elif document_id in known:
                self._answer_repeat(ticket, functools.partial(self.document, document_id))
            elif document_id in first_of:
                repeats.append((ticket, first_of[document_id]))
            else:
                first_of[document_id] = ticket
                todo.append(ticket)
        return todo, repeats

    @staticmethod
    def _answer_repeat(ticket: _Ticket, original: Callable[[], Document]) -> None:
        """A repeated cause gets the card registered for it, if it is the same request."""
        try:
            document = original()
        except Exception as exc:
            ticket.fail(exc)
            return
        if document.fingerprint != ticket.cmd.fingerprint:
            ticket.fail(CauseReused(f"{ticket.cmd.cause} was used for another request (document {document.id})"))
        else:
            ticket.succeed(document)

    def _journal(self, ticket: _Ticket) -> Journal:
        assert ticket.spec is not None
        assert ticket.journal_id is not None
        try:
            journal: Journal = self.load(ticket.journal_id)  # type: ignore[assignment]
        except AggregateNotFoundError:
            journal = Journal(ticket.cmd.org, ticket.spec.sequence_key(ticket.cmd.unit), ticket.cmd.reg_date.year)
        return journal

    # -- drafts, numbered when signed ---------------------------------------------------------------------------------
    def create_draft(
        self,
        card: Card,
        *,
        org: str,
        unit: str | None,
        created_by: str,
        today: date,
        cause: str | None = None,
        fingerprint: str | None = None,
        correlation_id: uuid.UUID | None = None,
    ) -> Draft:
        """A draft (проект) of a document numbered when signed; asking again with the same cause finds it."""
        if not KIND_RULES[card.kind].at_signing:
            raise InvalidCard("kind", f"a {card.kind.value} is registered when it is received or made, not drafted")
        check_card(card, today, self.restriction_marks)
        self.check_named(directory_app.named_on(card, org, unit))
        self.plan(org).journal_for(card.kind, unit)  # a draft nobody could register is refused now
        if cause is not None:
            existing = Draft.create_id(cause=cause)
            if self._existing([existing]):
                draft = self.draft(existing)
                if draft.fingerprint != fingerprint:
                    raise CauseReused(f"{cause} was used for another request (draft {draft.id})")
                return draft
        draft = Draft(
            org=org,
            unit=unit,
            created_by=created_by,
            card=card.stored(),
            cause=cause,
            fingerprint=fingerprint,
            correlation_id=correlation_id,
        )
        try:
            self.save(draft)
        except IntegrityError:  # the same cause, a moment ago
            return self.create_draft(
                card, org=org, unit=unit, created_by=created_by, today=today, cause=cause, fingerprint=fingerprint
            )
        return draft

    def revise_draft(self, draft_id: uuid.UUID, changes: dict[str, Any], *, revised_by: str, today: date) -> Draft:
        draft = self.draft(draft_id)
        if draft.status != "draft":
            raise NotADraft(f"document {draft_id} is registered as {draft.reg_number}: it has no new versions")
        card = draft.card()
        if "kind" in changes and changes["kind"] != card.kind:
            raise InvalidCard("kind", "a draft keeps its kind; make a new draft for another kind")
        changed = {name: value for name, value in changes.items() if getattr(card, name) != value}
        if not changed:
            return draft
        new = replace(card, **changed)
        check_card(new, today, self.restriction_marks)
        self.check_named(directory_app.named_on(new, draft.org, None))
        stored = {name: value for name, value in new.stored().items() if name in changed}
        draft.revise(revised_by, stored, version=draft.version_no + 1)
        self.save(draft)
        return draft

    def register_signed(
        self,
        conn: psycopg.Connection[Any],
        document_id: uuid.UUID,
        *,
        signed_by: str,
        reg_date: date,
        causation_id: uuid.UUID,
    ) -> None:
        """Routing reports the draft signed: number it (in the consumer's transaction, which holds the journal's lock).

        A draft registered already (the event delivered again) stays as it is.
        """
        try:
            draft = self.load(document_id)
        except AggregateNotFoundError:
            raise NotADraft(f"no draft {document_id} to register") from None
        if not isinstance(draft, Draft):
            raise NotADraft(f"{document_id} is not a draft")
        if draft.status != "draft":
            return
        card = draft.card()
        spec = self.plan(draft.org).journal_for(card.kind, draft.unit)
        jid = journal_id(draft.org, spec, draft.unit, reg_date.year)
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(jid),))
        try:
            journal: Journal = self.load(jid)  # type: ignore[assignment]
        except AggregateNotFoundError:
            journal = Journal(draft.org, spec.sequence_key(draft.unit), reg_date.year)
        number_draft(journal, spec, draft, reg_date=reg_date, registered_by=signed_by, causation_id=causation_id)
        self.stage(journal, draft)

    # -- links --------------------------------------------------------------------------------------------------------
    def link(self, source_id: uuid.UUID, link_type: LinkType, target_id: uuid.UUID, *, linked_by: str) -> CardHolder:
        source, target = self.card(source_id), self.card(target_id)
        link(source, link_type, target, linked_by)
        self.save(source, target)
        return source

    # -- explicit grants (Decree No. 1233 of 03.11.1994: a ДСП document is read by the head's permission) ------------
    def person_org(self, login: str) -> str:
        """The organization of an active person of the directory (a login is one person in the region)."""
        with self.store.datastore.get_connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT org, active FROM {} WHERE login = %s").format(
                    sql.Identifier(self.store.datastore.schema, "dir_people")
                ),
                (login,),
            ).fetchone()
        if row is None:
            raise InvalidField(f"{login} is not a person in the directory", field="login")
        if not row["active"]:
            raise InvalidField(f"{login} is deactivated in the directory", field="login")
        return str(row["org"])

    def grant_access(
        self,
        document_id: uuid.UUID,
        *,
        grantee: str,
        grantee_org: str,
        by: str,
        reason: str,
        until: date | None = None,
    ) -> CardHolder:
        """Let a person read the card; the same grant again changes nothing, another reason or day replaces it."""

        def grant(card: CardHolder) -> tuple[CardHolder, bool]:
            earlier = card.grants.get(grant_key(grantee, grantee_org))
            if earlier is not None and (earlier["reason"], earlier["until"]) == (reason, until):
                return card, False
            card.grant_access(
                org=card.org,
                grantee=grantee,
                grantee_org=grantee_org,
                by=by,
                reason=reason,
                until=until,
                granted_at=datetime.now(UTC),
            )
            return card, True

        return self._change_card(document_id, "access was granted", grant)

    def revoke_access(self, document_id: uuid.UUID, grantee: str, *, by: str, reason: str | None) -> dict[str, Any]:
        """Withdraw a person's grant; returns the grant withdrawn."""

        def revoke(card: CardHolder) -> tuple[dict[str, Any], bool]:
            grant = next((g for g in card.grants.values() if g["login"] == grantee), None)
            if grant is None:
                raise GrantNotFound(document_id, grantee)
            card.revoke_access(org=card.org, grantee=grantee, grantee_org=grant["org"], by=by, reason=reason)
            return grant, True

        return self._change_card(document_id, "access was revoked", revoke)

    def _change_card(self, document_id: uuid.UUID, what: str, change: Callable[[CardHolder], tuple[T, bool]]) -> T:
        """Load the card, change it (`change` answers its result and whether it changed anything) and save it;
        from a fresh load again when another request changed the card meanwhile."""
        for _ in range(20):
            card = self.card(document_id)
            result, changed = change(card)
            if not changed:
                return result
            try:
                self.save(card)
            except IntegrityError:
                continue  # the card changed meanwhile: look again
            return result
        raise ConcurrencyConflict(f"document {document_id} kept changing while {what}; try again")

    # -- reading ------------------------------------------------------------------------------------------------------
    def card(self, document_id: uuid.UUID) -> CardHolder:
        """A registered document or a draft."""
        try:
            found: Any = self.repository.get(document_id)
        except AggregateNotFoundError:
            raise DocumentNotFound(document_id) from None
        if not isinstance(found, (Document, Draft)):
            raise DocumentNotFound(document_id)
        return found

    def document(self, document_id: uuid.UUID) -> Document:
        found = self.card(document_id)
        if not isinstance(found, Document):
            raise DocumentNotFound(document_id)
        return found

    def draft(self, document_id: uuid.UUID) -> Draft:
        found = self.card(document_id)
        if not isinstance(found, Draft):
            raise DocumentNotFound(document_id)
        return found

    def history(self, document_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every event of the document, in order: what happened, when, by whom, what changed."""
        self.card(document_id)
        out = []
        for stored in self.recorder.select_events(document_id):
            domain_event = self.mapper.to_domain_event(stored)
            state = {k: v for k, v in vars(domain_event).items() if not k.startswith("originator_")}
            name = type(domain_event).__name__
            if name == "AttachmentTextExtracted":  # the text itself is for search, not for the history
                state["text"] = f"{len(state['text'])} characters"
            when = state.pop("timestamp")
            who = next((state.get(k) for k in _ACTORS if state.get(k)), None)
            out.append(
                {"version": domain_event.originator_version, "event": name, "at": when, "by": who, "changes": state}
            )
        return out

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
    ) -> tuple[dict[str, Any], bool]:
        """Attach a stored file to the card (process 7: who, what, when); the same file again changes nothing.

        Returns the card's attachment and whether it was added now.
        """

        def attach(card: CardHolder) -> tuple[tuple[dict[str, Any], bool], bool]:
            existing = attachment(card, sha256)  # perhaps the same file, attached a moment ago
            if existing is not None:
                return (existing, False), False
            card.add_attachment(
                sha256,
                filename,
                media_type,
                size,
                added_by,
                correlation_id=correlation_id,
                added_at=datetime.now(UTC),
            )
            added = attachment(card, sha256)
            assert added is not None
            return (added, True), True

        return self._change_card(document_id, "a file was attached", attach)


#: Who did it, as each event names them.
_ACTORS = ("registered_by", "created_by", "revised_by", "added_by", "linked_by", "set_by", "by")
