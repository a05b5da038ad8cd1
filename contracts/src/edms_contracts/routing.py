"""Routing's events (v1): resolutions, assignments and their execution, extensions, approval, distribution, originals.

Published by routing on `edms.routing.route.v1`, keyed by the aggregate they belong to (a route, a resolution, an
assignment), so one assignment's events stay in order. Control keeps deadlines and executive discipline from them,
search indexes executors, controllers and statuses, archive records the outcome, the access rule learns who works on
a document. Dates are the organization's dates; the envelope's `occurred_at` says when it happened.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from edms_contracts.events import Event
from edms_contracts.topics import ROUTING_ROUTE


class AssignmentStatus(StrEnum):
    """Where an assignment (поручение) stands."""

    IN_PROGRESS = "in_progress"  # на исполнении
    REPORTED = "reported"  # исполнитель доложил, ждёт приёмки контролёром
    DONE = "done"  # принято: снято с контроля
    RETURNED = "returned"  # возвращено на доработку (снова на исполнении)


class Decision(StrEnum):
    """An approver's decision on a draft (согласование)."""

    APPROVE = "approve"
    APPROVE_WITH_REMARKS = "approve_with_remarks"
    REJECT = "reject"
    DELEGATE = "delegate"


class RouteEvent(Event):
    """Base of routing's events: the topic, and the document they concern (of the organization `org`)."""

    topic = ROUTING_ROUTE
    abstract_event = True

    document_id: uuid.UUID
    org: str | None = Field(default=None, description="The document's organization")


class AssignmentTerms(BaseModel):
    """Who executes an assignment, who controls it, by when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    assignment_id: uuid.UUID
    executor: str = Field(description="Login of the responsible executor (ответственный исполнитель)")
    co_executors: list[str] = Field(default_factory=list, description="Logins of co-executors (соисполнители)")
    controller: str | None = Field(default=None, description="Login of the controller; the author when none")
    deadline: date


class ResolutionIssued(RouteEvent):
    """A head's resolution (резолюция) on a document, with the assignments it makes."""

    resolution_id: uuid.UUID
    author: str
    text: str
    assignments: list[AssignmentTerms]


class AssignmentCreated(RouteEvent):
    """An assignment (поручение): from a resolution, re-assigned from a parent, or direct (processes 8 and 10)."""

    assignment_id: uuid.UUID
    resolution_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = Field(default=None, description="The assignment this one is a part of")
    author: str
    executor: str
    co_executors: list[str] = Field(default_factory=list)
    controller: str | None = None
    deadline: date
    text: str
    unit: str | None = Field(default=None, description="The executor's unit")
    access: str | None = None


class AssignmentReported(RouteEvent):
    """The executor reports the assignment executed (отчёт об исполнении); it waits for the controller."""

    assignment_id: uuid.UUID
    report_id: uuid.UUID
    reported_by: str
    text: str
    attachments: list[str] = Field(default_factory=list, description="SHA-256 of attached files")
    reported_on: date


class AssignmentAccepted(RouteEvent):
    """The controller accepts the report: the assignment is done (снято с контроля) on `done_on`."""

    assignment_id: uuid.UUID
    accepted_by: str
    done_on: date


class AssignmentReturned(RouteEvent):
    """The controller returns the report for more work: the assignment is in progress again."""

    assignment_id: uuid.UUID
    returned_by: str
    reason: str


class ExtensionRequested(RouteEvent):
    """The executor asks to move the deadline (продление срока, process 12)."""

    request_id: uuid.UUID
    assignment_id: uuid.UUID
    requested_by: str
    new_deadline: date
    reason: str
    requested_on: date


class ExtensionGranted(RouteEvent):
    """The resolution's author grants it: the deadline moves (asked after the deadline, lateness stays: control)."""

    request_id: uuid.UUID
    assignment_id: uuid.UUID
    decided_by: str
    previous_deadline: date
    new_deadline: date
    requested_on: date


class ExtensionRefused(RouteEvent):
    request_id: uuid.UUID
    assignment_id: uuid.UUID
    decided_by: str
    reason: str


class StageStarted(RouteEvent):
    """A stage of the document's route began (approval, signing, ...), with its participants and their deadlines."""

    route_id: uuid.UUID
    stage: str
    participants: list[str] = Field(description="Logins of who acts at this stage")
    deadline: date | None = None
    draft_version: int | None = None
    # Added in v1 (optional): how an approval stage runs.
    mode: str | None = Field(default=None, description="Approval stages: `sequential` (in order) or `parallel`")
    quorum: int | None = Field(default=None, description="Approvals that complete a parallel stage; none: all")
    participant_days: int | None = Field(
        default=None,
        description="Each participant's own deadline in working days: from the stage's start, or in a sequential "
        "stage from when their turn comes",
    )


class ApproverAdded(RouteEvent):
    """The draft's author added an approver to the running approval stage (mid-route)."""

    route_id: uuid.UUID
    stage: str
    approver: str
    added_by: str
    deadline: date | None = None


class ApprovalDecided(RouteEvent):
    """An approver's decision on the draft at a stage (согласование)."""

    route_id: uuid.UUID
    stage: str
    approver: str
    decision: Decision
    remarks: str | None = None
    delegate_to: str | None = None
    draft_version: int | None = None


class StageCompleted(RouteEvent):
    """A stage ended: `approved` (all approved, or the quorum) or `rejected` (back to the author)."""

    route_id: uuid.UUID
    stage: str
    outcome: str = Field(pattern="^(approved|rejected|signed|done)$")


class DocumentDistributed(RouteEvent):
    """The document was sent to recipients (рассылка): units, people, external correspondents."""

    distribution_id: uuid.UUID
    distributed_by: str
    recipients: list[str] = Field(description="Recipients as 'unit:<code>', 'person:<login>' or 'external:<name>'")


class DistributionAcknowledged(RouteEvent):
    """A recipient received, opened or acknowledged the document."""

    distribution_id: uuid.UUID
    recipient: str
    step: str = Field(pattern="^(received|opened|acknowledged)$")


class OriginalMoved(RouteEvent):
    """The paper original changed hands (местонахождение подлинника)."""

    holder: str = Field(description="Who holds it now: a login, or 'unit:<code>', or 'archive'")
    handed_by: str
    since: date
    note: str | None = None
