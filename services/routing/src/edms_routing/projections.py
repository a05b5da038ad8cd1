"""What routing publishes: its domain events mapped to contract events (the outbox relay's mapper)."""

from __future__ import annotations

from edms_contracts import RouteStarted
from edms_contracts.topics import ROUTING_ROUTE
from edms_runtime.relay import Publish, contract_mapper

to_contract = contract_mapper(
    {
        "Route.Started": Publish(
            ROUTING_ROUTE, RouteStarted, "route_id", derive=lambda state: {"current_stage": state["stages"][0]}
        ),
    }
)
