"""The loops a service runs beside its HTTP API (relay, consumer, search indexer, reminders to come), one lifecycle.

The HTTP shell starts every part's `run` as a task when the app starts, calls `stop` at shutdown (then cancels the
task), and reports `healthy()` under the part's `name` in /ready.

`LeaderLoop` is the shape of a part that only one replica of a service may run at a time (the outbox relay, the
search indexer): it holds a PostgreSQL session advisory lock on a connection of its own for as long as it leads;
the other replicas stand by, and one of them takes over within seconds when the leader dies (its connection closes,
so does the lock). A leader checks its lock connection every second, so a lock lost with its connection stops the
leading at once instead of silently letting two replicas lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import psycopg

from edms_runtime.db import prewarm, try_lead

log = logging.getLogger(__name__)


class BackgroundPart(Protocol):
    name: str

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    def healthy(self) -> bool: ...


class LeaderLoop:
    """A background part run by one replica at a time; subclasses write `lead`."""

    name = "leader"
    #: Seconds a standby waits before it tries to lead again, and a failed session before it starts anew.
    standby_seconds = 2.0
    retry_seconds = 1.0

    def __init__(self, *, role: str, database_url: str) -> None:
        self.role = role
        self.database_url = database_url
        #: Leading and working (the lead's own notion: connected to the broker, the engine, ...).
        self.active = False
        self.standby = False
        self.wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self._lock_checked = 0.0

    @property
    def stopping(self) -> bool:
        return self._stopping

    def healthy(self) -> bool:
        return self.active or self.standby

    async def run(self) -> None:
        while not self._stopping:
            try:
                async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as leader:
                    if await try_lead(leader, self.role):
                        self.standby = False
                        await self.lead(leader)
                    else:
                        self.standby = True
                        await self.pause(self.standby_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: session failed; starting again", self.role)
                await self.pause(self.retry_seconds)
            finally:
                self.active = False

    async def lead(self, leader: psycopg.AsyncConnection[Any]) -> None:
        """Do the work while leading; return (or raise) to give the lead up. Call `keep` now and then."""
        raise NotImplementedError

    async def keep(self, leader: psycopg.AsyncConnection[Any]) -> None:
        """Prove the lock still lives (its connection answers); raises when it does not, ending the lead."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._lock_checked > 1.0:
            self._lock_checked = loop.time()
            await leader.execute("SELECT 1")

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the part is stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    async def idle(self, seconds: float) -> None:
        """Wait for a wake-up (new work) or `seconds`, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), seconds)

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self.wakeup.set()


class Prewarm:
    """Once at start: the read model's busiest tables into PostgreSQL's page cache (`db.prewarm`), off the event
    loop. A cache that stays cold is slower, not broken: the part is always healthy and a failure is only logged."""

    name = "prewarm"

    def __init__(self, *, database_url: str, schema: str, tables: tuple[str, ...]) -> None:
        self.database_url = database_url
        self.schema = schema
        self.tables = tables
        #: What the warm-up did (or why not), once it has run.
        self.outcome: str | None = None

    async def run(self) -> None:
        try:
            self.outcome = await asyncio.to_thread(prewarm, self.database_url, self.schema, self.tables)
        except psycopg.Error as exc:
            self.outcome = f"not prewarmed: {type(exc).__name__}: {exc}"
        log.info("%s: %s", self.schema, self.outcome)

    def stop(self) -> None:
        pass

    def healthy(self) -> bool:
        return True
