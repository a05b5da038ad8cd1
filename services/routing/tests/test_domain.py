"""Route templates and routes (pure).

Source: DOMAIN.md "The 15 processes (each one a route template)" — an incoming document (process 6) waits first for
the head's resolution, an outgoing one (process 4) and an internal one (process 5) for approval, an order of a head of
body (process 3) for approval, a citizen's appeal (process 15, Federal Law 59-ФЗ) for a resolution.
"""

from __future__ import annotations

import uuid

import pytest

from edms_contracts import DocumentKind, RouteStarted
from edms_contracts.topics import ROUTING_ROUTE
from edms_routing.domain import TEMPLATES, Route, UnknownKind, start_route, template_for
from edms_routing.publishes import to_contract

ORG = "demo-region"


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_each_registered_kind_has_a_template(kind: str) -> None:
    template = template_for(kind)
    assert template.stages, f"{kind}: a route needs at least one stage"
    assert len(set(template.stages)) == len(template.stages), f"{kind}: a stage appears twice"
    assert template.process.split("-", 1)[0].isdigit(), "the process name starts with its number of the 15"


def test_every_document_kind_of_the_contracts_has_a_template() -> None:
    """A kind added to the shared vocabulary without a route template would dead-letter its registrations."""
    assert set(DocumentKind) <= set(TEMPLATES)


@pytest.mark.parametrize(
    ("kind", "process", "first_stage"),
    [
        ("incoming_letter", "6-incoming-registration", "resolution"),
        ("outgoing_letter", "4-outgoing-preparation", "approval"),
        ("internal", "5-internal-preparation", "approval"),
        ("order", "3-order-of-head", "approval"),
        ("citizen_appeal", "15-citizen-appeal", "resolution"),
    ],
)
def test_route_starts_at_the_first_stage_of_its_process(kind: str, process: str, first_stage: str) -> None:
    """DOMAIN.md "The 15 processes": each process is a route template."""
    route = start_route(uuid.uuid4(), kind, org=ORG)
    assert route.process == process
    assert route.current_stage == first_stage
    assert route.stages == list(TEMPLATES[kind].stages)


def test_incoming_letter_waits_for_a_resolution_then_execution() -> None:
    """DOMAIN.md "The 15 processes", process 6: registration, the head's resolution, then execution."""
    route = start_route(uuid.uuid4(), "incoming_letter", org=ORG)
    assert route.current_stage == "resolution"
    assert route.stages == ["resolution", "execution", "completion"]


def test_route_id_is_deterministic_per_document() -> None:
    """One route per document: a redelivered registration maps to the same aggregate and is saved once."""
    document = uuid.uuid4()
    first = start_route(document, "incoming_letter", org=ORG)
    again = start_route(document, "incoming_letter", org=ORG)
    assert first.id == again.id == Route.create_id(document)
    assert Route.create_id(document) == Route.create_id(uuid.UUID(str(document)))
    assert Route.create_id(uuid.uuid4()) != first.id
    assert first.document_id == document


def test_route_stages_are_a_copy_of_the_template() -> None:
    route = start_route(uuid.uuid4(), "order", org=ORG)
    route.stages.append("mutated")
    assert "mutated" not in TEMPLATES["order"].stages
    assert "mutated" not in start_route(uuid.uuid4(), "order", org=ORG).stages


@pytest.mark.parametrize("kind", ["", "postcard", "INCOMING_LETTER", "incoming-letter"])
def test_unknown_kind_raises_unknown_kind(kind: str) -> None:
    with pytest.raises(UnknownKind, match="no route template for document kind"):
        start_route(uuid.uuid4(), kind, org=ORG)
    with pytest.raises(UnknownKind) as caught:
        template_for(kind)
    assert repr(kind) in str(caught.value)


def test_unknown_kind_is_a_value_error() -> None:
    """The consumer turns a handler's exception into a dead letter; a ValueError says the input was wrong."""
    assert issubclass(UnknownKind, ValueError)


def test_route_started_is_published_with_the_first_stage() -> None:
    document, correlation = uuid.uuid4(), uuid.uuid4()
    route = start_route(document, "incoming_letter", org=ORG, correlation_id=correlation)
    (started,) = route.collect_events()
    outgoing = to_contract(started)
    assert outgoing is not None
    assert outgoing.topic == ROUTING_ROUTE
    assert outgoing.payload == RouteStarted(
        route_id=route.id,
        document_id=document,
        process="6-incoming-registration",
        stages=["resolution", "execution", "completion"],
        current_stage="resolution",
        org=ORG,
    )
    assert vars(started)["correlation_id"] == correlation


def test_a_disposal_act_goes_to_the_expert_commission_never_to_its_drafter() -> None:
    """Issue 11 item 5 (Order of Rosarchiv No. 77 of 31.07.2023): the expert commission approves the archive's
    disposal act at a routing stage; the archivist who drafted it is not its judge, not even by a delegation."""
    from datetime import date

    from edms_routing.domain import NotYours, start_act_route
    from edms_runtime.calendar import ProductionCalendar
    from edms_runtime.errors import InvalidField

    today, calendar = date(2026, 11, 27), ProductionCalendar()
    act = uuid.uuid4()
    route = start_act_route(act, org=ORG, drafted_by="arch", commission=["ek1", "arch", "ek2"], today=today,
                            calendar=calendar)  # fmt: skip
    assert (route.document_id, route.process, route.current_stage) == (act, "16-disposal-act", "expert_commission")
    assert route.pending_approvers() == ["ek1", "ek2"]
    with pytest.raises(NotYours):
        route.decide("arch", "approve", None, None, today)
    with pytest.raises(InvalidField, match="drafted it"):
        route.decide("ek1", "delegate", None, "arch", today)
    assert route.decide("ek1", "approve", None, None, today) is None
    assert route.decide("ek2", "approve", None, None, today) == "approved"

    waiting = start_act_route(uuid.uuid4(), org=ORG, drafted_by="arch", commission=["arch"], today=today,
                              calendar=calendar)  # fmt: skip
    assert waiting.stage is None  # no member yet: it waits for its author to name them
    with pytest.raises(InvalidField, match="drafted it"):
        waiting.plan_approval("arch", {"expert_commission": ["arch"]}, None, None, lambda spec: [], today, calendar)
    waiting.plan_approval("arch", {"expert_commission": ["ek3"]}, None, None, lambda spec: ["arch"], today, calendar)
    assert waiting.pending_approvers() == ["ek3"]
