"""What routing publishes: its domain events mapped to contract events (the outbox relay's mapper).

Every event of a route, a resolution, an assignment or a distribution that another service needs is published on
`edms.routing.route.v1` (control keeps deadlines and discipline, search indexes, archive records the outcome,
registry numbers a signed draft). Bookkeeping that only routing needs stays inside.
"""

from __future__ import annotations

from typing import Any

from edms_contracts import DocumentSigned, RouteStarted
from edms_contracts.routing import (
    ApprovalDecided,
    ApproverAdded,
    AssignmentAccepted,
    AssignmentCreated,
    AssignmentReported,
    AssignmentReturned,
    DistributionAcknowledged,
    DocumentDistributed,
    ExtensionGranted,
    ExtensionRefused,
    ExtensionRequested,
    OriginalMoved,
    ResolutionIssued,
    StageCompleted,
    StageStarted,
)
from edms_runtime.relay import ContractMapper, Publish


def _document(state: dict[str, Any]) -> dict[str, Any]:
    """Events keyed by the route whose contract has no route id: the document id is the event's own."""
    return {"document_id": state["document_id"]}


def _resolution(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "assignments": [
            {key: terms[key] for key in ("assignment_id", "executor", "co_executors", "controller", "deadline")}
            for terms in state["assignments"]
        ]
    }


to_contract = ContractMapper(
    {
        "Route.Started": Publish(RouteStarted, "route_id", derive=lambda state: {"current_stage": state["stages"][0]}),
        # a route put on another process starts again: the same contract, with the new process and stages
        "Route.Rerouted": Publish(RouteStarted, "route_id", derive=lambda state: {"current_stage": state["stages"][0]}),
        "Route.StageStarted": Publish(StageStarted, "route_id"),
        "Route.StageCompleted": Publish(StageCompleted, "route_id"),
        "Route.Decided": Publish(ApprovalDecided, "route_id"),
        "Route.ApproverAdded": Publish(ApproverAdded, "route_id"),
        "Route.Signed": Publish(DocumentSigned, "document_id", derive=_document),
        "Route.OriginalMoved": Publish(OriginalMoved, "document_id", derive=_document),
        "Resolution.Issued": Publish(ResolutionIssued, "resolution_id", derive=_resolution),
        "Assignment.Created": Publish(AssignmentCreated, "assignment_id"),
        "Assignment.Reported": Publish(AssignmentReported, "assignment_id"),
        "Assignment.Accepted": Publish(AssignmentAccepted, "assignment_id"),
        "Assignment.Returned": Publish(AssignmentReturned, "assignment_id"),
        "Assignment.ExtensionRequested": Publish(ExtensionRequested, "assignment_id"),
        "Assignment.ExtensionGranted": Publish(ExtensionGranted, "assignment_id"),
        "Assignment.ExtensionRefused": Publish(ExtensionRefused, "assignment_id"),
        "Distribution.Distributed": Publish(DocumentDistributed, "distribution_id"),
        "Distribution.Acknowledged": Publish(DistributionAcknowledged, "distribution_id"),
    },
    internal=[
        "Route.Closed",  # the last stage's StageStarted / StageCompleted say it
        "Route.Resolved",  # ResolutionIssued says it
        "Route.AssignmentClosed",  # AssignmentAccepted says it
        "Route.ApprovalPlanned",  # StageStarted names the approvers
        "Route.DraftRevised",  # registry's DraftRevised said it; StageStarted carries the new version
        "Assignment.ChildAdded",  # the child's AssignmentCreated names its parent
        "ExtensionRequest.Asked",  # a pointer from the request id to its assignment
    ],
)
