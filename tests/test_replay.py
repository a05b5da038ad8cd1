"""`edms replay SERVICE` rebuilds a read model beside the live one and swaps it in; the API answers throughout, and
the rebuilt rows are the same, byte for byte (shared/ARCHITECTURE.md "Replay"; issue 6 item 7).
"""

from __future__ import annotations

import contextlib
import io
import threading

import psycopg
import pytest

from edms_runtime.cli import main as edms
from edms_runtime.replay import NoReadModel, read_model_of
from edms_runtime.stack import Stack
from tests.support import Client, eventually


def _rows(stack: Stack) -> list[tuple[str]]:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        rows: list[tuple[str]] = conn.execute(
            "SELECT row_to_json(d)::text FROM search.documents d ORDER BY document_id"
        ).fetchall()
    return rows


def _table_oid(stack: Stack, table: str) -> int:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT %s::regclass::oid", (table,)).fetchone()
    assert row is not None
    return int(row[0])


def _analyzed(stack: Stack, table: str) -> bool:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()
    assert row is not None
    return float(row[0]) >= 0  # -1: never analyzed (PostgreSQL 14 and later)


@pytest.fixture
def cli_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `edms` command pointed at the test stack, as an operator's shell would be."""
    assert stack.database_url
    assert stack.kafka_bootstrap
    monkeypatch.setenv("EDMS_DATABASE_URL", stack.database_url)
    monkeypatch.setenv("EDMS_KAFKA_BOOTSTRAP", stack.kafka_bootstrap)


def test_edms_replay_rebuilds_the_search_read_model_identically_while_search_answers(
    stack: Stack, clerk: Client, cli_env: None
) -> None:
    titles = ["О благоустройстве дворовых территорий", "О приёме граждан по личным вопросам", "О пожарной безопасности"]
    for title in titles:
        clerk.register(title=title)
    before = eventually(lambda: _complete(stack, len(titles)))
    old_table = _table_oid(stack, "search.documents")

    output = io.StringIO()
    codes: list[int] = []

    def run_replay() -> None:
        with contextlib.redirect_stdout(output):
            codes.append(edms(["--data-dir", str(stack.data_dir), "replay", "search"]))

    replay = threading.Thread(target=run_replay)
    replay.start()
    answers = []
    while replay.is_alive():  # the live read model answers while the new one is built
        answers.append(clerk.get("search", "/search", q="благоустройства").json()["total"])
    replay.join()

    assert codes == [0], output.getvalue()
    assert set(answers) == {1}, answers
    assert _table_oid(stack, "search.documents") != old_table  # a new table was swapped in
    assert _rows(stack) == before
    # the rebuilt tables come with their statistics: the first queries after the swap get their usual plans, not
    # those of a table PostgreSQL has never analyzed (control's discipline report: 155 ms, 66 ms
    # analyzed, at 1M events in bench/control.py)
    assert _analyzed(stack, "search.documents")
    text = output.getvalue()
    # and read into the page cache before the swap: "prewarmed 6 relations, …" (the table and its five indexes)
    assert "search: prewarmed" in text, text
    assert "events applied" in text
    assert "swapped in" in text
    assert clerk.get("search", "/search", q="благоустройства").json()["total"] == 1
    # the live consumer goes on with the new table
    later = clerk.register(title="О вывозе снега после замены таблицы")
    eventually(lambda: clerk.get("search", "/search", q=later["reg_number"]).json()["total"] == 1)


def test_a_service_without_a_read_model_is_named_with_those_that_have_one() -> None:
    """Every service of the stack has a read model now (routing's since issue 8); another name is refused."""
    with pytest.raises(NoReadModel, match=r"exchange has no read model to rebuild .*routing, search"):
        read_model_of("exchange")


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


def test_edms_replay_refuses_fewer_than_one_lane(capsys: pytest.CaptureFixture[str]) -> None:
    assert edms(["replay", "control", "--lanes", "0"]) == 2
    assert "--lanes: at least 1" in capsys.readouterr().err
