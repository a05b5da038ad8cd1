"""Routing's write side."""

from __future__ import annotations

import uuid

from eventsourcing.application import AggregateNotFoundError

from edms_routing.domain import Route, start_route
from edms_runtime.eventstore import ServiceApplication
from edms_runtime.http import NotFound


class RouteNotFound(NotFound):
    pass


class RoutingApplication(ServiceApplication):
    def start_for(
        self,
        document_id: uuid.UUID,
        kind: str,
        *,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        """Start the kind's route (once: a redelivered registration finds it started)."""
        route = start_route(document_id, kind, correlation_id=correlation_id, causation_id=causation_id)
        self.save_once(route)

    def route_of(self, document_id: uuid.UUID) -> Route:
        try:
            route: Route = self.repository.get(Route.create_id(document_id))
        except AggregateNotFoundError:
            raise RouteNotFound(f"no route for document {document_id} (yet)") from None
        return route
