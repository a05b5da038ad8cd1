"""Control's events (v1) beyond opening a card: deadline moves with their reasons, reports, closing on time or late,
"due soon" and "overdue" reminders addressed to the executor, the controller and the head, and the business
calendar's corrections. Published by control on `edms.control.card.v1`, keyed by the card (one card's events stay
in order). Dates are the organization's dates (the business day they count for).
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from edms_contracts.events import Event
from edms_contracts.topics import CONTROL_CARD


class CardEvent(Event):
    """Base of a card's events: the card and what it controls (a document, or one of its assignments)."""

    topic = CONTROL_CARD
    abstract_event = True

    card_id: uuid.UUID
    document_id: uuid.UUID
    assignment_id: uuid.UUID | None = Field(default=None, description="Set on an assignment's card")


class ControlAssignmentOpened(CardEvent):
    """An assignment (поручение) was put on control with the deadline its author set (the document's own card is
    `ControlCardOpened`)."""

    assignment_id: uuid.UUID
    parent_id: uuid.UUID | None = Field(default=None, description="The assignment this one is a part of")
    reg_number: str = Field(description="The document's registration number, when control knows it")
    org: str
    access: str | None = None
    deadline: date
    executor: str = Field(description="Login of the responsible executor")
    co_executors: list[str] = Field(default_factory=list)
    controller: str = Field(description="Login of the controller (the author when routing named none)")
    author: str
    unit: str | None = Field(default=None, description="The executor's unit")
    opened_on: date


class ControlDeadlineMoved(CardEvent):
    """The deadline moved: an extension (продление срока) or a change of the business calendar."""

    cause: str = Field(pattern="^(extension|calendar)$")
    previous_deadline: date
    deadline: date
    counts: bool = Field(description="False for an extension asked after the deadline: lateness is judged by the old")
    reason: str
    on: date


class ControlCardReported(CardEvent):
    """The executor reported the assignment done; it waits for the controller."""

    by: str
    on: date


class ControlCardReturned(CardEvent):
    """The controller returned the report: the assignment is in progress again."""

    by: str
    reason: str
    on: date


class ControlCardClosed(CardEvent):
    """Done (снято с контроля) on `done_on`: late when after the deadline lateness is judged by."""

    done_on: date
    deadline: date
    late: bool
    by: str


class Recipient(BaseModel):
    """Who a reminder is addressed to, and as what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    login: str
    role: str = Field(pattern="^(executor|co_executor|controller|head)$")


class ControlReminder(CardEvent):
    """Base of the reminders: the deadline they are about and who they are addressed to."""

    abstract_event = True

    deadline: date
    on: date = Field(description="The business day the reminder was issued")
    executor: str | None = None
    recipients: list[Recipient]


class ControlDueSoon(ControlReminder):
    """The deadline is near (a configurable number of working days ahead): once per card and deadline."""


class ControlOverdue(ControlReminder):
    """The deadline day has ended and the card is open: escalated to the head, once per card and deadline."""


class CalendarCorrected(Event):
    """An administrator corrected a year of the business calendar (regional days off, working days): version N."""

    topic = CONTROL_CARD

    calendar_id: uuid.UUID
    year: int
    version: int
    days_off: list[date]
    working_days: list[date]
    reason: str
    by: str
