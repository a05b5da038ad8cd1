"""Kafka topics: `edms.<service>.<aggregate>.v<N>`, created explicitly with their partition counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int


REGISTRY_DOCUMENT = Topic("edms.registry.document.v1", 6)
REGISTRY_DIRECTORY = Topic("edms.registry.directory.v1", 3)
ROUTING_ROUTE = Topic("edms.routing.route.v1", 6)
CONTROL_CARD = Topic("edms.control.card.v1", 6)
ARCHIVE_FILING = Topic("edms.archive.filing.v1", 6)
EXCHANGE_INBOUND = Topic("edms.exchange.inbound.v1", 6)
EXCHANGE_RECEIPTS = Topic("edms.exchange.receipts.v1", 6)
DLQ = Topic("edms.dlq.v1", 1)

#: The services' own event topics: their history is kept, so that a read model can be rebuilt from it.
DOCUMENT_TOPICS: tuple[Topic, ...] = (
    REGISTRY_DOCUMENT,
    REGISTRY_DIRECTORY,
    ROUTING_ROUTE,
    CONTROL_CARD,
    ARCHIVE_FILING,
)

ALL_TOPICS: tuple[Topic, ...] = (
    REGISTRY_DOCUMENT,
    REGISTRY_DIRECTORY,
    ROUTING_ROUTE,
    CONTROL_CARD,
    ARCHIVE_FILING,
    EXCHANGE_INBOUND,
    EXCHANGE_RECEIPTS,
    DLQ,
)
