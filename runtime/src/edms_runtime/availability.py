"""Whether the service's PostgreSQL answers now, so that requests needing it fail at once (503) while it does not.

Without this, a request with PostgreSQL down met a dead pooled connection (500), waited out a pool's 30 s timeout,
or sat in eventsourcing's retries (10 attempts, 0.2 s apart). The watch holds one connection of its own and waits
on its socket: a server that shuts down or restarts closes it, which is seen at once; a server that stops
answering is seen by a ping every second. Requests check the flag before they touch the database, and a request
that meets a lost connection lowers it too. When the server answers again, the pools drop the connections that
died with it before the flag goes up, so the first requests after an outage do not meet them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing import persistence
from psycopg_pool import ConnectionPool, PoolTimeout

from edms_runtime.errors import Unavailable

log = logging.getLogger(__name__)

#: What the database raises when it cannot serve a request now; the HTTP shell answers them with 503.
#: (eventsourcing wraps psycopg's errors in its own; psycopg_pool's PoolTimeout is a psycopg OperationalError.)
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
)

#: SQLSTATEs saying the connection, not the statement, failed: class 08 (connection exception), 57P01 admin
#: shutdown, 57P02 crash shutdown, 57P03 cannot connect now (PostgreSQL documentation, Appendix A).
LOST_SQLSTATES = ("08", "57P01", "57P02", "57P03")

CONNECT_TIMEOUT_SECONDS = 2.0
RETRY_SECONDS = 0.5


def connection_lost(exc: BaseException | None) -> bool:
    """Whether `exc`, or the psycopg error that caused it, says the server is out of reach."""
    while exc is not None:
        if isinstance(exc, PoolTimeout):
            return False  # all connections busy: a loaded pool, not a lost server
        if isinstance(exc, psycopg.InterfaceError):
            return True
        if isinstance(exc, psycopg.OperationalError):
            return exc.sqlstate is None or exc.sqlstate.startswith(LOST_SQLSTATES)
        exc = exc.__cause__
    return False


class DatabaseWatch:
    """The flag requests check, and the loop (run by the HTTP shell, reported by /ready) that keeps it."""

    name = "database"

    def __init__(self, database_url: str, pools: Sequence[ConnectionPool[Any]], interval: float = 1.0) -> None:
        self.database_url = database_url
        self.pools = list(pools)
        self.interval = interval
        self.up = True  # the service has just connected while it started
        self._stopping = False

    def check(self) -> None:
        """Answer 503 at once while the database is out of reach, instead of waiting in pools and retries."""
        if not self.up:
            raise Unavailable("the database does not answer; try again in a moment")

    def lost(self, exc: BaseException) -> None:
        if self.up:
            log.warning("the database does not answer: %s", exc)
        self.up = False

    def healthy(self) -> bool:
        return self.up

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        while not self._stopping:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
                async with conn:
                    if not self.up:
                        await self._drop_dead_connections()
                        log.info("the database answers again")
                    await self._watch(conn)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                self.lost(exc)
                await asyncio.sleep(RETRY_SECONDS)

    async def _watch(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while not self._stopping:
            async with asyncio.timeout(self.interval):
                await conn.execute("SELECT 1")
            self.up = True  # also ends a false alarm raised by one request's broken connection
            # Waiting on the socket (nothing is listened to): a server that closes the connection ends the wait.
            async for _ in conn.notifies(timeout=self.interval):
                pass

    async def _drop_dead_connections(self) -> None:
        checks = [asyncio.to_thread(pool.check) for pool in self.pools if not pool.closed]
        for outcome in await asyncio.gather(*checks, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.warning("could not check pooled connections: %s", outcome)
