"""Control's and archive's read models through their APIs, and `edms replay` of each rebuilding them identically.

What is on control (DOMAIN.md "Deadlines"), the cases of a year and their inventories (DOMAIN.md "Archive"), each
filtered by the read rule inside the query (Decree No. 1233 of 03.11.1994 for ДСП).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import psycopg
import pytest

from edms_runtime.auth import issue_token
from edms_runtime.cli import main as edms
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.support import Client, eventually


@pytest.fixture(scope="module")
def documents(clerk: Client) -> list[dict[str, Any]]:
    return [
        clerk.register(title="О ремонте кровли школы"),
        clerk.register(title="О проверке пожарной сигнализации", access="ДСП"),
    ]


@pytest.fixture(scope="module")
def dsp_reader(stack: Stack, clerk: Client) -> Client:
    token = issue_token(
        PlatformSettings(data_dir=stack.data_dir), user="reader1", org=clerk.org, unit="01", roles=["dsp_reader"]
    )
    return Client(stack, token, clerk.org)


@pytest.fixture(scope="module")
def colleague(stack: Stack, clerk: Client) -> Client:
    """Another clerk of the organization: neither admitted to ДСП nor the one who registered these documents."""
    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user="clerk2", org=clerk.org, unit="01",
                        roles=["clerk"])  # fmt: skip
    return Client(stack, token, clerk.org)


@pytest.fixture(scope="module")
def stranger(stack: Stack) -> Client:
    token = issue_token(
        PlatformSettings(data_dir=stack.data_dir), user="x", org="org-other", unit="01", roles=["clerk"]
    )
    return Client(stack, token, "org-other")


def _numbers(client: Client, service: str, path: str, **params: Any) -> list[str]:
    return sorted(str(item["reg_number"]) for item in client.get(service, path, **params).json())


def test_cards_on_control_are_listed_by_the_read_rule(
    documents: list[dict[str, Any]], clerk: Client, colleague: Client, dsp_reader: Client, stranger: Client
) -> None:
    ordinary, restricted = (d["reg_number"] for d in documents)
    eventually(lambda: _numbers(dsp_reader, "control", "/cards") == sorted([ordinary, restricted]))
    assert _numbers(colleague, "control", "/cards") == [ordinary]
    assert _numbers(clerk, "control", "/cards") == sorted([ordinary, restricted])  # registered it: handles it
    assert _numbers(stranger, "control", "/cards") == []
    deadline = colleague.get("control", "/cards").json()[0]["deadline"]
    assert colleague.get("control", "/cards", deadline_to=deadline).json()[0]["reg_number"] == ordinary
    assert colleague.get("control", "/cards", deadline_to="2000-01-01").json() == []


def test_a_case_and_its_inventory_are_shown_by_the_read_rule(
    documents: list[dict[str, Any]], colleague: Client, dsp_reader: Client, stranger: Client
) -> None:
    ordinary, restricted = (d["reg_number"] for d in documents)
    year = documents[0]["reg_date"][:4]

    def case_with_both() -> dict[str, Any] | None:
        cases = dsp_reader.get("archive", "/cases", year=year).json()
        return next((c for c in cases if c["case_index"] == "01-10" and c["documents"] == 2), None)

    case = eventually(case_with_both)
    mine = colleague.get("archive", f"/cases/{case['case_id']}").json()
    assert mine["documents"] == 1
    assert [line["reg_number"] for line in mine["inventory"]] == [ordinary]
    assert mine["inventory"][0]["title"] == "О ремонте кровли школы"
    full = dsp_reader.get("archive", f"/cases/{case['case_id']}").json()
    assert sorted(line["reg_number"] for line in full["inventory"]) == sorted([ordinary, restricted])
    assert stranger.get("archive", "/cases", year=year).json() == []
    assert stranger.get("archive", f"/cases/{case['case_id']}").status_code == 404


def _table(stack: Stack, table: str) -> list[tuple[str]]:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        rows: list[tuple[str]] = conn.execute(f"SELECT row_to_json(t)::text FROM {table} t ORDER BY 1").fetchall()
    return rows


@pytest.mark.parametrize(
    ("service", "tables"), [("control", ["control.cards"]), ("archive", ["archive.cases", "archive.inventory"])]
)
def test_edms_replay_rebuilds_the_read_model_identically(
    stack: Stack,
    documents: list[dict[str, Any]],
    dsp_reader: Client,
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    tables: list[str],
) -> None:
    eventually(lambda: len(dsp_reader.get("control", "/cards").json()) == 2)
    eventually(lambda: sum(c["documents"] for c in dsp_reader.get("archive", "/cases").json()) == 2)
    before = [_table(stack, table) for table in tables]
    assert stack.database_url
    assert stack.kafka_bootstrap
    monkeypatch.setenv("EDMS_DATABASE_URL", stack.database_url)
    monkeypatch.setenv("EDMS_KAFKA_BOOTSTRAP", stack.kafka_bootstrap)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert edms(["replay", service]) == 0
    assert "swapped in" in out.getvalue()
    assert [_table(stack, table) for table in tables] == before
