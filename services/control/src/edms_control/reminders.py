"""Reminders and escalation (напоминания, эскалация): "due soon" and "overdue" events, each exactly once.

One replica at a time looks (a `LeaderLoop`), every few seconds, for open cards near or past their deadline by the
control clock, and asks the application to remind: the card records each reminder it issued for its deadline, so a
restart, a replay of the read models or a second replica issues nothing twice (a save racing another replica's
fails on the card's version and is dropped). Addressed to the executor (and co-executors), the controller, and the
head of the executor's unit, or of the nearest unit above with a head (the directory's events).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date
from typing import Any

import psycopg
from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from edms_control.application import ControlApplication
from edms_runtime.background import LeaderLoop

log = logging.getLogger(__name__)

REMINDERS = Counter("edms_control_reminders_total", "Reminders issued", ["kind"])


def heads_of(conn: psycopg.Connection[Any], org: str, unit: str | None, executor: str | None) -> list[str]:
    """Heads of the unit (not the executor themself), else of the nearest unit above that has one. A card opened
    before the directory told control the executor's unit takes the unit the directory gives now."""
    if unit is None and executor is not None:
        found = conn.execute("SELECT unit FROM people WHERE org = %s AND login = %s", (org, executor)).fetchone()
        unit = None if found is None else found["unit"]
    seen: set[str] = set()
    while unit is not None and unit not in seen:
        seen.add(unit)
        rows = conn.execute(
            "SELECT p.login FROM people p JOIN positions pos ON pos.org = p.org AND pos.code = p.position "
            "WHERE pos.head AND p.org = %s AND pos.unit = %s ORDER BY p.login",
            (org, unit),
        ).fetchall()
        heads = [str(row["login"]) for row in rows if row["login"] != executor]
        if heads:
            return heads
        parent = conn.execute("SELECT parent FROM units WHERE org = %s AND code = %s", (org, unit)).fetchone()
        unit = None if parent is None else parent["parent"]
    return []


class Reminders(LeaderLoop):
    name = "reminders"

    def __init__(self, *, app: ControlApplication, pool: ConnectionPool[Any], database_url: str, seconds: float):
        super().__init__(role="control-reminders", database_url=database_url)
        self.app = app
        self.pool = pool
        self.seconds = seconds

    async def lead(self, leader: psycopg.AsyncConnection[Any]) -> None:
        self.active = True
        while not self.stopping:
            await self.keep(leader)
            await asyncio.to_thread(self.round)
            await self.pause(self.seconds)

    def round(self) -> dict[str, int]:
        """One look at the open cards: every reminder due now and not issued yet is issued."""
        today = self.app.today()
        calendar = self.app.calendar
        horizon = calendar.add_working_days(today, self.app.due_soon_days)
        issued = {"due_soon": 0, "overdue": 0}
        for card_id, org, unit, executor in self._candidates(today, horizon):
            with self.pool.connection() as conn:
                heads = heads_of(conn, org or "", unit, executor)
            kind = self.app.remind(card_id, today, heads)
            if kind is not None:
                issued[kind] += 1
                REMINDERS.labels(kind).inc()
        if any(issued.values()):
            log.info("control reminders on %s: %s", today, issued)
        return issued

    def _candidates(self, today: date, horizon: date) -> list[tuple[uuid.UUID, str | None, str | None, str | None]]:
        """Open cards due by the horizon without the reminder they would get now (the card decides for sure)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT card_id, org, unit, executor FROM cards c WHERE done_on IS NULL AND deadline <= %(horizon)s "
                "AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.card_id = c.card_id AND r.deadline = c.deadline "
                "AND r.kind = CASE WHEN c.deadline < %(today)s THEN 'overdue' ELSE 'due_soon' END) "
                "ORDER BY deadline, card_id",
                {"today": today, "horizon": horizon},
            ).fetchall()
        return [(row["card_id"], row["org"], row["unit"], row["executor"]) for row in rows]
