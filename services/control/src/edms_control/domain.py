"""Control cards, the business calendar's corrections and deadline rules: pure domain, no I/O.

Deadline rules (DOMAIN.md, "Deadlines"), each naming its source in `DeadlineRule.source`:
- an official document is executed within 10 days of its registration unless another deadline is set (the
  regional instruction on records management; DOMAIN.md "Deadlines", first rule);
- "срочно" (urgent) = 3 days, "оперативно" (operative) = 10 days (Rules of records management in federal executive
  bodies, Decree of the Government of the RF No. 477 of 15.06.2009, item 60); "весьма срочно" = 1 working day;
  no mark and no date = 1 month; a citizen's appeal = 30 days from registration (Federal Law No. 59-ФЗ, art. 12);
- deadlines count from the registration date; a deadline that falls on a non-working day moves to the preceding
  working day (Rules of records management in state and local self-government bodies, Order of Rosarchiv No. 44 of
  22.05.2019);
- stage norms of incoming correspondence in working days (DOMAIN.md "Deadlines": registration 1, resolution 1,
  draft 1, approval 3, signing 1);
- an extension granted before the deadline moves the deadline; one asked after it does not (DOMAIN.md
  "Deadlines", executive discipline).
"""

from __future__ import annotations

import calendar as _months
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from edms_contracts import Urgency
from edms_runtime.calendar import ProductionCalendar
from edms_runtime.errors import InvalidField

NAMESPACE = uuid.UUID("3e0f2a77-5b2d-4d59-9c1a-6b8e5f7d9e21")

#: The region's time zone: a business day ends at midnight there (an event's day when it carries no date).
REGION_TIMEZONE = ZoneInfo("Europe/Moscow")

#: The statuses a card can be in at a moment (issue 9, item 3).
ON_TIME, DUE_SOON, OVERDUE, DONE_ON_TIME, DONE_LATE = "on_time", "due_soon", "overdue", "done_on_time", "done_late"


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it has no such day (31.01 + 1 month = 28.02)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _months.monthrange(year, month)[1]))


@dataclass(frozen=True)
class DeadlineRule:
    """A deadline rule as data: calendar days, months or working days from the start, and where the rule comes from.

    A calendar-day (or month) deadline that falls on a non-working day moves to the preceding working day (Order of
    Rosarchiv No. 44 of 22.05.2019); a working-day deadline is always a working day.
    """

    name: str
    source: str
    calendar_days: int = 0
    months: int = 0
    working_days: int = 0
    title: str = ""

    def deadline(self, start: date, calendar: ProductionCalendar) -> date:
        if self.working_days:
            return calendar.add_working_days(start, self.working_days)
        end = add_months(start, self.months) if self.months else start + timedelta(days=self.calendar_days)
        return calendar.preceding_working_day(end)


_ROSARCHIV = "Order of Rosarchiv No. 44 of 22.05.2019 (a deadline on a non-working day moves to the preceding one)"
_DECREE_477 = "Decree of the Government of the RF No. 477 of 15.06.2009, item 60"
_STAGE_NORMS = "DOMAIN.md 'Deadlines': stage norms for incoming correspondence"

#: Every rule by name (`GET :8103/calendar/deadline?rule=NAME`).
RULES: dict[str, DeadlineRule] = {
    rule.name: rule
    for rule in (
        DeadlineRule("default", f"Official documents: 10 days unless another is set (DOMAIN.md); {_ROSARCHIV}", 10,
                     title="10 days"),
        DeadlineRule("urgent", f"'срочно' = 3 days: {_DECREE_477}; {_ROSARCHIV}", 3, title="срочно"),
        DeadlineRule("operative", f"'оперативно' = 10 days: {_DECREE_477}; {_ROSARCHIV}", 10, title="оперативно"),
        DeadlineRule("very_urgent", f"'весьма срочно' = the next working day: {_DECREE_477}", working_days=1,
                     title="весьма срочно"),
        DeadlineRule("unmarked", f"No mark and no date = 1 month: {_DECREE_477}; {_ROSARCHIV}", months=1,
                     title="no mark, no date"),
        DeadlineRule("appeal", f"Citizens' appeals: 30 days from registration, Federal Law No. 59-ФЗ art. 12; "
                     f"{_ROSARCHIV}", 30, title="обращение гражданина"),
        DeadlineRule("stage_registration", f"{_STAGE_NORMS}: reception, registration, distribution 1 working day",
                     working_days=1),
        DeadlineRule("stage_resolution", f"{_STAGE_NORMS}: preparing and sending the resolution 1 working day",
                     working_days=1),
        DeadlineRule("stage_draft", f"{_STAGE_NORMS}: drafting the answer 1 working day", working_days=1),
        DeadlineRule("stage_approval", f"{_STAGE_NORMS}: approving the draft 3 working days", working_days=3),
        DeadlineRule("stage_signing", f"{_STAGE_NORMS}: signing 1 working day", working_days=1),
    )
}  # fmt: skip

#: Stage norms in working days by the stage names routing uses (the discipline report compares real durations).
STAGE_NORMS: dict[str, int] = {
    name.removeprefix("stage_"): rule.working_days for name, rule in RULES.items() if name.startswith("stage_")
}

URGENCY_RULES: dict[Urgency, str] = {
    Urgency.NONE: "default",
    Urgency.URGENT: "urgent",
    Urgency.OPERATIVE: "operative",
    Urgency.VERY_URGENT: "very_urgent",
}
#: The regional rule set by urgency mark: 10 days by default (official documents), federal urgency marks on top.
REGIONAL_RULES: dict[Urgency, DeadlineRule] = {urgency: RULES[name] for urgency, name in URGENCY_RULES.items()}

#: Kinds under the law on citizens' appeals (59-ФЗ): 30 days whatever the mark.
APPEAL_KINDS = frozenset({"citizen_appeal", "citizen_oral_appeal"})


class UnknownRule(InvalidField):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown deadline rule {name!r}; rules: {', '.join(sorted(RULES))}", field="rule")


def rule_named(name: str) -> DeadlineRule:
    try:
        return RULES[name]
    except KeyError:
        raise UnknownRule(name) from None


def deadline_for(reg_date: date, urgency: Urgency, calendar: ProductionCalendar) -> tuple[date, DeadlineRule]:
    rule = REGIONAL_RULES[urgency]
    return rule.deadline(reg_date, calendar), rule


def rule_for_document(kind: str, urgency: Urgency) -> DeadlineRule:
    """The rule a registered document is controlled by: 59-ФЗ for appeals, else its urgency mark."""
    return RULES["appeal"] if kind in APPEAL_KINDS else REGIONAL_RULES[urgency]


# -- the calendar as data ---------------------------------------------------------------------------------------------
class InconsistentCalendar(InvalidField):
    pass


def check_corrections(year: int, days_off: list[date], working_days: list[date], reason: str) -> None:
    """A year's corrections must be of that year, not name a day both off and working, and give a reason."""
    errors: list[tuple[str, str]] = []
    for name, days in (("days_off", days_off), ("working_days", working_days)):
        errors += [(name, f"{d.isoformat()} is not in {year}") for d in days if d.year != year]
        errors += [(name, f"{d.isoformat()} is listed twice") for d in sorted(set(days)) if days.count(d) > 1]
    errors += [
        ("working_days", f"{d.isoformat()} is also a day off") for d in sorted(set(days_off) & set(working_days))
    ]
    if not reason.strip():
        errors.append(("reason", "a correction of the calendar says why"))
    if errors:
        raise InconsistentCalendar(f"the corrections of {year} are inconsistent", errors=errors)


class CalendarYear(Aggregate):
    """The regional corrections of one year of the production calendar; every change is a new version."""

    @staticmethod
    def create_id(year: int, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"calendar-year/{year}")

    @event("Started")
    def __init__(self, year: int) -> None:
        self.year = year
        self.days_off: list[date] = []
        self.working_days: list[date] = []
        self.changes: list[dict[str, Any]] = []

    @event("Corrected")
    def correct(self, year: int, days_off: list[date], working_days: list[date], reason: str, by: str) -> None:
        self.days_off = sorted(days_off)
        self.working_days = sorted(working_days)
        self.changes.append(
            {"version": len(self.changes) + 1, "days_off": self.days_off, "working_days": self.working_days,
             "reason": reason, "by": by}
        )  # fmt: skip


# -- control cards ----------------------------------------------------------------------------------------------------
class Card(Aggregate):
    """What every control card does (контрольная карточка): a document's (`ControlCard`) or an assignment's
    (`AssignmentCard`), on control until done.

    It keeps the document's organization and access restriction mark (ДСП) for the read rule; cards opened before
    the mark was kept have none (None), as the registry's cards without a mark. `deadline` is the deadline now;
    `late_after` the one lateness is judged by (an extension asked after the deadline does not move it).
    """

    @staticmethod
    def create_id(document_id: uuid.UUID, **_: object) -> uuid.UUID:
        """One card per document and one per assignment: the id is derived from the subject's id."""
        return uuid.uuid5(NAMESPACE, f"control-card/{document_id}")

    def _setup(
        self,
        document_id: uuid.UUID,
        reg_number: str,
        reg_date: date,
        org: str,
        deadline: date,
        rule: str,
        access: str | None,
        unit: str | None,
        opened_on: date,
    ) -> None:
        self.document_id = document_id
        self.reg_number = reg_number
        self.reg_date = reg_date
        self.org = org
        self.deadline = deadline
        self.late_after = deadline
        self.rule = rule
        self.access = access
        self.unit = unit
        self.opened_on = opened_on
        self.kind = "document"
        self.assignment_id: uuid.UUID | None = None
        self.parent_id: uuid.UUID | None = None
        self.executor: str | None = None
        self.co_executors: list[str] = []
        self.controller: str | None = None
        self.author: str | None = None
        self.text: str | None = None
        self.done_on: date | None = None
        self.reported_on: date | None = None
        self.reminded: list[str] = []
        self.open_assignments: list[uuid.UUID] = []
        self.history: list[dict[str, Any]] = [
            {"on": opened_on, "what": "opened", "deadline": deadline, "reason": f"rule {rule}"}
        ]

    @property
    def subject_id(self) -> uuid.UUID:
        return self.assignment_id or self.document_id

    @property
    def closed(self) -> bool:
        return self.done_on is not None

    def status_on(self, today: date, calendar: ProductionCalendar, due_soon_days: int) -> str:
        """on_time / due_soon / overdue while open (overdue once the deadline day has ended), then done on time or
        late (DOMAIN.md "Deadlines": executive discipline)."""
        if self.done_on is not None:
            return DONE_ON_TIME if self.done_on <= self.late_after else DONE_LATE
        if today > self.late_after:
            return OVERDUE
        if calendar.working_days_between(today, self.deadline) <= due_soon_days:
            return DUE_SOON
        return ON_TIME

    # -- deadline changes -----------------------------------------------------------------------------------------
    def extend(self, new_deadline: date, requested_on: date, on: date, reason: str) -> None:
        """An extension granted before the deadline moves it; one asked after it does not (DOMAIN.md)."""
        counts = requested_on <= self.late_after
        why = reason if counts else f"{reason}; asked on {requested_on.isoformat()}, after the deadline: lateness stays"
        self._move(new_deadline, "extension", counts, why, on, self.deadline, *self._ids)

    def recalculate(self, new_deadline: date, reason: str, on: date) -> None:
        if new_deadline != self.deadline and not self.closed:
            self._move(new_deadline, "calendar", True, reason, on, self.deadline, *self._ids)

    @property
    def _ids(self) -> tuple[uuid.UUID, uuid.UUID | None]:
        """What the card's events carry besides their own fields: the document and the assignment."""
        return self.document_id, self.assignment_id

    @event("DeadlineMoved")
    def _move(
        self,
        deadline: date,
        cause: str,
        counts: bool,
        reason: str,
        on: date,
        previous_deadline: date,
        document_id: uuid.UUID,
        assignment_id: uuid.UUID | None,
    ) -> None:
        previous = self.deadline
        self.deadline = deadline
        if counts:
            self.late_after = deadline
        self.history.append(
            {"on": on, "what": "deadline_moved", "cause": cause, "from": previous, "deadline": deadline,
             "counts_for_lateness": counts, "reason": reason}
        )  # fmt: skip

    # -- execution ----------------------------------------------------------------------------------------------------
    def report(self, on: date, by: str, text: str) -> None:
        self._report(on, by, text, *self._ids)

    @event("Reported")
    def _report(self, on: date, by: str, text: str, document_id: uuid.UUID, assignment_id: uuid.UUID | None) -> None:
        self.reported_on = on
        self.history.append({"on": on, "what": "reported", "by": by, "reason": text})

    def return_for_work(self, on: date, by: str, reason: str) -> None:
        self._return(on, by, reason, *self._ids)

    @event("Returned")
    def _return(self, on: date, by: str, reason: str, document_id: uuid.UUID, assignment_id: uuid.UUID | None) -> None:
        self.reported_on = None
        self.history.append({"on": on, "what": "returned", "by": by, "reason": reason})

    @event("ExtensionNoted")
    def note_extension(self, on: date, what: str, by: str, reason: str) -> None:
        """An extension asked or refused: history only, the deadline stays."""
        self.history.append({"on": on, "what": what, "by": by, "reason": reason})

    def close(self, done_on: date, by: str) -> None:
        if not self.closed:
            self._close(done_on, by, done_on > self.late_after, self.late_after, *self._ids)

    @event("Closed")
    def _close(
        self,
        done_on: date,
        by: str,
        late: bool,
        deadline: date,
        document_id: uuid.UUID,
        assignment_id: uuid.UUID | None,
    ) -> None:
        self.done_on = done_on
        self.history.append({"on": done_on, "what": "closed", "by": by, "late": late})

    # -- a document's assignments ---------------------------------------------------------------------------------
    @event("AssignmentAdded")
    def add_assignment(self, assignment_id: uuid.UUID) -> None:
        self.open_assignments.append(assignment_id)

    @event("AssignmentDone")
    def assignment_done(self, assignment_id: uuid.UUID, on: date) -> None:
        self.open_assignments.remove(assignment_id)

    # -- reminders ----------------------------------------------------------------------------------------------------
    def reminder_key(self, kind: str) -> str:
        return f"{kind}/{self.deadline.isoformat()}"

    def due_reminder(self, today: date, calendar: ProductionCalendar, due_soon_days: int) -> str | None:
        """The reminder due now that was not sent yet for this deadline: `overdue` once the deadline day has ended,
        `due_soon` within `due_soon_days` working days of it."""
        if self.closed:
            return None
        if today > self.deadline:
            kind: str | None = "overdue"
        elif calendar.working_days_between(today, self.deadline) <= due_soon_days:
            kind = "due_soon"
        else:
            kind = None
        return kind if kind is not None and self.reminder_key(kind) not in self.reminded else None

    def remind(self, kind: str, on: date, recipients: list[dict[str, str]]) -> None:
        """Issue the reminder `kind` (`due_soon` or `overdue`) for the deadline now; the card remembers it."""
        remind = self._due_soon if kind == "due_soon" else self._overdue
        remind(on, self.deadline, recipients, self.executor, *self._ids)

    @event("DueSoon")
    def _due_soon(
        self,
        on: date,
        deadline: date,
        recipients: list[dict[str, str]],
        executor: str | None,
        document_id: uuid.UUID,
        assignment_id: uuid.UUID | None,
    ) -> None:
        self._reminded("due_soon", on, deadline, recipients)

    @event("Overdue")
    def _overdue(
        self,
        on: date,
        deadline: date,
        recipients: list[dict[str, str]],
        executor: str | None,
        document_id: uuid.UUID,
        assignment_id: uuid.UUID | None,
    ) -> None:
        self._reminded("overdue", on, deadline, recipients)

    def _reminded(self, kind: str, on: date, deadline: date, recipients: list[dict[str, str]]) -> None:
        self.reminded.append(f"{kind}/{deadline.isoformat()}")
        self.history.append({"on": on, "what": kind, "deadline": deadline, "recipients": recipients})


class ControlCard(Card):
    """The control card of a registered document: its rule's deadline from the registration date."""

    @event("Opened")
    def __init__(
        self,
        document_id: uuid.UUID,
        reg_number: str,
        reg_date: date,
        org: str,
        deadline: date,
        rule: str,
        access: str | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        unit: str | None = None,
    ) -> None:
        self._setup(document_id, reg_number, reg_date, org, deadline, rule, access, unit, reg_date)


class AssignmentCard(Card):
    """The control card of an assignment (поручение): the deadline its author set, the executor, the controller."""

    @staticmethod
    def create_id(assignment_id: uuid.UUID, **_: object) -> uuid.UUID:  # type: ignore[override]
        """Derived from the assignment's id, the same way as a document's card from the document's."""
        return Card.create_id(assignment_id)

    @event("Opened")
    def __init__(
        self,
        assignment_id: uuid.UUID,
        document_id: uuid.UUID,
        reg_number: str,
        reg_date: date,
        org: str,
        deadline: date,
        executor: str,
        controller: str,
        author: str,
        opened_on: date,
        co_executors: list[str] | None = None,
        unit: str | None = None,
        access: str | None = None,
        parent_id: uuid.UUID | None = None,
        text: str | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        self._setup(document_id, reg_number, reg_date, org, deadline, "set_by_author", access, unit, opened_on)
        self.kind = "assignment"
        self.assignment_id = assignment_id
        self.parent_id = parent_id
        self.executor = executor
        self.co_executors = list(co_executors or [])
        self.controller = controller
        self.author = author
        self.text = text
        self.history[0]["reason"] = f"set by {author}"
