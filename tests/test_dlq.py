"""Dead letters are listed and re-driven with `edms dlq` (issue 6 item 4), as an operator would after a fix.

The fault is a real one an operator can make and undo: a constraint added to the search read model by mistake
refuses some rows; the consumer sets those events aside (not its own fault, not transient) and goes on. Once the
constraint is gone, `edms dlq replay` takes them through the consumer again: applied once, searchable.
"""

from __future__ import annotations

import contextlib
import io
import json

import psycopg
import pytest

from edms_runtime.cli import main as edms
from edms_runtime.stack import Stack
from tests.support import Client, eventually


@pytest.fixture
def cli_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    assert stack.database_url
    monkeypatch.setenv("EDMS_DATABASE_URL", stack.database_url)
    monkeypatch.setenv("EDMS_KAFKA_BOOTSTRAP", stack.kafka_bootstrap or "")


def _edms(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = edms(list(argv))
    return code, out.getvalue()


def _dead(consumer: str) -> list[dict[str, object]]:
    code, out = _edms("dlq", "list", "--consumer", consumer, "--json")
    assert code == 0
    letters: list[dict[str, object]] = json.loads(out)
    return letters


def test_a_dead_letter_is_listed_and_re_driven_after_the_fix(stack: Stack, clerk: Client, cli_env: None) -> None:
    assert stack.database_url
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE search.documents ADD CONSTRAINT short_titles CHECK (length(title) < 40)")
    try:
        document = clerk.register(title="Письмо с заголовком длиннее, чем допускает ошибочное ограничение")
        (letter,) = eventually(lambda: [d for d in _dead("search") if d["event_type"] == "DocumentRegistered"])
        assert "short_titles" in str(letter["reason"])
        assert str(letter["source"]).startswith("edms.registry.document.v1/")
        assert letter["state"] == "dead"
        later = clerk.register(title="Короткое письмо")  # the consumer goes on
        eventually(lambda: clerk.get("search", "/search", q=later["reg_number"]).json()["total"] == 1)
        assert clerk.get("search", "/search", q=document["reg_number"]).json()["total"] == 0
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE search.documents DROP CONSTRAINT IF EXISTS short_titles")  # the fix

    code, out = _edms("dlq", "replay", "--consumer", "search")
    assert code == 0, out
    assert "applied" in out
    assert clerk.get("search", "/search", q=document["reg_number"]).json()["total"] == 1
    assert _dead("search") == []
    assert _edms("dlq", "replay", "--consumer", "search") == (0, "nothing to replay\n")
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM search.tracking WHERE consumer = 'search.read' AND aggregate_id = %s "
            "AND event_type = 'DocumentRegistered'",
            (document["id"],),
        ).fetchone()
    assert row == (1,)  # applied once


def test_dlq_replay_needs_to_be_told_which(cli_env: None) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert edms(["dlq", "replay"]) == 2
    assert "--consumer" in err.getvalue()
