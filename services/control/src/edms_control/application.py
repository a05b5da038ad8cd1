"""Control's write side: control cards of documents and assignments, the business calendar's corrections, reminders."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from psycopg import sql

from edms_contracts import Urgency
from edms_control.domain import (
    REGION_TIMEZONE,
    RULES,
    AssignmentCard,
    CalendarYear,
    Card,
    ControlCard,
    check_corrections,
    rule_for_document,
)
from edms_runtime.calendar import ProductionCalendar
from edms_runtime.errors import DomainError, NotFound
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.faults import ConcurrencyConflict


class CardNotFound(NotFound):
    def __init__(self, document_id: uuid.UUID) -> None:
        super().__init__(f"no control card for document {document_id} (yet), nor for an assignment of that id")


class CalendarChanged(DomainError):
    """Another correction of the year, or a card's event, was saved meanwhile: nothing was saved; send it again."""

    def __init__(self, year: int) -> None:
        super().__init__(f"the calendar of {year} or an open card changed meanwhile; nothing was saved, try again")


@dataclass(frozen=True)
class Moved:
    """A card whose deadline a change of the calendar moved, and why."""

    card_id: uuid.UUID
    subject_id: uuid.UUID
    previous: date
    deadline: date
    reason: str


class ControlApplication(ServiceApplication):
    #: The clock tests can move (PUT /clock when the composition root allows it): one row, shared by every replica.
    ddl: ClassVar[str] = """
    CREATE TABLE IF NOT EXISTS clock (
        id integer PRIMARY KEY CHECK (id = 1),
        today date NOT NULL
    );
    """
    #: The region's time zone: a business day ends at midnight there.
    timezone = REGION_TIMEZONE
    #: "Due soon" this many working days before the deadline (EDMS_CONTROL_DUE_SOON_DAYS).
    due_soon_days = 2
    #: Seconds the calendar's corrections are cached before the event store is asked for newer ones.
    calendar_seconds = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._calendar = ProductionCalendar()
        self._calendar_position = 0
        self._calendar_checked = 0.0
        self._calendar_lock = threading.Lock()

    # -- the clock ------------------------------------------------------------------------------------------------
    def today(self) -> date:
        """Today in the region: the set clock if one is set (tests, training), else the real one."""
        with self.store.datastore.get_connection() as conn:
            row = conn.execute(sql.SQL("SELECT today FROM {} WHERE id = 1").format(self._ident("clock"))).fetchone()
        if row is not None:
            today: date = row["today"]
            return today
        return self.real_today()

    def real_today(self) -> date:
        return datetime.now(self.timezone).date()

    def set_today(self, today: date | None) -> None:
        with self.store.datastore.get_connection() as conn, conn.transaction():
            if today is None:
                conn.execute(sql.SQL("DELETE FROM {}").format(self._ident("clock")))
            else:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (id, today) VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET today = %s"
                    ).format(self._ident("clock")),
                    (today, today),
                )

    def _ident(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.store.datastore.schema, name)

    # -- the calendar ---------------------------------------------------------------------------------------------
    @property
    def calendar(self) -> ProductionCalendar:
        """The production calendar with every year's latest corrections (re-read from the store at most once a
        `calendar_seconds`, so that every replica follows an administrator's change)."""
        now = time.monotonic()
        if now - self._calendar_checked < self.calendar_seconds:
            return self._calendar
        with self._calendar_lock:
            notifications = self.recorder.select_notifications(
                self._calendar_position + 1, 1000, topics=[CORRECTED_TOPIC]
            )
            for notification in notifications:
                event = self.mapper.to_domain_event(notification)
                state = vars(event)
                self._calendar = self._calendar.with_corrections(
                    state["year"], state["days_off"], state["working_days"]
                )
                self._calendar_position = notification.id
            self._calendar_checked = now
        return self._calendar

    def calendar_year(self, year: int) -> CalendarYear | None:
        try:
            found: CalendarYear = self.repository.get(CalendarYear.create_id(year))
        except AggregateNotFoundError:
            return None
        return found

    def correct_calendar(
        self,
        year: int,
        *,
        days_off: list[date],
        working_days: list[date],
        reason: str,
        by: str,
        open_cards: Iterable[uuid.UUID],
    ) -> tuple[CalendarYear, list[Moved]]:
        """A new version of the year's corrections; open cards whose deadline it changes are moved, with the reason.

        Document cards get their rule's deadline again; an assignment's deadline (set by a person) moves only when
        it now falls on a day off, to the preceding working day (Order of Rosarchiv No. 44 of 22.05.2019).
        """
        check_corrections(year, days_off, working_days, reason)
        calendar_year = self.calendar_year(year) or CalendarYear(year=year)
        calendar_year.correct(year=year, days_off=days_off, working_days=working_days, reason=reason, by=by)
        version = len(calendar_year.changes)
        new = self.calendar.with_corrections(year, days_off, working_days)
        why = f"calendar {year} version {version}: {reason}"
        today = self.today()
        moved: list[Moved] = []
        cards: list[Aggregate] = []
        for card_id in open_cards:
            card = self._card(card_id)
            if card is None or card.closed:
                continue
            rule = RULES.get(card.rule) if card.kind == "document" else None
            if rule is not None:
                deadline = rule.deadline(card.reg_date, new)
            else:
                deadline = new.preceding_working_day(card.deadline)
            if deadline != card.deadline:
                previous = card.deadline
                card.recalculate(deadline, why, today)
                cards.append(card)
                moved.append(Moved(card.id, card.subject_id, previous, deadline, why))
        try:
            self.save(calendar_year, *cards)
        except IntegrityError:
            raise CalendarChanged(year) from None
        self._calendar_checked = 0.0
        return calendar_year, moved

    # -- cards ------------------------------------------------------------------------------------------------------
    def _card(self, card_id: uuid.UUID) -> Card | None:
        try:
            found = self.load(card_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Card) else None

    def card_of(self, subject_id: uuid.UUID) -> Card:
        """The card of a document or of an assignment."""
        card = self._card(ControlCard.create_id(subject_id))
        if card is None:
            raise CardNotFound(subject_id)
        return card

    def open_card(
        self,
        *,
        document_id: uuid.UUID,
        reg_number: str,
        reg_date: date,
        org: str,
        urgency: Urgency,
        access: str | None,
        kind: str = "incoming_letter",
        deadline: date | None = None,
        unit: str | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        """A registered document goes on control: the deadline set on its card, else its rule's from registration."""
        rule = rule_for_document(kind, urgency)
        card = ControlCard(
            document_id=document_id,
            reg_number=reg_number,
            reg_date=reg_date,
            org=org,
            deadline=deadline or rule.deadline(reg_date, self.calendar),
            rule="set_on_card" if deadline else rule.name,
            access=access,
            unit=unit,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        self.save_once(card)

    def open_assignment(
        self,
        *,
        assignment_id: uuid.UUID,
        document_id: uuid.UUID,
        org: str | None,
        deadline: date,
        executor: str,
        co_executors: list[str],
        controller: str | None,
        author: str,
        unit: str | None,
        access: str | None,
        parent_id: uuid.UUID | None,
        opened_on: date,
        text: str | None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        """An assignment (поручение) goes on control with the deadline its author set; the document's card (when
        there is one) follows it, to be done with its last assignment."""
        card_id = ControlCard.create_id(assignment_id)
        if self.exists(card_id):
            return
        document = self._card(ControlCard.create_id(document_id))
        card = AssignmentCard(
            assignment_id=assignment_id,
            document_id=document_id,
            reg_number=document.reg_number if document else "",
            reg_date=document.reg_date if document else opened_on,
            org=org or (document.org if document else ""),
            deadline=deadline,
            executor=executor,
            controller=controller or author,
            author=author,
            opened_on=opened_on,
            co_executors=co_executors,
            unit=unit,
            access=access if access is not None else (document.access if document else None),
            parent_id=parent_id,
            text=text,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        self.save_once(card)
        if document is not None and not document.closed and parent_id is None:
            document.add_assignment(assignment_id)
            self.stage(document)

    def report(self, assignment_id: uuid.UUID, *, on: date, by: str, text: str) -> None:
        card = self._card(ControlCard.create_id(assignment_id))
        if card is not None and not card.closed:
            card.report(on=on, by=by, text=text)
            self.stage(card)

    def return_for_work(self, assignment_id: uuid.UUID, *, on: date, by: str, reason: str) -> None:
        card = self._card(ControlCard.create_id(assignment_id))
        if card is not None and not card.closed:
            card.return_for_work(on=on, by=by, reason=reason)
            self.stage(card)

    def extend(self, assignment_id: uuid.UUID, *, new_deadline: date, requested_on: date, on: date, by: str) -> None:
        card = self._card(ControlCard.create_id(assignment_id))
        if card is not None and not card.closed and card.deadline != new_deadline:
            card.extend(new_deadline, requested_on, on, f"extension granted by {by}")
            self.stage(card)

    def note_extension(self, assignment_id: uuid.UUID, *, on: date, what: str, by: str, reason: str) -> None:
        card = self._card(ControlCard.create_id(assignment_id))
        if card is not None and not card.closed:
            card.note_extension(on=on, what=what, by=by, reason=reason)
            self.stage(card)

    def accept(self, assignment_id: uuid.UUID, *, done_on: date, by: str) -> None:
        """The assignment is done; a document whose last open assignment this was is done the same day."""
        card = self._card(ControlCard.create_id(assignment_id))
        if card is None or card.closed:
            return
        card.close(done_on, by)
        self.stage(card)
        document = self._card(ControlCard.create_id(card.document_id))
        if document is not None and assignment_id in document.open_assignments:
            document.assignment_done(assignment_id, done_on)
            if not document.open_assignments:
                document.close(done_on, by)
            self.stage(document)

    # -- reminders --------------------------------------------------------------------------------------------------
    def remind(self, card_id: uuid.UUID, today: date, heads: list[str]) -> str | None:
        """Issue the reminder due on this card now, if any and not issued before for its deadline; returns its kind.

        Exactly once: the card records it, and a concurrent replica's save of the same card version fails.
        """
        card = self._card(card_id)
        if card is None:
            return None
        kind = card.due_reminder(today, self.calendar, self.due_soon_days)
        if kind is None:
            return None
        recipients = [{"login": card.executor, "role": "executor"}] if card.executor else []
        recipients += [{"login": login, "role": "co_executor"} for login in card.co_executors]
        if card.controller:
            recipients.append({"login": card.controller, "role": "controller"})
        recipients += [{"login": login, "role": "head"} for login in heads if login != card.executor]
        card.remind(kind, today, _unique(recipients))
        try:
            self.save(card)
        except (IntegrityError, ConcurrencyConflict):
            return None  # another replica (or the consumer) changed the card meanwhile: the next round decides
        return kind


def _unique(recipients: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in recipients:
        key = (r["login"], r["role"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


#: How eventsourcing names the calendar's corrections in the store (module:qualname of the event class).
CORRECTED_TOPIC = f"{CalendarYear.__module__}:CalendarYear.Corrected"
