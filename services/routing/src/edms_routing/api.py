"""Routing HTTP API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from edms_routing.application import RoutingApplication
from edms_runtime.auth import CurrentPrincipal
from edms_runtime.http import application_dependency

router = APIRouter(tags=["routes"])


class RouteView(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    process: str
    stages: list[str]
    current_stage: str
    version: int


Routing = Annotated[RoutingApplication, Depends(application_dependency(RoutingApplication))]


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
