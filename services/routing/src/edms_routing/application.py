"""Routing's write side: commands in, events saved. The only place that loads and saves routing's aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from edms_routing.domain import (
    DEFAULT_EXECUTION_DAYS,
    PROCESSES,
    Assignment,
    Distribution,
    ExtensionRequest,
    Resolution,
    Route,
    RuleBroken,
    start_act_route,
    start_route,
)
from edms_routing.templates import RouteTemplate, StageTemplate
from edms_runtime.calendar import ProductionCalendar
from edms_runtime.errors import InvalidField, NotFound
from edms_runtime.eventstore import ServiceApplication

T = TypeVar("T")
AggregateT = TypeVar("AggregateT", bound=Aggregate)


class RouteNotFound(NotFound):
    def __init__(self, document_id: uuid.UUID) -> None:
        super().__init__(f"no route for document {document_id} (yet)")


class AssignmentNotFound(NotFound):
    def __init__(self, assignment_id: uuid.UUID) -> None:
        super().__init__(f"no assignment {assignment_id}")


class RequestNotFound(NotFound):
    def __init__(self, request_id: uuid.UUID) -> None:
        super().__init__(f"no extension request {request_id}")


class DistributionNotFound(NotFound):
    def __init__(self, distribution_id: uuid.UUID) -> None:
        super().__init__(f"no distribution {distribution_id}")


@dataclass(frozen=True)
class Order:
    """One assignment a resolution (or a re-assignment) makes; logins checked against the directory already."""

    executor: str
    co_executors: list[str] = field(default_factory=list)
    controller: str | None = None
    deadline: date | None = None
    unit: str | None = None


#: Logins of everyone with a role in an organization (the directory, routing's read model).
RoleLookup = Callable[[str, str], list[str]]


class RoutingApplication(ServiceApplication):
    #: The organization's time zone: every "today" (reported on, done on, deadlines before today).
    timezone: str = "Europe/Moscow"
    #: Save attempts of a command that meets a concurrent change of the same aggregate (another decision).
    attempts = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock: Callable[[], date] = self._local_today
        self.processes: dict[str, RouteTemplate] = PROCESSES
        #: The business calendar the stage norms are counted on (working days): the federal production calendar
        #: unless the service is given the region's corrections (the read model's, from control's events).
        self.calendar: Callable[[], ProductionCalendar] = ProductionCalendar

    def _local_today(self) -> date:
        return self.local_date()

    def local_date(self, moment: datetime | None = None) -> date:
        """The date in the organization's time zone (now, or of a moment such as an event's occurred_at)."""
        return (moment or datetime.now(UTC)).astimezone(ZoneInfo(self.timezone)).date()

    def today(self) -> date:
        return self.clock()

    # -- loading ----------------------------------------------------------------------------------------------------
    def _get(self, cls: type[AggregateT], aggregate_id: uuid.UUID, missing: NotFound) -> AggregateT:
        try:
            aggregate = self.load(aggregate_id)
        except AggregateNotFoundError:
            raise missing from None
        if not isinstance(aggregate, cls):
            raise missing
        return aggregate

    def route_of(self, document_id: uuid.UUID) -> Route:
        return self._get(Route, Route.create_id(document_id), RouteNotFound(document_id))

    def assignment(self, assignment_id: uuid.UUID) -> Assignment:
        return self._get(Assignment, assignment_id, AssignmentNotFound(assignment_id))

    def distribution(self, distribution_id: uuid.UUID) -> Distribution:
        return self._get(Distribution, distribution_id, DistributionNotFound(distribution_id))

    def _retrying(self, command: Callable[[], T]) -> T:
        """Run a load-change-save command again when another request changed the same aggregate meanwhile:
        concurrent decisions on one stage end in one outcome, and the later one is judged on it."""
        for attempt in range(self.attempts):
            try:
                return command()
            except IntegrityError:
                if attempt == self.attempts - 1:
                    raise RuleBroken("the document changed at the same moment; try again") from None
        raise AssertionError("unreachable")

    # -- policies: documents from the registry ----------------------------------------------------------------------
    def start_for(
        self,
        document_id: uuid.UUID,
        kind: str,
        *,
        org: str,
        access: str | None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        author: str | None = None,
        signer: str | None = None,
        on: date | None = None,
    ) -> None:
        """Start the kind's route (once: a redelivered registration, or the registration of a signed draft whose
        route started with the draft, finds it started)."""
        if self.exists(Route.create_id(document_id)):
            return
        route = start_route(
            document_id,
            kind,
            org=org,
            access=access,
            correlation_id=correlation_id,
            causation_id=causation_id,
            author=author,
            signer=signer,
            today=on or self.today(),
            calendar=self.calendar(),
            templates={kind: template for template in self.processes.values() for kind in template.kinds},
        )
        self.save_once(route)

    def start_act_approval(
        self,
        act_id: uuid.UUID,
        *,
        org: str,
        drafted_by: str,
        commission: list[str],
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        on: date | None = None,
    ) -> None:
        """The archive's disposal act goes to the expert commission (once: a redelivery finds the route)."""
        if self.exists(Route.create_id(act_id)):
            return
        route = start_act_route(
            act_id,
            org=org,
            drafted_by=drafted_by,
            commission=commission,
            today=on or self.today(),
            calendar=self.calendar(),
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        self.save_once(route)

    def revise(self, document_id: uuid.UUID, version: int, on: date | None = None) -> None:
        """A new version of a draft restarts its approval (the decisions on earlier versions stay)."""
        route_id = Route.create_id(document_id)
        if not self.exists(route_id):
            return
        route = self.load(route_id)
        assert isinstance(route, Route)
        route.revise(version, on or self.today(), self.calendar(), lambda spec: self._fixed(route, spec))
        self.stage(route)

    # -- resolutions and assignments --------------------------------------------------------------------------------
    def issue_resolution(
        self,
        document_id: uuid.UUID,
        *,
        author: str,
        text: str,
        orders: list[Order],
        default_deadline: date,
    ) -> tuple[Resolution, list[Assignment]]:
        """A head's resolution: the assignments it makes, each with its deadline (the document's control deadline
        when none is given)."""

        def command() -> tuple[Resolution, list[Assignment]]:
            route = self.route_of(document_id)
            route.check_resolvable()
            template = self.processes[route.process]
            today = self.today()
            resolution_id = uuid.uuid4()
            assignments = [
                self._new_assignment(route, template, order, author, text, default_deadline, today, resolution_id)
                for order in orders
            ]
            resolution = Resolution(
                resolution_id=resolution_id,
                document_id=document_id,
                org=route.org,
                access=route.access,
                route_id=route.id,
                author=author,
                text=text,
                assignments=[
                    {
                        "assignment_id": a.id,
                        "executor": a.executor,
                        "co_executors": a.co_executors,
                        "controller": a.controller,
                        "deadline": a.deadline,
                    }
                    for a in assignments
                ],
                issued_on=today,
            )
            route.resolve(resolution_id, [a.id for a in assignments], today, self.calendar(), by=author)
            self.save(route, resolution, *assignments)
            return resolution, assignments

        return self._retrying(command)

    def _new_assignment(
        self,
        route: Route,
        template: RouteTemplate,
        order: Order,
        author: str,
        text: str,
        default_deadline: date,
        today: date,
        resolution_id: uuid.UUID | None,
        parent_id: uuid.UUID | None = None,
    ) -> Assignment:
        return Assignment(
            assignment_id=uuid.uuid4(),
            document_id=route.document_id,
            org=route.org,
            access=route.access,
            route_id=route.id,
            resolution_id=resolution_id,
            parent_id=parent_id,
            author=author,
            executor=order.executor,
            co_executors=order.co_executors,
            controller=order.controller,
            deadline=order.deadline or default_deadline,
            text=text,
            unit=order.unit,
            children_rule=template.children_rule,
            max_extensions=template.extensions.max,
            max_extension_days=template.extensions.max_days,
            assigned_on=today,
        )

    def reassign(self, parent_id: uuid.UUID, *, by: str, text: str, orders: list[Order]) -> list[Assignment]:
        """The executor gives parts of the assignment to others (the assignment tree, process 13)."""

        def command() -> list[Assignment]:
            parent = self.assignment(parent_id)
            for order in orders:
                parent.check_reassign(by, order.deadline or parent.deadline)
            route = self._get(Route, parent.route_id, AssignmentNotFound(parent_id))
            template = self.processes[route.process]
            today = self.today()
            children = [
                self._new_assignment(
                    route, template, order, by, text, parent.deadline, today, parent.resolution_id, parent.id
                )
                for order in orders
            ]
            for child in children:
                parent.add_child(child.id)
            self.save(parent, *children)
            return children

        return self._retrying(command)

    def report(self, assignment_id: uuid.UUID, *, by: str, text: str, attachments: list[str]) -> uuid.UUID:
        def command() -> uuid.UUID:
            assignment = self.assignment(assignment_id)
            report_id = assignment.report(by, text, attachments, self.today())
            self.save(assignment)
            return report_id

        return self._retrying(command)

    def accept(self, assignment_id: uuid.UUID, *, by: str) -> Assignment:
        def command() -> Assignment:
            assignment = self.assignment(assignment_id)
            children = [self.assignment(child).status == "done" for child in assignment.children]
            today = self.today()
            assignment.accept(by, today, children)
            changed: list[Aggregate] = [assignment]
            if assignment.parent_id is None:
                route = self._get(Route, assignment.route_id, AssignmentNotFound(assignment_id))
                route.assignment_done(assignment.id, today, self.calendar())
                changed.append(route)
            self.save(*changed)
            return assignment

        return self._retrying(command)

    def return_(self, assignment_id: uuid.UUID, *, by: str, reason: str) -> Assignment:
        def command() -> Assignment:
            assignment = self.assignment(assignment_id)
            assignment.return_(by, reason)
            self.save(assignment)
            return assignment

        return self._retrying(command)

    def request_extension(
        self, assignment_id: uuid.UUID, *, by: str, new_deadline: date, reason: str
    ) -> tuple[uuid.UUID, Assignment]:
        def command() -> tuple[uuid.UUID, Assignment]:
            assignment = self.assignment(assignment_id)
            request_id = uuid.uuid4()
            assignment.request_extension(request_id, by, new_deadline, reason, self.today())
            self.save(assignment, ExtensionRequest(request_id=request_id, assignment_id=assignment_id))
            return request_id, assignment

        return self._retrying(command)

    def request(self, request_id: uuid.UUID) -> Assignment:
        pointer = self._get(ExtensionRequest, request_id, RequestNotFound(request_id))
        return self.assignment(pointer.assignment_id)

    def decide_extension(self, request_id: uuid.UUID, *, by: str, grant: bool, reason: str = "") -> Assignment:
        def command() -> Assignment:
            assignment = self.request(request_id)
            if grant:
                assignment.grant(request_id, by)
            else:
                assignment.refuse(request_id, by, reason)
            self.save(assignment)
            return assignment

        return self._retrying(command)

    # -- approval and signing ----------------------------------------------------------------------------------------
    def _fixed(self, route: Route, spec: StageTemplate, roles: RoleLookup | None = None) -> list[str]:
        return route.participants_of(spec, roles)

    def send_for_approval(
        self,
        document_id: uuid.UUID,
        *,
        by: str,
        approvers: dict[str, list[str]],
        mode: str | None,
        quorum: int | None,
        roles: RoleLookup,
    ) -> Route:
        def command() -> Route:
            route = self.route_of(document_id)
            route.plan_approval(
                by, approvers, mode, quorum, lambda spec: self._fixed(route, spec, roles), self.today(), self.calendar()
            )
            self.save(route)
            return route

        return self._retrying(command)

    def decide(
        self,
        document_id: uuid.UUID,
        *,
        by: str,
        decision: str,
        remarks: str | None,
        delegate_to: str | None,
        roles: RoleLookup,
    ) -> Route:
        def command() -> Route:
            route = self.route_of(document_id)
            today = self.today()
            if route.decide(by, decision, remarks, delegate_to, today) == "approved":
                route.advance(lambda spec: self._fixed(route, spec, roles), today, self.calendar())
            self.save(route)
            return route

        return self._retrying(command)

    def add_approver(self, document_id: uuid.UUID, *, by: str, login: str) -> Route:
        def command() -> Route:
            route = self.route_of(document_id)
            route.add_approver(login, by, self.today(), self.calendar())
            self.save(route)
            return route

        return self._retrying(command)

    def sign(
        self, document_id: uuid.UUID, *, by: str, name: str | None, position: str | None, roles: RoleLookup
    ) -> Route:
        """The signer signs: DocumentSigned makes the registry number the draft (by the event, not by a call)."""

        def command() -> Route:
            route = self.route_of(document_id)
            today = self.today()
            route.sign(by, name, position, today)
            route.advance(lambda spec: self._fixed(route, spec, roles), today, self.calendar())
            self.save(route)
            return route

        return self._retrying(command)

    def reroute(self, document_id: uuid.UUID, *, process: str, by: str) -> Route:
        template = self.processes.get(process)
        if template is None or not template.kinds:
            raise InvalidField(
                f"no route template {process!r} a document can follow (one of {sorted(self._document_processes())})",
                field="process",
            )

        def command() -> Route:
            route = self.route_of(document_id)
            route.reroute(template, by, self.today(), self.calendar())
            self.save(route)
            return route

        return self._retrying(command)

    def _document_processes(self) -> list[str]:
        return [name for name, template in self.processes.items() if template.kinds]

    # -- distribution and originals ------------------------------------------------------------------------------------
    def distribute(self, document_id: uuid.UUID, *, by: str, recipients: list[str]) -> Distribution:
        def command() -> Distribution:
            route = self.route_of(document_id)
            today = self.today()
            distribution = Distribution(
                document_id=document_id,
                org=route.org,
                access=route.access,
                distributed_by=by,
                recipients=recipients,
                distributed_on=today,
            )
            route.distributed(today, self.calendar())
            self.save(route, distribution)
            return distribution

        return self._retrying(command)

    def acknowledge(self, distribution_id: uuid.UUID, *, recipient: str, step: str, by: str) -> Distribution:
        def command() -> Distribution:
            distribution = self.distribution(distribution_id)
            distribution.acknowledge(recipient, step, self.today(), by)
            self.save(distribution)
            return distribution

        return self._retrying(command)

    def move_original(self, document_id: uuid.UUID, *, holder: str, by: str, note: str | None) -> Route:
        def command() -> Route:
            route = self.route_of(document_id)
            route.move_original(holder, by, self.today(), note)
            self.save(route)
            return route

        return self._retrying(command)

    def default_deadline(self, route: Route, document: dict[str, Any] | None) -> date:
        """An assignment without a deadline of its own: 59-ФЗ's 30 days from registration for an appeal, else the
        document's control deadline, else the card's deadline, else 10 days (DOMAIN.md "Deadlines")."""
        template = self.processes[route.process]
        document = document or {}
        if template.answer_days is not None and document.get("reg_date") is not None:
            registered: date = document["reg_date"]
            return registered + timedelta(days=template.answer_days)
        for key in ("control_deadline", "card_deadline"):
            if document.get(key) is not None:
                deadline: date = document[key]
                return deadline
        return self.today() + timedelta(days=DEFAULT_EXECUTION_DAYS)
