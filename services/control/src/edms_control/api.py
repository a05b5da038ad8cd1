"""Control HTTP API: cards of documents and assignments, the business calendar and deadline rules, the clock,
reminders, executive-discipline reports."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from edms_control import reports
from edms_control.application import CardNotFound, ControlApplication
from edms_control.domain import RULES, rule_named
from edms_runtime.audit import note_refusal
from edms_runtime.auth import CurrentPrincipal, Principal, readable, require_role
from edms_runtime.errors import DomainError, InvalidField
from edms_runtime.http import Database, application_dependency
from edms_runtime.text import RequestBody

router = APIRouter(tags=["control"])


class HistoryItem(BaseModel):
    on: date
    what: str
    deadline: date | None = None
    reason: str | None = None
    by: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class CardView(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    kind: str
    assignment_id: uuid.UUID | None
    reg_number: str
    reg_date: date
    deadline: date
    late_after: date = Field(description="The deadline lateness is judged by (an extension asked late keeps it)")
    rule: str
    status: str = Field(description="on_time, due_soon, overdue, done_on_time or done_late, by the control clock")
    executor: str | None
    controller: str | None
    unit: str | None
    opened_on: date
    reported_on: date | None
    done_on: date | None
    history: list[HistoryItem]


class CardListItem(BaseModel):
    card_id: uuid.UUID
    document_id: uuid.UUID
    kind: str
    assignment_id: uuid.UUID | None
    reg_number: str
    reg_date: date | None
    deadline: date
    rule: str
    executor: str | None
    done_on: date | None


class DayView(BaseModel):
    date: date
    working: bool


Control = Annotated[ControlApplication, Depends(application_dependency(ControlApplication))]
_HISTORY_FIELDS = {"on", "what", "deadline", "reason", "by"}


@router.get("/cards", response_model=list[CardListItem])
def list_cards(
    principal: CurrentPrincipal,
    pool: Database,
    deadline_to: Annotated[date | None, Query(description="Only cards due on or before this day")] = None,
    kind: Annotated[str | None, Query(pattern="^(document|assignment)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[CardListItem]:
    """What is on control in the caller's organization that the caller may read (the shared rule: a ДСП card only
    for those its document is for, edms_runtime.access), nearest deadline first (read model `control.cards`)."""
    condition, params = principal.read_condition(document_column="document_id")
    if deadline_to is not None:
        condition += " AND deadline <= %(deadline_to)s"
        params["deadline_to"] = deadline_to
    if kind is not None:
        condition += " AND kind = %(kind)s"
        params["kind"] = kind
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT card_id, document_id, kind, assignment_id, reg_number, reg_date, deadline, rule, executor, "  # noqa: S608
            f"done_on FROM cards WHERE {condition} ORDER BY deadline, reg_date, reg_number, card_id "
            "LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": limit, "offset": offset},
        ).fetchall()
    return [CardListItem.model_validate(row) for row in rows]


@router.get("/cards/{document_id}", response_model=CardView)
def get_card(document_id: uuid.UUID, principal: CurrentPrincipal, control: Control) -> CardView:
    """The control card of a document or of an assignment (by its id), its status now and its history."""
    card = readable(principal, control.card_of(document_id), or_raise=CardNotFound(document_id))
    history = [
        HistoryItem(
            **{k: v for k, v in item.items() if k in _HISTORY_FIELDS},
            details={k: v for k, v in item.items() if k not in _HISTORY_FIELDS},
        )
        for item in card.history
    ]
    return CardView(
        id=card.id,
        document_id=card.document_id,
        kind=card.kind,
        assignment_id=card.assignment_id,
        reg_number=card.reg_number,
        reg_date=card.reg_date,
        deadline=card.deadline,
        late_after=card.late_after,
        rule=card.rule,
        status=card.status_on(control.today(), control.calendar, control.due_soon_days),
        executor=card.executor,
        controller=card.controller,
        unit=card.unit,
        opened_on=card.opened_on,
        reported_on=card.reported_on,
        done_on=card.done_on,
        history=history,
    )


# -- calendar and rules ---------------------------------------------------------------------------------------------
class DeadlineView(BaseModel):
    deadline: date
    rule: str
    source: str
    start: date


class RuleView(BaseModel):
    name: str
    title: str
    source: str
    calendar_days: int
    months: int
    working_days: int


@router.get("/calendar/deadline", response_model=DeadlineView, tags=["calendar"])
def get_deadline(
    control: Control,
    start: Annotated[date, Query(description="The day the term counts from (registration), YYYY-MM-DD")],
    rule: Annotated[str, Query(description="A rule's name (GET /calendar/rules)")],
) -> DeadlineView:
    """The deadline a rule gives from a start day, by the business calendar now, with the rule's source."""
    found = rule_named(rule)
    return DeadlineView(deadline=found.deadline(start, control.calendar), rule=found.name, source=found.source,
                        start=start)  # fmt: skip


@router.get("/calendar/rules", response_model=list[RuleView], tags=["calendar"])
def list_rules() -> list[RuleView]:
    """Every deadline rule, with where it comes from."""
    return [RuleView.model_validate(rule, from_attributes=True) for rule in RULES.values()]


class CalendarYearView(BaseModel):
    year: int
    version: int
    days_off: list[date]
    working_days: list[date]
    changes: list[dict[str, Any]]


class Correction(RequestBody):
    days_off: list[date] = Field(default_factory=list, description="Regional days off of the year")
    working_days: list[date] = Field(default_factory=list, description="Days made working (e.g. a Saturday)")
    reason: str = Field(min_length=1, max_length=1000, description="Why (the regional law or decree)")


class MovedView(BaseModel):
    card_id: uuid.UUID
    subject_id: uuid.UUID
    previous: date
    deadline: date
    reason: str


class CorrectedView(CalendarYearView):
    moved: list[MovedView]


def _year_view(control: ControlApplication, year: int) -> CalendarYearView:
    found = control.calendar_year(year)
    if found is None:
        return CalendarYearView(year=year, version=0, days_off=[], working_days=[], changes=[])
    return CalendarYearView(
        year=year, version=len(found.changes), days_off=found.days_off, working_days=found.working_days,
        changes=found.changes,
    )  # fmt: skip


@router.get("/calendar/years/{year}", response_model=CalendarYearView, tags=["calendar"])
def get_calendar_year(
    year: Annotated[int, Path(ge=2000, le=2100)], principal: CurrentPrincipal, control: Control
) -> CalendarYearView:
    """The regional corrections of a year over the federal production calendar, with every version."""
    return _year_view(control, year)


@router.put("/calendar/years/{year}", response_model=CorrectedView, tags=["calendar"])
def correct_calendar_year(
    year: Annotated[int, Path(ge=2000, le=2100)],
    body: Correction,
    principal: CurrentPrincipal,
    control: Control,
    pool: Database,
) -> CorrectedView:
    """An administrator sets the year's regional days off and working days (a new version); open deadlines are
    recalculated, and the answer says which moved and why."""
    require_role(principal, "admin")
    with pool.connection() as conn:
        open_cards = [row["card_id"] for row in conn.execute("SELECT card_id FROM cards WHERE done_on IS NULL")]
    _, moved = control.correct_calendar(
        year,
        days_off=body.days_off,
        working_days=body.working_days,
        reason=body.reason,
        by=principal.sub,
        open_cards=open_cards,
    )
    view = _year_view(control, year)
    return CorrectedView(**view.model_dump(), moved=[MovedView(**asdict(m)) for m in moved])


@router.get("/calendar/{day}", response_model=DayView, tags=["calendar"])
def get_day(day: date, principal: CurrentPrincipal, control: Control) -> DayView:
    """Whether a day is a working day by the production calendar and the region's corrections."""
    return DayView(date=day, working=control.calendar.is_working_day(day))


@router.get("/calendar", response_model=list[DayView], tags=["calendar"])
def get_days_off(
    principal: CurrentPrincipal,
    control: Control,
    year: Annotated[int, Query(ge=2000, le=2100)],
) -> list[DayView]:
    """Non-working days of a year (weekends and holidays, with transfers and the region's corrections)."""
    calendar = control.calendar
    day = date(year, 1, 1)
    out: list[DayView] = []
    while day.year == year:
        if not calendar.is_working_day(day):
            out.append(DayView(date=day, working=False))
        day = date.fromordinal(day.toordinal() + 1)
    return out


# -- the clock ------------------------------------------------------------------------------------------------------
class ClockView(BaseModel):
    today: date
    set: bool


class ClockSetting(RequestBody):
    today: date | None = Field(description="The day the control clock shows; null: the real day again")


@router.get("/clock", response_model=ClockView, tags=["clock"])
def get_clock(principal: CurrentPrincipal, control: Control) -> ClockView:
    return ClockView(today=control.today(), set=control.today() != control.real_today())


@router.put("/clock", response_model=ClockView, tags=["clock"])
def set_clock(body: ClockSetting, request: Request, principal: CurrentPrincipal, control: Control) -> ClockView:
    """Move the control clock (tests and training only: EDMS_CONTROL_CLOCK_SETTABLE); reminders follow it."""
    if not request.app.state.control_settings.clock_settable:
        raise HTTPException(403, "the control clock is the real one here (EDMS_CONTROL_CLOCK_SETTABLE is off)")
    require_role(principal, "admin")
    control.set_today(body.today)
    return ClockView(today=control.today(), set=body.today is not None)


# -- reminders ------------------------------------------------------------------------------------------------------
class ReminderView(BaseModel):
    card_id: uuid.UUID
    kind: str
    deadline: date
    on_day: date
    executor: str | None
    recipients: list[dict[str, str]]


@router.get("/reminders", response_model=list[ReminderView], tags=["reminders"])
def list_reminders(
    principal: CurrentPrincipal,
    pool: Database,
    card_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReminderView]:
    """Reminders issued in the caller's organization ("due soon" and "overdue"), newest deadline first."""
    params: dict[str, Any] = {"org": principal.org, "card": card_id, "limit": limit}
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT card_id, kind, deadline, on_day, executor, recipients FROM reminders WHERE org = %(org)s "
            "AND (%(card)s::uuid IS NULL OR card_id = %(card)s) ORDER BY deadline DESC, card_id, kind LIMIT %(limit)s",
            params,
        ).fetchall()
    return [ReminderView.model_validate(row) for row in rows]


# -- reports --------------------------------------------------------------------------------------------------------
CSV, XLSX = "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"json": "application/json", "csv": CSV, "xlsx": XLSX, "svg": "image/svg+xml"}


class OtherOrganization(DomainError):
    """A report of another organization was asked for (403): reports count the caller's organization only."""

    status = 403
    title = "Forbidden"


#: `org` of a report: the caller's own organization, the only one a report counts (issue 12: no other organization's
#: documents by report); another one is refused rather than answered about one's own under its name.
ReportOrg = Annotated[
    str | None, Query(max_length=100, description="The caller's own organization (another one is refused: 403)")
]


def _period(
    principal: Principal,
    control: ControlApplication,
    start: date,
    end: date,
    as_of: date | None,
    kind: str | None,
    org: str | None = None,
) -> reports.Period:
    if org is not None and org != principal.org:
        note_refusal(f"{principal.sub}@{principal.org} may not read a report of {org}")
        raise OtherOrganization(f"reports count only the organization {principal.org}", field="org")
    return reports.Period.checked(start, end, as_of or control.today(), principal.org, kind)


def _format(request: Request, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("json", "csv", "xlsx"):
            raise InvalidField(f"unknown format {fmt!r}; formats: json, csv, xlsx", field="format")
        return fmt
    accept = request.headers.get("accept", "")
    for name in ("xlsx", "csv"):
        if FORMATS[name] in accept:
            return name
    return "json"


@router.get(
    "/reports/discipline",
    tags=["reports"],
    responses={200: {"description": "The report", "content": {"application/json": {}, CSV: {}, XLSX: {}}}},
)
def discipline_report(
    request: Request,
    principal: CurrentPrincipal,
    control: Control,
    pool: Database,
    start: Annotated[date, Query(alias="from", description="First day of the period (deadlines in it)")],
    end: Annotated[date, Query(alias="to", description="Last day of the period")],
    group_by: Annotated[str, Query(description="org, unit, executor (or week, month)")] = "unit",
    as_of: Annotated[date | None, Query(description="The report as it stood at the end of this day")] = None,
    kind: Annotated[str | None, Query(description="document or assignment; both when absent")] = None,
    fmt: Annotated[str | None, Query(alias="format", description="json, csv or xlsx (else the Accept header)")] = None,
    org: ReportOrg = None,
) -> Response:
    """Executive discipline of the caller's organization: due, done on time, done late, open and overdue, share late.

    JSON by default; CSV or XLSX by `format=` or the `Accept` header.
    """
    period = _period(principal, control, start, end, as_of, kind, org)
    reports.check_group(group_by)
    answer = _format(request, fmt)
    rows = reports.discipline(pool, period, group_by)
    if answer == "csv":
        return Response(reports.as_csv(rows), media_type=CSV)
    if answer == "xlsx":
        name = f"discipline-{group_by}-{period.start}-{period.end}-as-of-{period.as_of}.xlsx"
        return Response(
            reports.as_xlsx(rows, period, group_by),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JSONResponse(
        {
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "as_of": period.as_of.isoformat(),
            "group_by": group_by,
            "kind": kind,
            "rows": [asdict(r) for r in rows],
            "total": asdict(reports.total(rows)),
        }
    )


@router.get(
    "/reports/discipline/chart",
    tags=["reports"],
    response_class=Response,
    responses={200: {"description": "The chart", "content": {FORMATS["svg"]: {"schema": {"type": "string"}}}}},
)
def discipline_chart(
    principal: CurrentPrincipal,
    control: Control,
    pool: Database,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    as_of: date | None = None,
    kind: str | None = None,
    org: ReportOrg = None,
) -> Response:
    """An SVG chart for a meeting: share late by unit, and the trend by week."""
    period = _period(principal, control, start, end, as_of, kind, org)
    svg = reports.as_svg(reports.discipline(pool, period, "unit"), reports.discipline(pool, period, "week"), period)
    return Response(svg, media_type="image/svg+xml")


@router.get("/reports/late-executors", tags=["reports"])
def late_executors(
    principal: CurrentPrincipal,
    control: Control,
    pool: Database,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    as_of: date | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    org: ReportOrg = None,
) -> dict[str, Any]:
    """The executors with the most assignments done late or overdue in the period, worst first."""
    period = _period(principal, control, start, end, as_of, "assignment", org)
    return {"as_of": period.as_of, "rows": [asdict(r) for r in reports.late_executors(pool, period, limit)]}


@router.get("/reports/stages", tags=["reports"])
def stage_durations(
    principal: CurrentPrincipal,
    control: Control,
    pool: Database,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    as_of: date | None = None,
    org: ReportOrg = None,
) -> dict[str, Any]:
    """Durations of route stages completed in the period, in working days, against the norms (DOMAIN.md)."""
    period = _period(principal, control, start, end, as_of, None, org)
    rows = reports.stages(pool, period, control.calendar)
    return {"as_of": period.as_of, "rows": [asdict(r) for r in rows]}
