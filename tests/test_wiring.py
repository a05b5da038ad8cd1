"""The wiring of the five services agrees with itself (issue 6 item 8, shared/STYLE.md "Who follows whom"): every
domain event is published or declared internal, a consumer's topics are those of the contracts its handlers take,
and the registry's journals file into cases of the archive's plan. Pure: no database, no broker.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from eventsourcing.domain import Aggregate

from edms_archive.domain import FILE_PLAN, KIND_DEFAULTS, Case, DisposalAct, Filing
from edms_archive.projections import READ_MODEL as ARCHIVE_READ_MODEL
from edms_archive.publishes import to_contract as archive_events
from edms_archive.stream import policies as archive_policies
from edms_contracts import DocumentKind
from edms_contracts.topics import ARCHIVE_FILING, CONTROL_CARD, REGISTRY_DIRECTORY, REGISTRY_DOCUMENT, ROUTING_ROUTE
from edms_control.domain import AssignmentCard, CalendarYear, Card, ControlCard
from edms_control.projections import READ_MODEL as CONTROL_READ_MODEL
from edms_control.publishes import to_contract as control_events
from edms_control.stream import policies as control_policies
from edms_registry.directory import AGGREGATES as DIRECTORY_AGGREGATES
from edms_registry.domain import Document, Draft, Journal, JournalBook
from edms_registry.journals import default_plan
from edms_registry.publishes import to_contract as registry_events
from edms_routing.domain import Assignment, Distribution, ExtensionRequest, Resolution, Route
from edms_routing.projections import READ_MODEL as ROUTING_READ_MODEL
from edms_routing.publishes import to_contract as routing_events
from edms_routing.stream import policies as routing_policies
from edms_runtime.consumer import topics_of
from edms_runtime.relay import ContractMapper
from edms_search.projections import READ_MODEL as SEARCH_READ_MODEL

PUBLISHERS: dict[str, tuple[ContractMapper, tuple[type[Aggregate], ...]]] = {
    "registry": (registry_events, (Document, Draft, Journal, JournalBook, *DIRECTORY_AGGREGATES)),
    "routing": (routing_events, (Route, Resolution, Assignment, ExtensionRequest, Distribution)),
    "control": (control_events, (Card, ControlCard, AssignmentCard, CalendarYear)),
    "archive": (archive_events, (Case, Filing, DisposalAct)),
}


@pytest.mark.parametrize("service", sorted(PUBLISHERS))
def test_every_domain_event_is_published_or_declared_internal(service: str) -> None:
    mapper, aggregates = PUBLISHERS[service]
    assert mapper.unmapped(*aggregates) == []


def _policy_events(policies: Any) -> Any:
    """The contracts a service's policies take (building them needs no application)."""
    return policies(cast(Any, None))


def test_each_consumer_reads_exactly_the_topics_of_the_events_it_handles() -> None:
    names = {
        "routing": topics_of(_policy_events(routing_policies), ROUTING_READ_MODEL.handlers),
        "control": topics_of(_policy_events(control_policies), CONTROL_READ_MODEL.handlers),
        "archive": topics_of(_policy_events(archive_policies), ARCHIVE_READ_MODEL.handlers),
        "search": topics_of(SEARCH_READ_MODEL.handlers),
    }
    assert {service: {t.name for t in topics} for service, topics in names.items()} == {
        "routing": {
            REGISTRY_DOCUMENT.name,
            REGISTRY_DIRECTORY.name,
            ROUTING_ROUTE.name,
            CONTROL_CARD.name,
            ARCHIVE_FILING.name,  # the disposal act the expert commission approves
        },
        "control": {REGISTRY_DOCUMENT.name, REGISTRY_DIRECTORY.name, ROUTING_ROUTE.name, CONTROL_CARD.name},
        "archive": {REGISTRY_DOCUMENT.name, ARCHIVE_FILING.name, ROUTING_ROUTE.name},  # the commission's stage
        "search": {
            REGISTRY_DOCUMENT.name,
            REGISTRY_DIRECTORY.name,
            ROUTING_ROUTE.name,
            CONTROL_CARD.name,
            ARCHIVE_FILING.name,
        },
    }


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_every_journal_files_into_the_archives_case_for_its_kind(kind: DocumentKind) -> None:
    """DOMAIN.md "Registration card": the case index is part of the card; the archive files by it."""
    spec = default_plan().journal_for(kind, None)
    assert spec.case_index in FILE_PLAN
    assert KIND_DEFAULTS[kind] == spec.case_index
