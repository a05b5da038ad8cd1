"""Search consumes every service's document events."""

from edms_contracts.topics import ARCHIVE_FILING, CONTROL_CARD, REGISTRY_DOCUMENT, ROUTING_ROUTE

TOPICS = (REGISTRY_DOCUMENT.name, ROUTING_ROUTE.name, CONTROL_CARD.name, ARCHIVE_FILING.name)
