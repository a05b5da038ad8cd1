"""Executive-discipline reports (исполнительская дисциплина), from the read model `card_states` alone.

DOMAIN.md "Deadlines": executive discipline = the share of documents and assignments executed after their deadline,
plus the open and overdue ones, per body, unit, executor and period (the reference deployment's 0.31% is this share).
A card counts in the period its deadline (the one lateness is judged by) falls in; "as of" a day, each card is taken
as it stood after its last event dated on or before that day, so a past report comes out the same whenever it is
asked. Rendered as JSON, CSV, XLSX (openpyxl) and an SVG chart a head can put into a meeting.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any
from xml.sax.saxutils import escape

from psycopg_pool import ConnectionPool

from edms_control.domain import STAGE_NORMS
from edms_runtime.calendar import ProductionCalendar
from edms_runtime.errors import InvalidField

#: What a report may be grouped by: the issue's three, and the periods of the trend.
GROUPS: dict[str, str] = {
    "org": "coalesce(org, '')",
    "unit": "coalesce(unit, '')",
    "executor": "executor",
    "week": "to_char(late_after, 'IYYY-\"W\"IW')",
    "month": "to_char(late_after, 'YYYY-MM')",
}
COLUMNS = ("key", "due", "done_on_time", "done_late", "open", "open_overdue", "share_late")


@dataclass(frozen=True)
class Row:
    key: str
    due: int
    done_on_time: int
    done_late: int
    open: int
    open_overdue: int
    share_late: float


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    as_of: date
    org: str
    kind: str | None = None

    @staticmethod
    def checked(start: date, end: date, as_of: date, org: str, kind: str | None) -> Period:
        if end < start:
            raise InvalidField(f"the period ends ({end}) before it begins ({start})", field="to")
        if kind not in (None, "document", "assignment"):
            raise InvalidField(f"unknown kind {kind!r}; kinds: document, assignment", field="kind")
        return Period(start, end, as_of, org, kind)


def check_group(group_by: str) -> str:
    if group_by not in GROUPS:
        raise InvalidField(f"unknown group {group_by!r}; groups: {', '.join(GROUPS)}", field="group_by")
    return GROUPS[group_by]


def discipline(pool: ConnectionPool[Any], period: Period, group_by: str) -> list[Row]:
    """Due, done on time, done late, open, open and overdue, share late, per group; keys in order."""
    key = check_group(group_by)
    with pool.connection() as conn:
        row = conn.execute("SELECT max(on_day) AS last FROM card_states WHERE org = %s", (period.org,)).fetchone()
    latest = row is None or row["last"] is None or row["last"] <= period.as_of
    # As of a day after every card's last change, each card stands as `cards` has it now (the columns used change
    # only with a dated state): no need to pick each card's last state of the day.
    states = (
        "SELECT * FROM cards WHERE org = %(org)s"
        if latest
        else "SELECT DISTINCT ON (card_id) * FROM card_states WHERE org = %(org)s AND on_day <= %(as_of)s "
        "ORDER BY card_id, seq DESC"
    )
    query = f"""
        WITH states AS ({states})
        SELECT {key} AS key, count(*) AS due,
            count(*) FILTER (WHERE done_on IS NOT NULL AND done_on <= late_after) AS done_on_time,
            count(*) FILTER (WHERE done_on IS NOT NULL AND done_on > late_after) AS done_late,
            count(*) FILTER (WHERE done_on IS NULL) AS open,
            count(*) FILTER (WHERE done_on IS NULL AND late_after < %(as_of)s) AS open_overdue
        FROM states
        WHERE late_after BETWEEN %(start)s AND %(end)s AND {key} IS NOT NULL
            AND (%(kind)s::text IS NULL OR kind = %(kind)s)
        GROUP BY 1 ORDER BY 1
    """  # noqa: S608 - `key` is one of GROUPS, never input
    with pool.connection() as conn:
        rows = conn.execute(query, {**asdict(period), "kind": period.kind}).fetchall()
    return [_row(r) for r in rows]


def _row(r: dict[str, Any]) -> Row:
    due, late = int(r["due"]), int(r["done_late"]) + int(r["open_overdue"])
    return Row(
        key=str(r["key"]),
        due=due,
        done_on_time=int(r["done_on_time"]),
        done_late=int(r["done_late"]),
        open=int(r["open"]),
        open_overdue=int(r["open_overdue"]),
        share_late=round(late / due, 6) if due else 0.0,
    )


def total(rows: list[Row]) -> Row:
    sums = {c: sum(getattr(r, c) for r in rows) for c in ("due", "done_on_time", "done_late", "open", "open_overdue")}
    late = sums["done_late"] + sums["open_overdue"]
    return Row(key="total", share_late=round(late / sums["due"], 6) if sums["due"] else 0.0, **sums)


def late_executors(pool: ConnectionPool[Any], period: Period, limit: int) -> list[Row]:
    """Executors with the most assignments done late or overdue, worst first."""
    rows = discipline(pool, period, "executor")
    ranked = sorted(rows, key=lambda r: (-(r.done_late + r.open_overdue), -r.share_late, r.key))
    return [r for r in ranked if r.done_late + r.open_overdue][:limit]


@dataclass(frozen=True)
class StageRow:
    stage: str
    norm_working_days: int | None
    completed: int
    mean_working_days: float
    max_working_days: int
    over_norm: int


def stages(pool: ConnectionPool[Any], period: Period, calendar: ProductionCalendar) -> list[StageRow]:
    """Route stages completed in the period: their durations in working days against the norms (DOMAIN.md)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT stage, started_on, completed_on FROM stages WHERE org = %s AND completed_on BETWEEN %s AND %s "
            "AND started_on IS NOT NULL AND completed_on <= %s ORDER BY stage, route_id",
            (period.org, period.start, period.end, period.as_of),
        ).fetchall()
    durations: dict[str, list[int]] = {}
    for r in rows:
        durations.setdefault(r["stage"], []).append(calendar.working_days_between(r["started_on"], r["completed_on"]))
    out = []
    for stage, days in sorted(durations.items()):
        norm = STAGE_NORMS.get(stage)
        out.append(
            StageRow(
                stage=stage,
                norm_working_days=norm,
                completed=len(days),
                mean_working_days=round(sum(days) / len(days), 3),
                max_working_days=max(days),
                over_norm=sum(d > norm for d in days) if norm is not None else 0,
            )
        )
    return out


# -- renderings -------------------------------------------------------------------------------------------------------
def as_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([getattr(row, c) for c in COLUMNS])
    return out.getvalue()


def as_xlsx(rows: list[Row], period: Period, group_by: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "discipline"
    sheet.append([f"Executive discipline by {group_by}, {period.start} – {period.end}, as of {period.as_of}"])
    sheet.append(list(COLUMNS))
    for row in [*rows, total(rows)]:
        sheet.append([getattr(row, c) for c in COLUMNS])
    for cell in sheet["G"][2:]:
        cell.number_format = "0.00%"
    stamp = datetime.combine(period.as_of, time())
    book.properties.created = book.properties.modified = stamp  # the same report, the same properties
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_svg(by_unit: list[Row], by_week: list[Row], period: Period) -> str:
    """Two bar charts: share late by unit, and by week (the trend)."""
    width, bar, gap = 760, 22, 8
    parts: list[str] = []
    y = 40
    title = f"Executive discipline {period.start} – {period.end}, as of {period.as_of}"
    parts.append(f'<text x="10" y="22" font-size="16" font-weight="bold">{escape(title)}</text>')
    for heading, rows in (("Share late by unit", by_unit), ("Share late by week", by_week)):
        parts.append(f'<text x="10" y="{y + 14}" font-size="14">{escape(heading)}</text>')
        y += 24
        for row in rows:
            length = round(row.share_late * (width - 320), 1)
            label = escape(row.key or "(no unit)")
            parts.append(f'<text x="10" y="{y + 16}" font-size="12">{label}</text>')
            parts.append(f'<rect x="180" y="{y}" width="{length}" height="{bar}" fill="#c0392b"/>')
            parts.append(
                f'<text x="{186 + length}" y="{y + 16}" font-size="12">{row.share_late * 100:.2f}% '
                f"({row.done_late + row.open_overdue} of {row.due})</text>"
            )
            y += bar + gap
        y += 16
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" viewBox="0 0 {width} {y}" '
        f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
    )
