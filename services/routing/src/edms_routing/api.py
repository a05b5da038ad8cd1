"""Routing HTTP API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from edms_routing.application import RoutingApplication
from edms_runtime.auth import CurrentPrincipal

router = APIRouter(tags=["routes"])


class RouteView(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    process: str
    stages: list[str]
    current_stage: str
    version: int


async def application(request: Request) -> RoutingApplication:
    app: RoutingApplication = request.app.state.parts.application
    return app


Routing = Annotated[RoutingApplication, Depends(application)]


@router.get("/documents/{document_id}/route", response_model=RouteView)
def get_route(document_id: uuid.UUID, principal: CurrentPrincipal, routing: Routing) -> RouteView:
    """The document's route and the stage it waits at."""
    route = routing.route_of(document_id)
    return RouteView(
        id=route.id,
        document_id=route.document_id,
        process=route.process,
        stages=route.stages,
        current_stage=route.current_stage,
        version=route.version,
    )
