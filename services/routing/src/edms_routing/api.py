"""Routing HTTP API: thin, translates HTTP to application commands and back.

Who may do what (the actor checks) is the domain's (only the executor reports, only the controller accepts, ...);
the API adds what needs the caller's token or the directory: the `head` role of the document's organization for a
resolution, and that every login named is a person of that organization in the directory (422 naming the field).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from psycopg import sql
from pydantic import BaseModel, Field

from edms_contracts.routing import AssignmentStatus, Decision
from edms_routing import projections
from edms_routing.application import (
    AssignmentNotFound,
    DistributionNotFound,
    Order,
    RequestNotFound,
    RouteNotFound,
    RoutingApplication,
)
from edms_routing.domain import STEPS, Assignment, Distribution, NotYours, Route
from edms_runtime.auth import CurrentPrincipal, Principal, readable
from edms_runtime.errors import InvalidField
from edms_runtime.http import Database, application_dependency
from edms_runtime.text import RequestBody

router = APIRouter(tags=["routing"])

Routing = Annotated[RoutingApplication, Depends(application_dependency(RoutingApplication))]
Conn = psycopg.Connection[Any]


# -- views -----------------------------------------------------------------------------------------------------------
class RouteView(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    process: str
    stages: list[str]
    current_stage: str
    closed: bool
    participants: list[str] = Field(description="Who acts at the current stage")
    waiting_for: list[str] = Field(description="Approvers whose decision the current stage waits for")
    deadline: date | None
    draft_version: int
    signed_by: str | None
    resolutions: list[uuid.UUID]
    open_assignments: list[uuid.UUID]
    decisions: list[dict[str, Any]] = Field(description="Every approval decision on every version, in order")
    log: list[dict[str, Any]] = Field(description="Stages as they started and completed")
    version: int


def route_view(route: Route) -> RouteView:
    stage = route.stage or {}
    return RouteView(
        id=route.id,
        document_id=route.document_id,
        process=route.process,
        stages=route.stages,
        current_stage=route.current_stage,
        closed=route.closed,
        participants=list(stage.get("participants", [])),
        waiting_for=route.pending_approvers(),
        deadline=stage.get("deadline"),
        draft_version=route.draft_version,
        signed_by=route.signed_by,
        resolutions=route.resolutions,
        open_assignments=route.open_assignments,
        decisions=route.decisions,
        log=route.log,
        version=route.version,
    )


class ChildView(BaseModel):
    id: uuid.UUID
    executor: str
    status: AssignmentStatus
    deadline: date


class AssignmentView(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    resolution_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    status: AssignmentStatus
    text: str
    author: str
    executor: str
    co_executors: list[str]
    controller: str = Field(description="Who accepts: the controller, or the author when none was named")
    deadline: date
    initial_deadline: date
    overdue: bool
    late: bool = Field(description="Done after its deadline, or extended only after the deadline had passed")
    done_on: date | None
    reports: list[dict[str, Any]]
    returns: list[dict[str, Any]]
    extensions: list[dict[str, Any]]
    children: list[ChildView]
    version: int


def assignment_view(routing: RoutingApplication, assignment: Assignment) -> AssignmentView:
    children = [routing.assignment(child) for child in assignment.children]
    return AssignmentView(
        id=assignment.id,
        document_id=assignment.document_id,
        resolution_id=assignment.resolution_id,
        parent_id=assignment.parent_id,
        status=AssignmentStatus(assignment.status),
        text=assignment.text,
        author=assignment.author,
        executor=assignment.executor,
        co_executors=assignment.co_executors,
        controller=assignment.acceptor,
        deadline=assignment.deadline,
        initial_deadline=assignment.initial_deadline,
        overdue=assignment.overdue(routing.today()),
        late=assignment.late,
        done_on=assignment.done_on,
        reports=assignment.reports,
        returns=assignment.returns,
        extensions=assignment.extensions,
        children=[
            ChildView(id=c.id, executor=c.executor, status=AssignmentStatus(c.status), deadline=c.deadline)
            for c in children
        ],
        version=assignment.version,
    )


class OverviewItem(BaseModel):
    assignment_id: uuid.UUID
    document_id: uuid.UUID
    parent_id: uuid.UUID | None
    executor: str
    unit: str | None
    status: AssignmentStatus
    deadline: date
    overdue: bool


# -- requests -------------------------------------------------------------------------------------------------
class AssignmentOrder(RequestBody):
    executor: str = Field(min_length=1, description="Login of the responsible executor")
    co_executors: list[str] = Field(default_factory=list, description="Logins of co-executors")
    controller: str | None = Field(default=None, description="Login of the controller; the author when none")
    deadline: date | None = Field(default=None, description="Without it the document's control deadline applies")


class ResolutionRequest(RequestBody):
    text: str = Field(min_length=1)
    assignments: list[AssignmentOrder] = Field(min_length=1, max_length=100)


class CreatedAssignment(BaseModel):
    id: uuid.UUID
    executor: str
    deadline: date
    status: AssignmentStatus


class ResolutionCreated(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    assignments: list[CreatedAssignment]


class ReassignRequest(RequestBody):
    text: str = Field(min_length=1)
    assignments: list[AssignmentOrder] = Field(min_length=1, max_length=100)


class ChildrenCreated(BaseModel):
    parent_id: uuid.UUID
    assignments: list[CreatedAssignment]


class ReportRequest(RequestBody):
    text: str = Field(min_length=1)
    attachments: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, description="SHA-256 of files attached in the registry"
    )


class ReportCreated(BaseModel):
    id: uuid.UUID
    assignment_id: uuid.UUID
    status: AssignmentStatus


class AcceptRequest(RequestBody):
    remarks: str | None = None


class ReturnRequest(RequestBody):
    reason: str = Field(min_length=1)


class ExtensionRequestBody(RequestBody):
    new_deadline: date
    reason: str = Field(min_length=1)


class ExtensionCreated(BaseModel):
    id: uuid.UUID
    assignment_id: uuid.UUID
    status: str
    new_deadline: date
    late: bool = Field(description="Asked after the deadline had passed: granting it will not hide the lateness")


class RefuseRequest(RequestBody):
    reason: str = Field(min_length=1)


class GrantRequest(RequestBody):
    remarks: str | None = None


class ApprovalRequest(RequestBody):
    approvers: list[str] = Field(default_factory=list, description="Logins approving at the first approval stage")
    stages: dict[str, list[str]] = Field(default_factory=dict, description="Approvers of other approval stages")
    mode: Literal["sequential", "parallel"] | None = Field(default=None, description="Default: the template's")
    quorum: int | None = Field(default=None, ge=1, description="Approvals that complete a parallel stage")


class DecisionRequest(RequestBody):
    decision: Decision
    remarks: str | None = None
    delegate_to: str | None = None


class ApproverRequest(RequestBody):
    login: str = Field(min_length=1)


class SignRequest(RequestBody):
    pass


class DistributionRequest(RequestBody):
    recipients: list[Annotated[str, Field(pattern=r"^(unit|person|external):.+$")]] = Field(
        min_length=1, description="'unit:<code>', 'person:<login>' or 'external:<name>'"
    )


class DistributionView(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    distributed_by: str
    distributed_on: date
    recipients: list[dict[str, Any]]


def distribution_view(distribution: Distribution) -> DistributionView:
    return DistributionView(
        id=distribution.id,
        document_id=distribution.document_id,
        distributed_by=distribution.distributed_by,
        distributed_on=distribution.distributed_on,
        recipients=[{"recipient": r, **distribution.steps[r]} for r in distribution.recipients],
    )


class AcknowledgeRequest(RequestBody):
    step: Literal["received", "opened", "acknowledged"]
    recipient: str | None = Field(default=None, description="Default: person:<the caller>")


class OriginalRequest(RequestBody):
    holder: str = Field(min_length=1, description="A login, 'unit:<code>' or 'archive'")
    note: str | None = None


class OriginalView(BaseModel):
    document_id: uuid.UUID
    holder: str | None
    since: date | None
    trail: list[dict[str, Any]]


class Task(BaseModel):
    task: str = Field(description="resolve, execute, accept, approve, sign or extension (decide on one)")
    document_id: uuid.UUID
    title: str | None
    assignment_id: uuid.UUID | None
    route_id: uuid.UUID | None
    stage: str | None
    request_id: uuid.UUID | None
    deadline: date | None
    overdue: bool
    for_login: str | None = Field(description="Whose task: the caller, or whom the caller acts for")


# -- helpers -----------------------------------------------------------------------------------------------------------
def _known(conn: Conn, login: str, org: str, field: str) -> dict[str, Any]:
    """A person of the organization's directory, active: else 422 naming the field."""
    person = projections.person(conn, login)
    if person is None or person["org"] != org:
        raise InvalidField(f"{login!r} is not in the directory of {org}", field=field)
    if not person["active"]:
        raise InvalidField(f"{login!r} has left (deactivated in the directory)", field=field)
    return person


def _orders(conn: Conn, orders: list[AssignmentOrder], org: str, today: date, prefix: str) -> list[Order]:
    checked = []
    for i, order in enumerate(orders):
        where = f"{prefix}[{i}]"
        person = _known(conn, order.executor, org, f"{where}.executor")
        for j, login in enumerate(order.co_executors):
            _known(conn, login, org, f"{where}.co_executors[{j}]")
        if order.controller is not None:
            _known(conn, order.controller, org, f"{where}.controller")
        if order.deadline is not None and order.deadline < today:
            raise InvalidField(f"the deadline {order.deadline} is before today ({today})", field=f"{where}.deadline")
        checked.append(Order(order.executor, order.co_executors, order.controller, order.deadline, person["unit"]))
    return checked


def _route(principal: Principal, routing: RoutingApplication, document_id: uuid.UUID) -> Route:
    return readable(principal, routing.route_of(document_id), or_raise=RouteNotFound(document_id))


def _assignment(principal: Principal, routing: RoutingApplication, assignment_id: uuid.UUID) -> Assignment:
    return readable(principal, routing.assignment(assignment_id), or_raise=AssignmentNotFound(assignment_id))


def _roles(pool: Any) -> Any:
    def lookup(org: str, role: str) -> list[str]:
        with pool.connection() as conn:
            return projections.logins_with_role(conn, org, role)

    return lookup


# -- routes ---------------------------------------------------------------------------------------------------
@router.get("/documents/{document_id}/route", response_model=RouteView)
def get_route(document_id: uuid.UUID, principal: CurrentPrincipal, routing: Routing) -> RouteView:
    """The document's route: the stage it waits at, who acts there, every decision and stage so far."""
    return route_view(_route(principal, routing, document_id))


class RerouteRequest(RequestBody):
    process: str = Field(min_length=1, description="The route template's process, e.g. 15-citizen-appeal")


@router.put("/documents/{document_id}/route", response_model=RouteView)
def reroute(document_id: uuid.UUID, body: RerouteRequest, principal: CurrentPrincipal, routing: Routing) -> RouteView:
    """Put the document on another process's route while nothing has been done on its route (a clerk's
    correction); an unknown template is 422 naming `process`."""
    route = _route(principal, routing, document_id)
    if not principal.has_role("clerk", "registrar", "admin") or principal.org != route.org:
        raise _forbidden("a clerk, registrar or administrator of the document's organization changes its route")
    return route_view(routing.reroute(document_id, process=body.process, by=principal.sub))


@router.post("/documents/{document_id}/resolutions", response_model=ResolutionCreated, status_code=201)
def issue_resolution(
    document_id: uuid.UUID, body: ResolutionRequest, principal: CurrentPrincipal, routing: Routing, pool: Database
) -> ResolutionCreated:
    """A head's resolution (резолюция) with its assignments: only a `head` of the document's organization."""
    route = _route(principal, routing, document_id)
    if not principal.has_role("head") or principal.org != route.org:
        raise _forbidden("a resolution is written by a head (role `head`) of the document's organization")
    today = routing.today()
    with pool.connection() as conn:
        orders = _orders(conn, body.assignments, route.org, today, "assignments")
        document = projections.document(conn, document_id)
    template = routing.processes[route.process]
    if template.answer_days is not None and document and document.get("reg_date"):
        latest = routing.default_deadline(route, document)
        for i, order in enumerate(orders):
            if order.deadline is not None and order.deadline > latest:
                raise InvalidField(
                    f"an appeal is answered within {template.answer_days} days of registration, by {latest} "
                    "(59-ФЗ art. 12); ask for an extension instead",
                    field=f"assignments[{i}].deadline",
                )
    resolution, assignments = routing.issue_resolution(
        document_id,
        author=principal.sub,
        text=body.text,
        orders=orders,
        default_deadline=routing.default_deadline(route, document),
    )
    return ResolutionCreated(id=resolution.id, document_id=document_id, assignments=_created(assignments))


def _created(assignments: list[Assignment]) -> list[CreatedAssignment]:
    return [
        CreatedAssignment(id=a.id, executor=a.executor, deadline=a.deadline, status=AssignmentStatus(a.status))
        for a in assignments
    ]


def _forbidden(detail: str) -> Exception:
    return NotYours(detail)


# -- assignments ------------------------------------------------------------------------------------------------------
@router.get("/assignments/{assignment_id}", response_model=AssignmentView)
def get_assignment(assignment_id: uuid.UUID, principal: CurrentPrincipal, routing: Routing) -> AssignmentView:
    """An assignment: status, deadline (and the first one), executor, controller, reports, children, extensions."""
    return assignment_view(routing, _assignment(principal, routing, assignment_id))


@router.get("/documents/{document_id}/assignments", response_model=list[OverviewItem])
def document_assignments(
    document_id: uuid.UUID, principal: CurrentPrincipal, routing: Routing, pool: Database
) -> list[OverviewItem]:
    """Every assignment on the document (the whole tree: `parent_id` links the parts), from the read model."""
    _route(principal, routing, document_id)
    today = routing.today()
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT * FROM assignments WHERE document_id = %s ORDER BY deadline, assignment_id", (document_id,)
        ).fetchall()
    return [_overview_item(row, today) for row in rows]


@router.post("/assignments/{assignment_id}/report", response_model=ReportCreated, status_code=201)
def report(
    assignment_id: uuid.UUID, body: ReportRequest, principal: CurrentPrincipal, routing: Routing
) -> ReportCreated:
    """The executor reports it executed; it waits for the controller."""
    _assignment(principal, routing, assignment_id)
    report_id = routing.report(assignment_id, by=principal.sub, text=body.text, attachments=body.attachments)
    return ReportCreated(id=report_id, assignment_id=assignment_id, status=AssignmentStatus.REPORTED)


@router.post("/assignments/{assignment_id}/accept", response_model=AssignmentView)
def accept(
    assignment_id: uuid.UUID,
    principal: CurrentPrincipal,
    routing: Routing,
    body: AcceptRequest | None = None,
) -> AssignmentView:
    """The controller (the author when none) accepts the report: done."""
    _assignment(principal, routing, assignment_id)
    return assignment_view(routing, routing.accept(assignment_id, by=principal.sub))


@router.post("/assignments/{assignment_id}/return", response_model=AssignmentView)
def return_assignment(
    assignment_id: uuid.UUID, body: ReturnRequest, principal: CurrentPrincipal, routing: Routing
) -> AssignmentView:
    """The controller returns the report for more work: in progress again."""
    _assignment(principal, routing, assignment_id)
    return assignment_view(routing, routing.return_(assignment_id, by=principal.sub, reason=body.reason))


@router.post("/assignments/{assignment_id}/assignments", response_model=ChildrenCreated, status_code=201)
def reassign(
    assignment_id: uuid.UUID, body: ReassignRequest, principal: CurrentPrincipal, routing: Routing, pool: Database
) -> ChildrenCreated:
    """The executor gives parts to others; the parent is done only when the template's rule for its parts holds."""
    parent = _assignment(principal, routing, assignment_id)
    with pool.connection() as conn:
        orders = _orders(conn, body.assignments, parent.org, routing.today(), "assignments")
    children = routing.reassign(assignment_id, by=principal.sub, text=body.text, orders=orders)
    return ChildrenCreated(parent_id=assignment_id, assignments=_created(children))


@router.post("/assignments/{assignment_id}/extension-requests", response_model=ExtensionCreated, status_code=201)
def request_extension(
    assignment_id: uuid.UUID, body: ExtensionRequestBody, principal: CurrentPrincipal, routing: Routing
) -> ExtensionCreated:
    """The executor asks to move the deadline (process 12); the assignment's author decides."""
    _assignment(principal, routing, assignment_id)
    request_id, assignment = routing.request_extension(
        assignment_id, by=principal.sub, new_deadline=body.new_deadline, reason=body.reason
    )
    request = next(e for e in assignment.extensions if e["id"] == request_id)
    return ExtensionCreated(
        id=request_id,
        assignment_id=assignment_id,
        status=request["status"],
        new_deadline=body.new_deadline,
        late=request["requested_on"] > request["previous_deadline"],
    )


@router.get("/extension-requests/{request_id}", response_model=AssignmentView)
def get_extension_request(request_id: uuid.UUID, principal: CurrentPrincipal, routing: Routing) -> AssignmentView:
    """The assignment the request belongs to, with the whole history of its extensions."""
    assignment = readable(principal, routing.request(request_id), or_raise=RequestNotFound(request_id))
    return assignment_view(routing, assignment)


@router.post("/extension-requests/{request_id}/grant", response_model=AssignmentView)
def grant_extension(
    request_id: uuid.UUID, principal: CurrentPrincipal, routing: Routing, body: GrantRequest | None = None
) -> AssignmentView:
    """The assignment's author (the resolution's, for a top-level one) grants it: the deadline moves."""
    readable(principal, routing.request(request_id), or_raise=RequestNotFound(request_id))
    return assignment_view(routing, routing.decide_extension(request_id, by=principal.sub, grant=True))


@router.post("/extension-requests/{request_id}/refuse", response_model=AssignmentView)
def refuse_extension(
    request_id: uuid.UUID, body: RefuseRequest, principal: CurrentPrincipal, routing: Routing
) -> AssignmentView:
    readable(principal, routing.request(request_id), or_raise=RequestNotFound(request_id))
    return assignment_view(
        routing, routing.decide_extension(request_id, by=principal.sub, grant=False, reason=body.reason)
    )


# -- approval and signing ---------------------------------------------------------------------------------------
@router.post("/documents/{document_id}/approval", response_model=RouteView, status_code=201)
def send_for_approval(
    document_id: uuid.UUID, body: ApprovalRequest, principal: CurrentPrincipal, routing: Routing, pool: Database
) -> RouteView:
    """The draft's author sends it for approval: approvers (with the template's own), sequential or parallel."""
    route = _route(principal, routing, document_id)
    first = next((s.name for s in routing.processes[route.process].stage_specs if s.type == "approval"), None)
    approvers = dict(body.stages)
    if body.approvers:
        if first is None:
            raise InvalidField(f"process {route.process} has no approval stage", field="approvers")
        approvers[first] = [*body.approvers, *approvers.get(first, [])]
    with pool.connection() as conn:
        for name, logins in body.stages.items():
            for i, login in enumerate(logins):
                _known(conn, login, route.org, f"stages.{name}[{i}]")
        for i, login in enumerate(body.approvers):
            _known(conn, login, route.org, f"approvers[{i}]")
        if route.signer is not None and any(s.type == "signing" for s in routing.processes[route.process].stage_specs):
            _known(conn, route.signer, route.org, "signer")
    route = routing.send_for_approval(
        document_id, by=principal.sub, approvers=approvers, mode=body.mode, quorum=body.quorum, roles=_roles(pool)
    )
    return route_view(route)


@router.post("/documents/{document_id}/approval/decisions", response_model=RouteView, status_code=201)
def decide(
    document_id: uuid.UUID, body: DecisionRequest, principal: CurrentPrincipal, routing: Routing, pool: Database
) -> RouteView:
    """An approver's decision: approve, approve with remarks, reject (back to the author, reasons required),
    delegate (to another person of the organization)."""
    route = _route(principal, routing, document_id)
    if body.delegate_to is not None:
        with pool.connection() as conn:
            _known(conn, body.delegate_to, route.org, "delegate_to")
    return route_view(
        routing.decide(
            document_id,
            by=principal.sub,
            decision=body.decision.value,
            remarks=body.remarks,
            delegate_to=body.delegate_to,
            roles=_roles(pool),
        )
    )


@router.post("/documents/{document_id}/approval/approvers", response_model=RouteView, status_code=201)
def add_approver(
    document_id: uuid.UUID, body: ApproverRequest, principal: CurrentPrincipal, routing: Routing, pool: Database
) -> RouteView:
    """The author adds an approver to the running approval stage."""
    route = _route(principal, routing, document_id)
    with pool.connection() as conn:
        _known(conn, body.login, route.org, "login")
    return route_view(routing.add_approver(document_id, by=principal.sub, login=body.login))


@router.post("/documents/{document_id}/sign", response_model=RouteView)
def sign(
    document_id: uuid.UUID,
    principal: CurrentPrincipal,
    routing: Routing,
    pool: Database,
    body: SignRequest | None = None,
) -> RouteView:
    """The signer signs the approved draft; the registry numbers it when it hears DocumentSigned."""
    _route(principal, routing, document_id)
    with pool.connection() as conn:
        person = projections.person(conn, principal.sub) or {}
    route = routing.sign(
        document_id,
        by=principal.sub,
        name=person.get("full_name"),
        position=person.get("position"),
        roles=_roles(pool),
    )
    return route_view(route)


# -- distribution and originals -------------------------------------------------------------------------------------
@router.post("/documents/{document_id}/distributions", response_model=DistributionView, status_code=201)
def distribute(
    document_id: uuid.UUID, body: DistributionRequest, principal: CurrentPrincipal, routing: Routing, pool: Database
) -> DistributionView:
    """Send the document to units, people and external correspondents (рассылка)."""
    route = _route(principal, routing, document_id)
    with pool.connection() as conn:
        for i, recipient in enumerate(body.recipients):
            kind, _, value = recipient.partition(":")
            if kind == "person":
                _known(conn, value, route.org, f"recipients[{i}]")
            elif kind == "unit":
                row = conn.execute(
                    "SELECT 1 FROM units WHERE org = %s AND code = %s AND NOT closed", (route.org, value)
                ).fetchone()
                if row is None:
                    raise InvalidField(f"no open unit {value!r} in {route.org}", field=f"recipients[{i}]")
    if len(set(body.recipients)) != len(body.recipients):
        raise InvalidField("a recipient is named twice", field="recipients")
    return distribution_view(routing.distribute(document_id, by=principal.sub, recipients=body.recipients))


@router.get("/distributions/{distribution_id}", response_model=DistributionView)
def get_distribution(distribution_id: uuid.UUID, principal: CurrentPrincipal, routing: Routing) -> DistributionView:
    """Who received, opened and acknowledged it, and when."""
    distribution = readable(
        principal, routing.distribution(distribution_id), or_raise=DistributionNotFound(distribution_id)
    )
    return distribution_view(distribution)


@router.post("/distributions/{distribution_id}/acknowledgements", response_model=DistributionView, status_code=201)
def acknowledge(
    distribution_id: uuid.UUID, body: AcknowledgeRequest, principal: CurrentPrincipal, routing: Routing
) -> DistributionView:
    """A recipient received, opened or acknowledged it: a person for themselves, a unit's people for the unit, a
    clerk for an external correspondent."""
    readable(principal, routing.distribution(distribution_id), or_raise=DistributionNotFound(distribution_id))
    recipient = body.recipient or f"person:{principal.sub}"
    kind, _, value = recipient.partition(":")
    allowed = (
        (kind == "person" and value == principal.sub)
        or (kind == "unit" and value == principal.unit)
        or (kind == "external" and principal.has_role("clerk", "registrar", "admin"))
    )
    if not allowed:
        raise _forbidden(f"{principal.sub} cannot acknowledge for {recipient}")
    assert body.step in STEPS
    return distribution_view(
        routing.acknowledge(distribution_id, recipient=recipient, step=body.step, by=principal.sub)
    )


@router.put("/documents/{document_id}/original", response_model=OriginalView)
def move_original(
    document_id: uuid.UUID, body: OriginalRequest, principal: CurrentPrincipal, routing: Routing, pool: Database
) -> OriginalView:
    """The paper original changes hands: who holds it since when, handed by whom (the trail is kept)."""
    route = _route(principal, routing, document_id)
    if not (body.holder.startswith("unit:") or body.holder == "archive"):
        with pool.connection() as conn:
            _known(conn, body.holder, route.org, "holder")
    return original_view(routing.move_original(document_id, holder=body.holder, by=principal.sub, note=body.note))


@router.get("/documents/{document_id}/original", response_model=OriginalView)
def get_original(document_id: uuid.UUID, principal: CurrentPrincipal, routing: Routing) -> OriginalView:
    return original_view(_route(principal, routing, document_id))


def original_view(route: Route) -> OriginalView:
    current = route.original or {}
    return OriginalView(
        document_id=route.document_id,
        holder=current.get("holder"),
        since=current.get("since"),
        trail=route.original_trail,
    )


# -- my work now ------------------------------------------------------------------------------------------------------
INBOX_LIMIT = 500


def inbox(conn: Conn, principal: Principal, today: date, limit: int = INBOX_LIMIT) -> list[Task]:
    """Every task on the caller's desk (and on the desks of those the caller acts for today), overdue first."""
    condition, params = principal.read_condition()
    columns = "task_id, task, document_id, title, assignment_id, route_id, stage, request_id, deadline, login"
    # Overdue first is earliest deadline first (an overdue task's deadline is before every other's): each branch
    # walks its index in that order and stops at the limit, so a desk with 10k tasks costs what one with 50 does.
    roles = {f"role{i}": role for i, role in enumerate(sorted(principal.roles))}
    branches = [
        "login = %(me)s",
        "login IN (SELECT principal FROM delegations WHERE deputy = %(me)s AND NOT revoked "
        "AND starts <= %(today)s AND ends >= %(today)s)",
        *(f"org = %(reader_org)s AND role = %({name})s" for name in roles),
    ]
    union = " UNION ALL ".join(
        f"(SELECT {columns} FROM tasks WHERE {branch} AND {condition} ORDER BY deadline, task_id LIMIT %(limit)s)"  # noqa: S608
        for branch in branches
    )
    rows = conn.execute(
        f"SELECT * FROM ({union}) t ORDER BY deadline, task_id LIMIT %(limit)s",  # noqa: S608
        {**params, **roles, "me": principal.sub, "today": today, "limit": limit},
    ).fetchall()
    return [
        Task(
            task=row["task"],
            document_id=row["document_id"],
            title=row["title"],
            assignment_id=row["assignment_id"],
            route_id=row["route_id"],
            stage=row["stage"],
            request_id=row["request_id"],
            deadline=row["deadline"],
            overdue=row["deadline"] is not None and row["deadline"] < today,
            for_login=row["login"],
        )
        for row in rows
    ]


@router.get("/inbox", response_model=list[Task])
def get_inbox(
    principal: CurrentPrincipal,
    routing: Routing,
    pool: Database,
    limit: Annotated[int, Query(ge=1, le=INBOX_LIMIT)] = INBOX_LIMIT,
) -> list[Task]:
    """My work now: resolve, execute, accept, approve, sign, decide on an extension; overdue first."""
    with pool.connection() as conn:
        return inbox(conn, principal, routing.today(), limit)


SSE = "text/event-stream"


@router.get(
    "/inbox/stream",
    response_class=StreamingResponse,
    responses={
        200: {"description": "Server-Sent Events: `inbox` events (data: the inbox as JSON)", "content": {SSE: {}}}
    },
)
async def inbox_stream(principal: CurrentPrincipal, routing: Routing, pool: Database, request: Request) -> Any:
    """The same inbox pushed live (Server-Sent Events): an `inbox` event now and after every change of the caller's
    tasks; a comment every 15 s keeps proxies from closing the stream."""
    database_url = request.app.state.parts.settings.database_url
    with pool.connection() as conn:
        acting_for = projections.acting_for(conn, principal.sub, routing.today())
    keys = {principal.sub, *acting_for, *(f"role:{role}@{principal.org}" for role in principal.roles)}

    def snapshot() -> str:
        with pool.connection() as conn:
            tasks = inbox(conn, principal, routing.today())
        return json.dumps([task.model_dump(mode="json") for task in tasks], ensure_ascii=False)

    async def events() -> AsyncIterator[str]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
            await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(projections.CHANNEL)))
            yield f"event: inbox\ndata: {await asyncio.to_thread(snapshot)}\n\n"
            while not await request.is_disconnected():
                changed = False
                async for notify in listener.notifies(timeout=15.0):
                    if notify.payload in keys:
                        changed = True
                        break
                if changed:
                    yield f"event: inbox\ndata: {await asyncio.to_thread(snapshot)}\n\n"
                else:
                    yield ": keep-alive\n\n"

    return StreamingResponse(events(), media_type=SSE, headers={"Cache-Control": "no-cache"})


class RouteItem(BaseModel):
    route_id: uuid.UUID
    document_id: uuid.UUID
    title: str | None
    reg_number: str | None
    unit: str | None
    process: str | None
    stage: str | None = Field(description="The stage the route is at (or completed last, with `last_outcome`)")
    stage_deadline: date | None
    last_outcome: str | None


class Overview(BaseModel):
    unit: str | None = Field(description="The unit at the top of the view; none: the whole organization")
    units: list[str]
    assignments: list[OverviewItem]
    routes: list[RouteItem]


_BELOW = (
    "WITH RECURSIVE below(code) AS (SELECT %(top)s::text UNION SELECT u.code FROM units u JOIN below b "
    "ON u.parent = b.code WHERE u.org = %(reader_org)s) SELECT code FROM below ORDER BY code"
)


@router.get("/overview", response_model=Overview)
def overview(
    principal: CurrentPrincipal,
    routing: Routing,
    pool: Database,
    unit: Annotated[str | None, Query(description="A unit at or below the caller's; default the caller's")] = None,
    open_only: bool = True,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> Overview:
    """A head's view: every route and every assignment in their unit and the units below it, overdue first
    (DOMAIN.md: heads see the progress of every process live)."""
    if not principal.has_role("head", "admin"):
        raise _forbidden("the overview of units is for heads")
    today = routing.today()
    with pool.connection() as conn:
        units = _units_below(conn, principal, principal.unit) if principal.unit else None
        if unit is not None and units is not None and unit not in units:
            raise _forbidden(f"unit {unit} is not at or below the caller's unit {principal.unit}")
        top = unit or principal.unit
        if top is not None:
            units = _units_below(conn, principal, top)
        condition, params = principal.read_condition("a")
        values = {**params, "units": units or [], "everything": units is None, "today": today, "limit": limit}
        assignments = conn.execute(
            f"SELECT a.* FROM assignments a WHERE {condition} "  # noqa: S608
            "AND (%(everything)s OR a.unit = ANY(%(units)s)) "
            "AND (%(open_only)s IS FALSE OR a.status <> 'done') "
            "ORDER BY a.deadline < %(today)s AND a.status <> 'done' DESC, a.deadline LIMIT %(limit)s",
            {**values, "open_only": open_only},
        ).fetchall()
        condition, params = principal.read_condition("r")
        routes = conn.execute(
            "SELECT r.route_id, r.document_id, d.title, d.reg_number, d.unit, r.process, r.stage, "  # noqa: S608
            "r.stage_deadline, r.last_outcome FROM routes r JOIN documents d ON d.document_id = r.document_id "
            f"WHERE {condition} AND (%(everything)s OR d.unit = ANY(%(units)s)) "
            "ORDER BY r.stage_deadline NULLS LAST, d.reg_number LIMIT %(limit)s",
            {**values, **params},
        ).fetchall()
    return Overview(
        unit=top,
        units=units or [],
        assignments=[_overview_item(row, today) for row in assignments],
        routes=[RouteItem.model_validate(row) for row in routes],
    )


def _units_below(conn: Conn, principal: Principal, top: str) -> list[str]:
    rows = conn.execute(_BELOW, {"top": top, "reader_org": principal.org}).fetchall()
    return [str(row["code"]) for row in rows]


def _overview_item(row: dict[str, Any], today: date) -> OverviewItem:
    return OverviewItem(
        assignment_id=row["assignment_id"],
        document_id=row["document_id"],
        parent_id=row["parent_id"],
        executor=row["executor"],
        unit=row["unit"],
        status=AssignmentStatus(row["status"]),
        deadline=row["deadline"],
        overdue=row["status"] != "done" and row["deadline"] < today,
    )
