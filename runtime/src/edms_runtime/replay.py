"""Rebuilding a read model by replay: clear it and its tracking, then have every relay republish from its store.

The consumers apply everything again (nothing is tracked any more for the cleared service) and the other
services' consumers skip the republished events by their tracking.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from edms_runtime.stack import SERVICES

#: Read-model tables per service that a replay truncates.
READ_MODELS: dict[str, tuple[str, ...]] = {"search": ("documents",)}


def replay(database_url: str, service: str, tables: list[str] | None = None) -> str:
    targets = tables if tables is not None else list(READ_MODELS.get(service, ()))
    with psycopg.connect(database_url) as conn:
        for table in targets:
            conn.execute(sql.SQL("TRUNCATE {}.{}").format(sql.Identifier(service), sql.Identifier(table)))
        conn.execute(sql.SQL("DELETE FROM {}.tracking WHERE consumer = %s").format(sql.Identifier(service)), (service,))
        for upstream in SERVICES:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{upstream}.relay_position",)).fetchone()
            if exists and exists[0]:
                conn.execute(sql.SQL("UPDATE {}.relay_position SET position = 0").format(sql.Identifier(upstream)))
    return f"{service}: cleared {', '.join(targets) or 'tracking only'}; relays republish from the beginning"
