"""Control HTTP API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from edms_control.application import CardNotFound, ControlApplication
from edms_runtime.auth import CurrentPrincipal
from edms_runtime.http import application_dependency

router = APIRouter(tags=["control"])


class CardView(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    reg_number: str
    reg_date: date
    deadline: date
    rule: str
    status: str


class DayView(BaseModel):
    date: date
    working: bool


Control = Annotated[ControlApplication, Depends(application_dependency(ControlApplication))]


@router.get("/cards/{document_id}", response_model=CardView)
def get_card(document_id: uuid.UUID, principal: CurrentPrincipal, control: Control) -> CardView:
    """The document's control card and its deadline."""
    card = control.card_of(document_id)
    if card.org != principal.org:
        raise CardNotFound(f"no control card for document {document_id} (yet)")
    return CardView(
        id=card.id,
        document_id=card.document_id,
        reg_number=card.reg_number,
        reg_date=card.reg_date,
        deadline=card.deadline,
        rule=card.rule,
        status=card.status,
    )


@router.get("/calendar/{day}", response_model=DayView, tags=["calendar"])
def get_day(day: date, principal: CurrentPrincipal, control: Control) -> DayView:
    """Whether a day is a working day by the production calendar."""
    return DayView(date=day, working=control.calendar.is_working_day(day))


@router.get("/calendar", response_model=list[DayView], tags=["calendar"])
def get_days_off(
    principal: CurrentPrincipal,
    control: Control,
    year: Annotated[int, Query(ge=2000, le=2100)],
) -> list[DayView]:
    """Non-working days of a year (weekends and holidays, with transfers)."""
    day = date(year, 1, 1)
    out: list[DayView] = []
    while day.year == year:
        if not control.calendar.is_working_day(day):
            out.append(DayView(date=day, working=False))
        day = date.fromordinal(day.toordinal() + 1)
    return out
