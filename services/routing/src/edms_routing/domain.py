"""Routes, resolutions, assignments, extensions, approval, signing, distribution, originals: pure domain, no I/O.

Route templates (edms_routing.templates, YAML files) follow the 15 processes of DOMAIN.md "The 15 processes": an
incoming letter (process 6) waits for the head's resolution, whose assignments (поручения, process 13) are executed,
reported and accepted (process 11), their deadlines extended on request (process 12); a draft (processes 1-5, 14)
is approved, signed and distributed. Every aggregate here is the only place its rule is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from edms_routing.templates import RouteTemplate, StageTemplate, by_kind, load_templates
from edms_runtime.calendar import ProductionCalendar
from edms_runtime.errors import DomainError, InvalidField

NAMESPACE = uuid.UUID("9d3a9f61-7c1f-4b1e-8a55-30a4a3a9b0c2")

#: The templates shipped in the package, by process and by the document kind that starts them.
PROCESSES: dict[str, RouteTemplate] = load_templates()
TEMPLATES: dict[str, RouteTemplate] = by_kind(PROCESSES)


def use_templates(processes: dict[str, RouteTemplate]) -> None:
    """Follow these templates (validated by `load_templates`) from now on, in place of the shipped ones."""
    PROCESSES.clear()
    PROCESSES.update(processes)
    TEMPLATES.clear()
    TEMPLATES.update(by_kind(processes))


#: DOMAIN.md "Deadlines": official documents are executed within 10 days unless another deadline is set.
DEFAULT_EXECUTION_DAYS = 10

#: The expert commission's approval of the archive's disposal act (templates/16-disposal-act.yaml): its author, the
#: archivist who drafted the act, is not its judge (Order of Rosarchiv No. 77 of 31.07.2023; issue 11 item 5).
DISPOSAL_ACT_PROCESS = "16-disposal-act"
AUTHOR_MAY_NOT_APPROVE = frozenset({DISPOSAL_ACT_PROCESS})


class UnknownKind(ValueError):
    pass


class RuleBroken(DomainError):
    """A command the routing rules refuse in the present state (409): not open, decided already, and so on."""


class NotYours(DomainError):
    """The task belongs to someone else (403): only the executor reports, only the controller accepts, ..."""

    status = 403
    title = "Forbidden"


def template_for(kind: str, templates: dict[str, RouteTemplate] | None = None) -> RouteTemplate:
    try:
        return (templates or TEMPLATES)[kind]
    except KeyError:
        raise UnknownKind(f"no route template for document kind {kind!r}") from None


#: Resolves a stage's participants (`role:...`, `person:...`, `signer`, `author`) to logins.
Resolver = Callable[[StageTemplate], list[str]]


class Route(Aggregate):
    """The route (маршрут) of one document through its process; one per document.

    It remembers the document's organization and access restriction mark (ДСП) from the registration, so the read
    rule can be applied to it. Routes started before it did have no organization ("") and are shown to no one.
    """

    @staticmethod
    def create_id(document_id: uuid.UUID, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"route/{document_id}")

    @event("Started")
    def __init__(
        self,
        document_id: uuid.UUID,
        process: str,
        stages: list[str],
        org: str = "",
        access: str | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        kind: str | None = None,
        author: str | None = None,
        signer: str | None = None,
        started_on: date | None = None,
    ) -> None:
        self.document_id = document_id
        self.process = process
        self.stages = list(stages)
        self.current_stage = stages[0]
        self.org = org
        self.access = access
        self.kind = kind
        self.author = author
        self.signer = signer
        self.started_on = started_on
        self.closed = False
        self.resolutions: list[uuid.UUID] = []
        self.open_assignments: list[uuid.UUID] = []
        self.stage: dict[str, Any] | None = None  # the stage being worked now: participants, decisions
        self.awaiting_revision = False
        self.draft_version = 1
        self.planned: dict[str, list[str]] = {}
        self.mode: str | None = None
        self.quorum: int | None = None
        self.decisions: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.original: dict[str, Any] | None = None
        self.original_trail: list[dict[str, Any]] = []
        self.signed_by: str | None = None

    # -- stages -----------------------------------------------------------------------------------------------------
    def _template(self) -> RouteTemplate:
        return PROCESSES[self.process]

    @event("StageStarted")
    def _stage_started(
        self,
        document_id: uuid.UUID,
        org: str,
        stage: str,
        participants: list[str],
        deadline: date | None,
        draft_version: int | None,
        mode: str | None,
        quorum: int | None,
        started_on: date | None = None,
        participant_days: int | None = None,
    ) -> None:
        self.current_stage = stage
        self.stage = {
            "name": stage,
            "participants": list(participants),
            "mode": mode,
            "quorum": quorum,
            "deadline": deadline,
            "decisions": {},
            "days": participant_days,
        }
        self.log.append({"stage": stage, "started_on": started_on, "participants": list(participants)})

    @event("StageCompleted")
    def _stage_completed(
        self, document_id: uuid.UUID, org: str, stage: str, outcome: str, completed_on: date | None = None
    ) -> None:
        self.stage = None
        if outcome == "rejected":
            self.awaiting_revision = True
        self.log.append({"stage": stage, "completed_on": completed_on, "outcome": outcome})

    @event("Closed")
    def _closed(self, document_id: uuid.UUID, org: str) -> None:
        self.closed = True

    def start_stage(
        self, spec: StageTemplate, participants: list[str], today: date, calendar: ProductionCalendar
    ) -> None:
        is_approval = spec.type == "approval"
        mode = (self.mode or spec.mode) if is_approval else None
        deadline = calendar.add_working_days(today, spec.days) if spec.days is not None else None
        if mode == "sequential" and spec.days is not None:
            # one after another, each with their own days
            deadline = calendar.add_working_days(today, spec.days * max(1, len(participants)))
        self._stage_started(
            document_id=self.document_id,
            org=self.org,
            stage=spec.name,
            participants=participants,
            deadline=deadline,
            draft_version=self.draft_version if spec.type in ("approval", "signing") else None,
            mode=mode,
            quorum=(self.quorum or spec.quorum) if is_approval else None,
            started_on=today,
            participant_days=spec.days,
        )

    def participants_of(self, spec: StageTemplate, roles: Callable[[str, str], list[str]] | None = None) -> list[str]:
        """A stage's participants from its template: the draft's signer or author, persons, and roles (expanded to
        the people who have them when a lookup is given; a resolution stage keeps `role:head`: any head of the
        organization may write it, those who join later too)."""
        logins: list[str] = []
        for participant in spec.participants:
            kind, _, value = participant.partition(":")
            if participant == "signer" and self.signer:
                logins.append(self.signer)
            elif participant == "author" and self.author:
                logins.append(self.author)
            elif kind == "person":
                logins.append(value)
            elif kind == "role":
                logins.extend(roles(self.org, value) if roles is not None else [participant])
        return list(dict.fromkeys(logins))

    def begin(self, today: date, calendar: ProductionCalendar) -> None:
        """Open the first stage when it needs no one's plan (a resolution by the heads); drafts wait for approval to
        be planned by their author."""
        spec = self._template().stage_specs[0]
        if spec.type in ("resolution", "execution"):
            self.start_stage(spec, self.participants_of(spec), today, calendar)

    def advance(self, resolve: Resolver, today: date, calendar: ProductionCalendar) -> None:
        """After the current stage completed: start the next one; the last one closes the route."""
        names = self.stages
        index = names.index(self.current_stage) + 1
        if index >= len(names):
            self._closed(document_id=self.document_id, org=self.org)
            return
        spec = self._template().stage_specs[index]
        if spec.type == "completion":
            self.start_stage(spec, [], today, calendar)
            self._closed(document_id=self.document_id, org=self.org)
            return
        participants = self.planned.get(spec.name) if spec.type == "approval" else None
        self.start_stage(spec, participants if participants is not None else resolve(spec), today, calendar)

    def _require_stage(self, stage_type: str) -> dict[str, Any]:
        if self.closed or self.stage is None:
            raise RuleBroken(f"the route of document {self.document_id} has no open stage ({self.current_stage})")
        if self._template().stage(self.current_stage).type != stage_type:
            raise RuleBroken(f"the document is at stage {self.current_stage}, not at a {stage_type} stage")
        return self.stage

    @event("Rerouted")
    def _rerouted(
        self,
        document_id: uuid.UUID,
        org: str,
        access: str | None,
        process: str,
        stages: list[str],
        by: str,
    ) -> None:
        self.process = process
        self.stages = list(stages)
        self.current_stage = stages[0]
        self.stage = None
        self.log.append({"rerouted_to": process, "by": by})

    def reroute(self, template: RouteTemplate, by: str, today: date, calendar: ProductionCalendar) -> None:
        """Put the document on another process's route (a clerk's correction: an appeal registered as a letter),
        while nothing has been done on this one yet."""
        if template.process == self.process:
            raise RuleBroken(f"the document is on the route of {self.process} already")
        if self.closed or self.resolutions or self.planned or self.signed_by or self.decisions:
            raise RuleBroken("work on this route has begun: it cannot be changed now")
        self._rerouted(
            document_id=self.document_id,
            org=self.org,
            access=self.access,
            process=template.process,
            stages=list(template.stages),
            by=by,
        )
        self.begin(today, calendar)

    # -- resolution and execution -----------------------------------------------------------------------------------
    def check_resolvable(self) -> None:
        if self.closed:
            raise RuleBroken("the document's route is closed")
        if self.current_stage not in ("resolution", "execution"):
            raise RuleBroken(f"the document is at stage {self.current_stage}: a resolution is not expected")

    @event("Resolved")
    def _resolved(self, resolution_id: uuid.UUID, assignment_ids: list[uuid.UUID]) -> None:
        self.resolutions.append(resolution_id)
        self.open_assignments.extend(assignment_ids)

    def resolve(
        self,
        resolution_id: uuid.UUID,
        assignment_ids: list[uuid.UUID],
        today: date,
        calendar: ProductionCalendar,
        by: str,
    ) -> None:
        """A resolution ends the resolution stage (the first one) and starts execution."""
        self.check_resolvable()
        self._resolved(resolution_id=resolution_id, assignment_ids=assignment_ids)
        if self.current_stage == "resolution" and self.stage is not None:
            self._stage_completed(
                document_id=self.document_id, org=self.org, stage="resolution", outcome="done", completed_on=today
            )
            self.advance(lambda spec: [], today, calendar)

    @event("AssignmentClosed")
    def _assignment_closed(self, assignment_id: uuid.UUID) -> None:
        self.open_assignments.remove(assignment_id)

    def assignment_done(self, assignment_id: uuid.UUID, today: date, calendar: ProductionCalendar) -> None:
        """A top-level assignment was accepted; the last one completes execution."""
        if assignment_id not in self.open_assignments:
            return
        self._assignment_closed(assignment_id=assignment_id)
        if not self.open_assignments and self.current_stage == "execution" and self.stage is not None:
            self._stage_completed(
                document_id=self.document_id, org=self.org, stage="execution", outcome="done", completed_on=today
            )
            self.advance(lambda spec: [], today, calendar)

    # -- approval of drafts -----------------------------------------------------------------------------------------
    @event("ApprovalPlanned")
    def _planned(self, approvers: dict[str, list[str]], mode: str | None, quorum: int | None, by: str) -> None:
        self.planned = {name: list(logins) for name, logins in approvers.items()}
        self.mode = mode
        self.quorum = quorum

    def plan_approval(
        self,
        by: str,
        approvers: dict[str, list[str]],
        mode: str | None,
        quorum: int | None,
        resolve: Resolver,
        today: date,
        calendar: ProductionCalendar,
    ) -> None:
        """The draft's author sends it for approval: who approves at each approval stage (with the template's own
        participants), sequentially or in parallel. DOMAIN.md task 1: approval can run in parallel."""
        if by != self.author:
            raise NotYours(f"only the draft's author ({self.author}) sends it for approval")
        if self.closed or self.stage is not None or self.signed_by is not None:
            raise RuleBroken("the draft is already on its route")
        specs = self._template().stage_specs
        if specs[0].type not in ("approval", "signing"):
            raise RuleBroken(f"a document of process {self.process} is not approved")
        if any("signer" in spec.participants for spec in specs) and not self.signer:
            raise InvalidField("the draft names no signer with a login (PATCH the draft's signer)", field="signer")
        plan: dict[str, list[str]] = {}
        for spec in specs:
            if spec.type != "approval":
                continue
            named = approvers.get(spec.name, [])
            if self.author in named and self.process in AUTHOR_MAY_NOT_APPROVE:
                raise InvalidField(f"{self.author} drafted it and does not approve it", field=f"approvers.{spec.name}")
            logins = [login for login in dict.fromkeys([*resolve(spec), *named]) if self._may_approve(login)]
            if not logins:
                raise InvalidField(f"stage {spec.name} needs at least one approver", field=f"approvers.{spec.name}")
            plan[spec.name] = logins
        unknown = set(approvers) - set(plan)
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidField(f"the route has no approval stage {name}", field=f"approvers.{name}")
        if quorum is not None and any(quorum > len(logins) for logins in plan.values()):
            raise InvalidField("the quorum is larger than a stage's approvers", field="quorum")
        self._planned(approvers=plan, mode=mode, quorum=quorum, by=by)
        self.awaiting_revision = False
        first = specs[0]
        participants = plan.get(first.name) if first.type == "approval" else None
        self.start_stage(first, participants if participants is not None else resolve(first), today, calendar)

    @event("DraftRevised")
    def _revised(self, version: int) -> None:
        self.draft_version = version
        self.awaiting_revision = False

    def revise(self, version: int, today: date, calendar: ProductionCalendar, resolve: Resolver) -> None:
        """A new version of the draft restarts approval from the first stage; earlier decisions stay in the history.
        A version that arrives twice (a redelivery) or an older one changes nothing."""
        if version <= self.draft_version or self.signed_by is not None or self.closed:
            return
        self._revised(version=version)
        if not self.planned:
            return  # not yet sent for approval: the author sends the new version
        first = self._template().stage_specs[0]
        if self.stage is not None:
            self._stage_completed(
                document_id=self.document_id,
                org=self.org,
                stage=self.current_stage,
                outcome="rejected",
                completed_on=today,
            )
            self.awaiting_revision = False
        participants = self.planned.get(first.name) if first.type == "approval" else None
        self.start_stage(first, participants if participants is not None else resolve(first), today, calendar)

    def _may_approve(self, login: str) -> bool:
        return not (login == self.author and self.process in AUTHOR_MAY_NOT_APPROVE)

    def pending_approvers(self) -> list[str]:
        stage = self.stage
        if stage is None or stage["mode"] is None:
            return []
        waiting = [login for login in stage["participants"] if login not in stage["decisions"]]
        return waiting[:1] if stage["mode"] == "sequential" else waiting

    @event("Decided")
    def _decided(
        self,
        document_id: uuid.UUID,
        org: str,
        stage: str,
        approver: str,
        decision: str,
        remarks: str | None,
        delegate_to: str | None,
        draft_version: int | None,
        decided_on: date | None = None,
    ) -> None:
        assert self.stage is not None
        if decision == "delegate" and delegate_to is not None:
            participants = self.stage["participants"]
            participants[participants.index(approver)] = delegate_to
        else:
            self.stage["decisions"][approver] = decision
        self.decisions.append(
            {
                "stage": stage,
                "approver": approver,
                "decision": decision,
                "remarks": remarks,
                "delegate_to": delegate_to,
                "draft_version": draft_version,
                "decided_on": decided_on,
            }
        )

    def decide(
        self,
        approver: str,
        decision: str,
        remarks: str | None,
        delegate_to: str | None,
        today: date,
    ) -> str | None:
        """An approver's decision. A parallel stage completes when the quorum (all, unless set) approved or one
        rejected; a sequential one asks its approvers in order. Returns the stage's outcome when it completed."""
        stage = self._require_stage("approval")
        if approver not in stage["participants"]:
            raise NotYours(f"{approver} is not an approver at stage {stage['name']}")
        if approver in stage["decisions"]:
            raise RuleBroken(f"{approver} has decided at stage {stage['name']} already")
        if approver not in self.pending_approvers():
            raise RuleBroken(f"it is not {approver}'s turn yet at the sequential stage {stage['name']}")
        if decision == "reject" and not (remarks or "").strip():
            raise InvalidField("a rejection needs its reasons", field="remarks")
        if decision == "delegate":
            if not delegate_to:
                raise InvalidField("whom to delegate to is required", field="delegate_to")
            if delegate_to in stage["participants"]:
                raise InvalidField(f"{delegate_to} approves at this stage already", field="delegate_to")
            if not self._may_approve(delegate_to):
                raise InvalidField(f"{delegate_to} drafted it and does not approve it", field="delegate_to")
        elif delegate_to:
            raise InvalidField("only a delegation names delegate_to", field="delegate_to")
        self._decided(
            document_id=self.document_id,
            org=self.org,
            stage=stage["name"],
            approver=approver,
            decision=decision,
            remarks=remarks,
            delegate_to=delegate_to,
            draft_version=self.draft_version,
            decided_on=today,
        )
        outcome = self._outcome()
        if outcome is not None:
            self._stage_completed(
                document_id=self.document_id, org=self.org, stage=stage["name"], outcome=outcome, completed_on=today
            )
        return outcome

    def _outcome(self) -> str | None:
        assert self.stage is not None
        decisions = self.stage["decisions"]
        if "reject" in decisions.values():
            return "rejected"
        approved = sum(1 for d in decisions.values() if d in ("approve", "approve_with_remarks"))
        needed = self.stage["quorum"] or len(self.stage["participants"])
        return "approved" if approved >= needed else None

    @event("ApproverAdded")
    def _approver_added(
        self, document_id: uuid.UUID, org: str, stage: str, approver: str, added_by: str, deadline: date | None
    ) -> None:
        assert self.stage is not None
        self.stage["participants"].append(approver)
        self.planned.setdefault(stage, []).append(approver)

    def add_approver(self, login: str, by: str, today: date, calendar: ProductionCalendar) -> None:
        """The author adds an approver to the running approval stage (mid-route)."""
        if by != self.author:
            raise NotYours(f"only the draft's author ({self.author}) adds approvers")
        stage = self._require_stage("approval")
        if login in stage["participants"]:
            raise InvalidField(f"{login} approves at this stage already", field="login")
        if not self._may_approve(login):
            raise InvalidField(f"{login} drafted it and does not approve it", field="login")
        spec = self._template().stage(stage["name"])
        deadline = calendar.add_working_days(today, spec.days) if spec.days is not None else None
        self._approver_added(
            document_id=self.document_id,
            org=self.org,
            stage=stage["name"],
            approver=login,
            added_by=by,
            deadline=deadline,
        )

    # -- signing ----------------------------------------------------------------------------------------------------
    @event("Signed")
    def _signed(
        self,
        document_id: uuid.UUID,
        org: str,
        signed_by: str,
        signer_name: str | None,
        signer_position: str | None,
        draft_version: int,
    ) -> None:
        self.signed_by = signed_by

    def sign(self, by: str, name: str | None, position: str | None, today: date) -> None:
        """The signer signs the approved version: the registry numbers the draft when it hears DocumentSigned."""
        stage = self._require_stage("signing")
        if by not in stage["participants"]:
            raise NotYours(f"{by} does not sign this document (signer: {', '.join(stage['participants'])})")
        self._signed(
            document_id=self.document_id,
            org=self.org,
            signed_by=by,
            signer_name=name,
            signer_position=position,
            draft_version=self.draft_version,
        )
        self._stage_completed(
            document_id=self.document_id, org=self.org, stage=stage["name"], outcome="signed", completed_on=today
        )

    # -- distribution and the paper original --------------------------------------------------------------------------
    def distributed(self, today: date, calendar: ProductionCalendar) -> None:
        """A distribution at the route's distribution stage completes it (and with it the route)."""
        if self.stage is None or self.closed:
            return
        if self._template().stage(self.current_stage).type == "distribution":
            self._stage_completed(
                document_id=self.document_id, org=self.org, stage=self.current_stage, outcome="done", completed_on=today
            )
            self.advance(lambda spec: [], today, calendar)

    @event("OriginalMoved")
    def _original_moved(
        self, document_id: uuid.UUID, org: str, holder: str, handed_by: str, since: date, note: str | None
    ) -> None:
        entry = {"holder": holder, "handed_by": handed_by, "since": since, "note": note}
        self.original = entry
        self.original_trail.append(entry)

    def move_original(self, holder: str, by: str, today: date, note: str | None) -> None:
        """The paper original changes hands (местонахождение подлинника, DOMAIN.md task 3)."""
        if self.original is not None and self.original["holder"] == holder:
            raise RuleBroken(f"the original is with {holder} already")
        self._original_moved(
            document_id=self.document_id, org=self.org, holder=holder, handed_by=by, since=today, note=note
        )


def start_route(
    document_id: uuid.UUID,
    kind: str,
    *,
    org: str,
    access: str | None = None,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    author: str | None = None,
    signer: str | None = None,
    today: date | None = None,
    calendar: ProductionCalendar | None = None,
    templates: dict[str, RouteTemplate] | None = None,
) -> Route:
    template = template_for(kind, templates)
    route = Route(
        document_id=document_id,
        process=template.process,
        stages=list(template.stages),
        org=org,
        access=access,
        correlation_id=correlation_id,
        causation_id=causation_id,
        kind=kind,
        author=author,
        signer=signer,
        started_on=today,
    )
    if today is not None:
        route.begin(today, calendar or ProductionCalendar())
    return route


def start_act_route(
    act_id: uuid.UUID,
    *,
    org: str,
    drafted_by: str,
    commission: list[str],
    today: date,
    calendar: ProductionCalendar,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
) -> Route:
    """The route of the archive's disposal act (its document id is the act's id): the expert commission's approval
    stage opens at once with `commission` (never the drafter); with no one, it waits, like a draft, for its author to
    send it for approval naming the members (`POST /documents/{act_id}/approval`)."""
    template = PROCESSES[DISPOSAL_ACT_PROCESS]
    route = Route(
        document_id=act_id,
        process=template.process,
        stages=list(template.stages),
        org=org,
        access=None,
        correlation_id=correlation_id,
        causation_id=causation_id,
        kind="disposal_act",
        author=drafted_by,
        started_on=today,
    )
    members = [login for login in dict.fromkeys(commission) if route._may_approve(login)]
    first = template.stage_specs[0]
    if members:
        route._planned(approvers={first.name: members}, mode=first.mode, quorum=None, by=drafted_by)
        route.start_stage(first, members, today, calendar)
    return route


class Resolution(Aggregate):
    """A head's resolution (резолюция) on a document: its text and the assignments it makes."""

    @staticmethod
    def create_id(resolution_id: uuid.UUID, **_: object) -> uuid.UUID:
        return resolution_id

    @event("Issued")
    def __init__(
        self,
        resolution_id: uuid.UUID,
        document_id: uuid.UUID,
        org: str,
        access: str | None,
        route_id: uuid.UUID,
        author: str,
        text: str,
        assignments: list[dict[str, Any]],
        issued_on: date,
    ) -> None:
        self.document_id = document_id
        self.org = org
        self.access = access
        self.route_id = route_id
        self.author = author
        self.text = text
        self.assignments = assignments
        self.issued_on = issued_on


IN_PROGRESS, REPORTED, DONE = "in_progress", "reported", "done"


class Assignment(Aggregate):
    """An assignment (поручение): an executor, co-executors, a controller (the author when none), a deadline.

    The executor reports, the controller accepts (done) or returns it (in progress again); the executor may give
    parts to others (children), and a parent is done only when the template's rule for its children holds. The
    deadline moves only by a granted extension; one asked after the deadline passed leaves it late (DOMAIN.md
    "Deadlines": an extension granted before the deadline moves it, one asked after does not).
    """

    @staticmethod
    def create_id(assignment_id: uuid.UUID, **_: object) -> uuid.UUID:
        return assignment_id

    @event("Created")
    def __init__(
        self,
        assignment_id: uuid.UUID,
        document_id: uuid.UUID,
        org: str,
        access: str | None,
        route_id: uuid.UUID,
        resolution_id: uuid.UUID | None,
        parent_id: uuid.UUID | None,
        author: str,
        executor: str,
        co_executors: list[str],
        controller: str | None,
        deadline: date,
        text: str,
        unit: str | None,
        children_rule: str = "all",
        max_extensions: int | None = None,
        max_extension_days: int | None = None,
        assigned_on: date | None = None,
    ) -> None:
        self.document_id = document_id
        self.org = org
        self.access = access
        self.route_id = route_id
        self.resolution_id = resolution_id
        self.parent_id = parent_id
        self.author = author
        self.executor = executor
        self.co_executors = list(co_executors)
        self.controller = controller
        self.deadline = deadline
        self.initial_deadline = deadline
        self.text = text
        self.unit = unit
        self.children_rule = children_rule
        self.max_extensions = max_extensions
        self.max_extension_days = max_extension_days
        self.assigned_on = assigned_on
        self.status = IN_PROGRESS
        self.reports: list[dict[str, Any]] = []
        self.returns: list[dict[str, Any]] = []
        self.children: list[uuid.UUID] = []
        self.extensions: list[dict[str, Any]] = []
        self.done_on: date | None = None
        self.accepted_by: str | None = None

    @property
    def acceptor(self) -> str:
        """Who accepts: the controller, or the author when there is none."""
        return self.controller or self.author

    @property
    def late(self) -> bool:
        """Executed after its deadline, or moved by an extension asked when the deadline had passed already."""
        late_extension = any(
            e["status"] == "granted" and e["requested_on"] > e["previous_deadline"] for e in self.extensions
        )
        return late_extension or (self.done_on is not None and self.done_on > self._deadline_kept())

    def _deadline_kept(self) -> date:
        """The deadline lateness is judged by: extensions asked after their deadline do not count."""
        deadline = self.initial_deadline
        for e in self.extensions:
            if e["status"] == "granted" and e["requested_on"] <= e["previous_deadline"]:
                deadline = e["new_deadline"]
        return deadline

    def overdue(self, today: date) -> bool:
        return self.status != DONE and self.deadline < today

    def _executor_only(self, by: str, what: str) -> None:
        if by != self.executor:
            raise NotYours(f"only the executor ({self.executor}) {what}")

    def _open(self) -> None:
        if self.status == DONE:
            raise RuleBroken(f"assignment {self.id} is done (closed)")

    # -- execution ----------------------------------------------------------------------------------------------------
    @event("Reported")
    def _reported(
        self,
        document_id: uuid.UUID,
        org: str,
        report_id: uuid.UUID,
        reported_by: str,
        text: str,
        attachments: list[str],
        reported_on: date,
    ) -> None:
        self.status = REPORTED
        self.reports.append(
            {"id": report_id, "by": reported_by, "text": text, "attachments": list(attachments), "on": reported_on}
        )

    def report(self, by: str, text: str, attachments: list[str], today: date) -> uuid.UUID:
        """The executor reports it executed (отчёт об исполнении); it waits for the controller."""
        self._executor_only(by, "reports on the assignment")
        self._open()
        if self.status == REPORTED:
            raise RuleBroken(f"assignment {self.id} is reported already and waits for {self.acceptor}")
        report_id = uuid.uuid4()
        self._reported(
            document_id=self.document_id,
            org=self.org,
            report_id=report_id,
            reported_by=by,
            text=text,
            attachments=attachments,
            reported_on=today,
        )
        return report_id

    def _acceptor_only(self, by: str, what: str) -> None:
        if by != self.acceptor:
            raise NotYours(f"only the controller ({self.acceptor}) {what}")
        if self.status != REPORTED:
            raise RuleBroken(f"assignment {self.id} is {self.status}: only a reported assignment is {what[:-1]}ed")

    @event("Accepted")
    def _accepted(self, document_id: uuid.UUID, org: str, accepted_by: str, done_on: date) -> None:
        self.status = DONE
        self.done_on = done_on
        self.accepted_by = accepted_by

    def accept(self, by: str, today: date, children_done: list[bool]) -> None:
        """The controller accepts the report: done (снято с контроля), if the children's rule holds."""
        self._acceptor_only(by, "accepts")
        if children_done and self.children_rule == "all" and not all(children_done):
            raise RuleBroken(f"assignment {self.id}: {children_done.count(False)} of its parts are not done yet")
        if children_done and self.children_rule == "any" and not any(children_done):
            raise RuleBroken(f"assignment {self.id}: none of its parts is done yet")
        self._accepted(document_id=self.document_id, org=self.org, accepted_by=by, done_on=today)

    @event("Returned")
    def _returned(self, document_id: uuid.UUID, org: str, returned_by: str, reason: str) -> None:
        self.status = IN_PROGRESS
        self.returns.append({"by": returned_by, "reason": reason})

    def return_(self, by: str, reason: str) -> None:
        """The controller returns the report for more work: in progress again."""
        self._acceptor_only(by, "returns")
        if not reason.strip():
            raise InvalidField("the reason is required", field="reason")
        self._returned(document_id=self.document_id, org=self.org, returned_by=by, reason=reason)

    @event("ChildAdded")
    def _child_added(self, child_id: uuid.UUID) -> None:
        self.children.append(child_id)

    def check_reassign(self, by: str, deadline: date) -> None:
        self._executor_only(by, "gives parts of the assignment to others")
        self._open()
        if deadline > self.deadline:
            raise InvalidField(f"a part cannot be due after the assignment ({self.deadline})", field="deadline")

    def add_child(self, child_id: uuid.UUID) -> None:
        self._child_added(child_id=child_id)

    # -- extensions (process 12) ------------------------------------------------------------------------------------
    @event("ExtensionRequested")
    def _extension_requested(
        self,
        document_id: uuid.UUID,
        org: str,
        request_id: uuid.UUID,
        requested_by: str,
        new_deadline: date,
        reason: str,
        requested_on: date,
    ) -> None:
        self.extensions.append(
            {
                "id": request_id,
                "requested_by": requested_by,
                "new_deadline": new_deadline,
                "previous_deadline": self.deadline,
                "reason": reason,
                "requested_on": requested_on,
                "status": "requested",
                "decided_by": None,
                "decision_reason": None,
            }
        )

    def request_extension(self, request_id: uuid.UUID, by: str, new_deadline: date, reason: str, today: date) -> None:
        self._executor_only(by, "asks to extend the deadline")
        self._open()
        if any(e["status"] == "requested" for e in self.extensions):
            raise RuleBroken("an extension request is waiting for a decision already")
        if new_deadline <= self.deadline:
            raise InvalidField(
                f"the new deadline must be after the present one ({self.deadline})", field="new_deadline"
            )
        if new_deadline < today:
            raise InvalidField("the new deadline is before today", field="new_deadline")
        granted = sum(1 for e in self.extensions if e["status"] == "granted")
        if self.max_extensions is not None and granted >= self.max_extensions:
            raise RuleBroken(f"the deadline may be extended {self.max_extensions} time(s) only (59-ФЗ art. 12)")
        if self.max_extension_days is not None and (new_deadline - self.deadline).days > self.max_extension_days:
            raise InvalidField(
                f"an extension may add {self.max_extension_days} days at most (59-ФЗ art. 12)", field="new_deadline"
            )
        if not reason.strip():
            raise InvalidField("the reason is required", field="reason")
        self._extension_requested(
            document_id=self.document_id,
            org=self.org,
            request_id=request_id,
            requested_by=by,
            new_deadline=new_deadline,
            reason=reason,
            requested_on=today,
        )

    def _pending(self, request_id: uuid.UUID, by: str) -> dict[str, Any]:
        if by != self.author:
            raise NotYours(f"only the assignment's author ({self.author}) decides on its extension")
        for request in self.extensions:
            if request["id"] == request_id:
                if request["status"] != "requested":
                    raise RuleBroken(f"extension request {request_id} is {request['status']} already")
                return request
        raise RuleBroken(f"no extension request {request_id} on assignment {self.id}")

    @event("ExtensionGranted")
    def _extension_granted(
        self,
        document_id: uuid.UUID,
        org: str,
        request_id: uuid.UUID,
        decided_by: str,
        previous_deadline: date,
        new_deadline: date,
        requested_on: date,
    ) -> None:
        for request in self.extensions:
            if request["id"] == request_id:
                request.update(status="granted", decided_by=decided_by)
        self.deadline = new_deadline

    def grant(self, request_id: uuid.UUID, by: str) -> None:
        request = self._pending(request_id, by)
        self._extension_granted(
            document_id=self.document_id,
            org=self.org,
            request_id=request_id,
            decided_by=by,
            previous_deadline=self.deadline,
            new_deadline=request["new_deadline"],
            requested_on=request["requested_on"],
        )

    @event("ExtensionRefused")
    def _extension_refused(
        self, document_id: uuid.UUID, org: str, request_id: uuid.UUID, decided_by: str, reason: str
    ) -> None:
        for request in self.extensions:
            if request["id"] == request_id:
                request.update(status="refused", decided_by=decided_by, decision_reason=reason)

    def refuse(self, request_id: uuid.UUID, by: str, reason: str) -> None:
        self._pending(request_id, by)
        if not reason.strip():
            raise InvalidField("the reason is required", field="reason")
        self._extension_refused(
            document_id=self.document_id, org=self.org, request_id=request_id, decided_by=by, reason=reason
        )


class ExtensionRequest(Aggregate):
    """Where an extension request lives: its id leads to the assignment that keeps it (and its decision)."""

    @staticmethod
    def create_id(request_id: uuid.UUID, **_: object) -> uuid.UUID:
        return request_id

    @event("Asked")
    def __init__(self, request_id: uuid.UUID, assignment_id: uuid.UUID) -> None:
        self.assignment_id = assignment_id


STEPS = ("received", "opened", "acknowledged")


class Distribution(Aggregate):
    """A distribution (рассылка) of a document to units, people and external correspondents, and who received,
    opened and acknowledged it (DOMAIN.md task 3)."""

    @event("Distributed")
    def __init__(
        self,
        document_id: uuid.UUID,
        org: str,
        access: str | None,
        distributed_by: str,
        recipients: list[str],
        distributed_on: date,
    ) -> None:
        self.document_id = document_id
        self.org = org
        self.access = access
        self.distributed_by = distributed_by
        self.recipients = list(recipients)
        self.distributed_on = distributed_on
        self.steps: dict[str, dict[str, date]] = {recipient: {} for recipient in recipients}

    @event("Acknowledged")
    def _acknowledged(
        self, document_id: uuid.UUID, org: str, recipient: str, step: str, on: date, by: str | None = None
    ) -> None:
        self.steps[recipient][step] = on

    def acknowledge(self, recipient: str, step: str, today: date, by: str) -> None:
        if recipient not in self.steps:
            raise NotYours(f"{recipient} is not a recipient of distribution {self.id}")
        if step in self.steps[recipient]:
            raise RuleBroken(f"{recipient} has {step} it already")
        self._acknowledged(document_id=self.document_id, org=self.org, recipient=recipient, step=step, on=today, by=by)
