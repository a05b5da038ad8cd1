"""What the read rule needs from a route: its document's organization and access restriction mark (in memory).

The rule (edms_runtime.auth.Principal.may_read): a card of one's own organization, and a card with an access
restriction mark (ДСП) only for those admitted to it — Regulation on handling official information of limited
distribution, Decree of the Government of the RF No. 1233 of 03.11.1994. A route answers as its document does.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from edms_routing.application import RouteNotFound, RoutingApplication
from edms_routing.domain import Route, start_route
from edms_runtime.auth import Principal, readable

ORG = "demo-region"


def _person(org: str = ORG, *roles: str) -> Principal:
    return Principal(sub="u1", org=org, unit="01", roles=frozenset(roles or ("clerk",)))


@pytest.fixture
def routing() -> RoutingApplication:
    """The real application on eventsourcing's in-memory store: events go through the same mapper as in production."""
    return RoutingApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _store_as_before_the_change(app: RoutingApplication, route: Route) -> None:
    """Store the route's first event as it was stored before routes remembered org and access."""
    (started,) = route.collect_events()
    stored = app.mapper.to_stored_event(started)
    state = app.mapper.transcoder.decode(stored.state)
    del state["org"], state["access"]
    app.recorder.insert_events([replace(stored, state=app.mapper.transcoder.encode(state))])


def test_route_remembers_the_documents_org_and_access_mark(routing: RoutingApplication) -> None:
    document = uuid.uuid4()
    routing.start_for(document, "incoming_letter", org=ORG, access="ДСП")
    route = routing.route_of(document)  # loaded back from the store
    assert (route.org, route.access) == (ORG, "ДСП")


def test_route_of_an_unrestricted_document_has_no_access_mark() -> None:
    route = start_route(uuid.uuid4(), "incoming_letter", org=ORG)
    assert (route.org, route.access) == (ORG, None)


def test_route_stored_before_the_change_still_loads_and_is_shown_to_no_one(routing: RoutingApplication) -> None:
    """Its document's organization is unknown, so no one's may_read holds (fail closed), the admitted included."""
    document = uuid.uuid4()
    _store_as_before_the_change(routing, start_route(document, "incoming_letter", org=ORG))
    route = routing.route_of(document)
    assert (route.org, route.access) == ("", None)
    assert route.current_stage == "resolution"
    for person in (_person(), _person(ORG, "admin")):
        with pytest.raises(RouteNotFound):
            readable(person, route, or_raise=RouteNotFound(document))


@pytest.mark.parametrize(
    ("person", "access", "shown"),
    [
        (_person(), None, True),
        (_person("other-org"), None, False),
        (_person(), "ДСП", False),
        (_person(ORG, "dsp_reader"), "ДСП", True),
        (_person(ORG, "admin"), "ДСП", True),
        (_person("other-org", "dsp_reader"), "ДСП", False),
    ],
    ids=["own-org", "other-org", "dsp-without-right", "dsp-reader", "admin", "dsp-reader-of-other-org"],
)
def test_route_is_shown_by_the_read_rule(person: Principal, access: str | None, shown: bool) -> None:
    document = uuid.uuid4()
    route = start_route(document, "incoming_letter", org=ORG, access=access)
    if shown:
        assert readable(person, route, or_raise=RouteNotFound(document)) is route
    else:
        with pytest.raises(RouteNotFound, match=f"no route for document {document}"):
            readable(person, route, or_raise=RouteNotFound(document))
