"""Routes of the document processes: pure domain, no I/O.

Route templates follow the 15 processes of the design card (DOMAIN.md, "The 15 processes"): an incoming letter
(process 6) waits first for the head's resolution, an outgoing one (process 4) for approval, and so on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("9d3a9f61-7c1f-4b1e-8a55-30a4a3a9b0c2")


@dataclass(frozen=True)
class RouteTemplate:
    process: str
    stages: tuple[str, ...]


#: Templates as data, per document kind. Stage names: resolution (резолюция), approval (согласование),
#: signing (подписание), execution (исполнение), distribution (рассылка), dispatch (отправка), answer (ответ).
TEMPLATES: dict[str, RouteTemplate] = {
    "incoming_letter": RouteTemplate("6-incoming-registration", ("resolution", "execution", "completion")),
    "outgoing_letter": RouteTemplate("4-outgoing-preparation", ("approval", "signing", "dispatch")),
    "internal": RouteTemplate("5-internal-preparation", ("approval", "signing", "distribution")),
    "order": RouteTemplate("3-order-of-head", ("approval", "signing", "distribution")),
    "citizen_appeal": RouteTemplate("15-citizen-appeal", ("resolution", "execution", "answer")),
}


class UnknownKind(ValueError):
    pass


def template_for(kind: str) -> RouteTemplate:
    try:
        return TEMPLATES[kind]
    except KeyError:
        raise UnknownKind(f"no route template for document kind {kind!r}") from None


class Route(Aggregate):
    """The route (маршрут) of one document through its process; one per document."""

    @staticmethod
    def create_id(document_id: uuid.UUID, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"route/{document_id}")

    @event("Started")
    def __init__(
        self,
        document_id: uuid.UUID,
        process: str,
        stages: list[str],
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        self.document_id = document_id
        self.process = process
        self.stages = list(stages)
        self.current_stage = stages[0]


def start_route(
    document_id: uuid.UUID,
    kind: str,
    *,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
) -> Route:
    template = template_for(kind)
    return Route(
        document_id=document_id,
        process=template.process,
        stages=list(template.stages),
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
