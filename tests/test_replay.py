"""A read model dropped and rebuilt by replay is the same, byte for byte (ARCHITECTURE.md "Replay")."""

from __future__ import annotations

import psycopg
import pytest

from edms_runtime.cli import main as edms
from edms_runtime.stack import Stack
from tests.support import Client, eventually


def _rows(stack: Stack) -> list[tuple[str]]:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        rows: list[tuple[str]] = conn.execute(
            "SELECT row_to_json(d)::text FROM search.documents d ORDER BY document_id"
        ).fetchall()
    return rows


def test_edms_replay_rebuilds_the_search_read_model_identically(
    stack: Stack, clerk: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles = ["О благоустройстве дворовых территорий", "О приёме граждан по личным вопросам", "О пожарной безопасности"]
    for title in titles:
        clerk.register(title=title)
    before = eventually(lambda: _complete(stack, len(titles)))

    assert stack.database_url
    monkeypatch.setenv("EDMS_DATABASE_URL", stack.database_url)
    assert edms(["--data-dir", str(stack.data_dir), "replay", "search"]) == 0
    assert _rows(stack) != before  # it really was emptied (and is being refilled)

    after = eventually(lambda: _complete(stack, len(titles)), timeout=30)
    assert after == before
    assert clerk.get("search", "/search", q="благоустройства").json()["total"] == 1


def _complete(stack: Stack, n: int) -> list[tuple[str]] | None:
    """All rows, once every document has its deadline, case and route stage."""
    rows = _rows(stack)
    complete = [
        r
        for r in rows
        if '"deadline":null' not in r[0]
        and '"case_index":null' not in r[0]
        and '"route_stage":null' not in r[0]
        and '"reg_number":null' not in r[0]
    ]
    return rows if len(complete) == n == len(rows) else None
