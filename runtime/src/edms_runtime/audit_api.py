"""`GET /audit` of every service: its audit log for administrators (permission `audit.read`), with filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from psycopg import sql
from pydantic import BaseModel

from edms_runtime.audit import AuditLog
from edms_runtime.auth import CurrentPrincipal, require_permission

Outcome = Literal["allowed", "refused", "not_found", "invalid", "failed"]


class AuditEntryView(BaseModel):
    seq: int
    at: datetime
    actor: str
    org: str | None
    unit: str | None
    roles: list[str]
    action: str
    target: str
    document: str | None
    outcome: str
    status: int
    reason: str | None
    client: str | None
    forwarded_for: str | None
    correlation_id: str | None
    prev_hash: str
    entry_hash: str


class AuditPage(BaseModel):
    entries: list[AuditEntryView]
    #: Pass as `after` for the next page; none when this page is the last.
    next_after: int | None


router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditPage, summary="The audit log (administrators): who read or did what")
def get_audit(
    request: Request,
    principal: CurrentPrincipal,
    user: Annotated[str | None, Query(description="Login of the actor (`unverified:…` for refused tokens)")] = None,
    document: Annotated[str | None, Query(description="Document id (or attachment SHA-256)")] = None,
    action: Annotated[str | None, Query(description="e.g. `GET /documents/{document_id}`, or only a method")] = None,
    outcome: Outcome | None = None,
    since: Annotated[datetime | None, Query(description="From this moment (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Before this moment")] = None,
    after: Annotated[int, Query(ge=0, description="Entries after this sequence number")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """An administrator sees the entries of their own organization and those of refused tokens (no organization
    is verified for them). Oldest first; page with `after`."""
    service = request.app.state.service_name
    require_permission(principal, f"{service}:audit.read")
    audit: AuditLog = request.app.state.parts.audit
    request.app.state.parts.database.check()
    where = ["seq > %(after)s", "(org = %(org)s OR org IS NULL)"]
    params: dict[str, Any] = {"after": after, "org": principal.org, "limit": limit}
    for column, value in (("actor", user), ("document", document), ("outcome", outcome)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    if action is not None:
        where.append("(action = %(action)s OR action LIKE %(method)s)")
        params["action"], params["method"] = action, f"{action} %"
    if since is not None:
        where.append("at >= %(since)s")
        params["since"] = since
    if until is not None:
        where.append("at < %(until)s")
        params["until"] = until
    query = sql.SQL("SELECT * FROM {}.audit_log WHERE {} ORDER BY seq LIMIT %(limit)s").format(
        sql.Identifier(audit.service), sql.SQL(" AND ".join(where))
    )
    with audit.pool.connection() as conn:
        rows = conn.execute(query, params).fetchall()
    entries = [
        AuditEntryView.model_validate(
            {**row, "prev_hash": bytes(row["prev_hash"]).hex(), "entry_hash": bytes(row["entry_hash"]).hex()}
        )
        for row in rows
    ]
    return AuditPage(entries=entries, next_after=entries[-1].seq if len(entries) == limit else None)
