"""One incoming document through all five services, as the README's first example does it (issue 3, item 6)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from edms_runtime.stack import Stack
from tests.support import Client, eventually


def test_incoming_letter_flows_through_registry_search_control_routing_archive(clerk: Client) -> None:
    document = clerk.register(title="О предоставлении сведений о численности населения муниципальных районов")
    assert document["reg_number"] == "01-10/1"
    # registration date is today's date in the organization's time zone (Moscow by default)
    assert document["reg_date"] == str(datetime.now(ZoneInfo("Europe/Moscow")).date())
    doc_id = document["id"]

    # search finds it by another word form of its title (PostgreSQL FTS, russian)
    found = eventually(lambda: clerk.get("search", "/search", q="сведениями о населении").json()["hits"])
    assert found[0]["id"] == doc_id
    assert found[0]["reg_number"] == document["reg_number"]
    assert found[0]["title"] == document["title"]

    # control card: registration date + 10 days, moved back to a working day
    card = eventually(lambda: _ok(clerk.get("control", f"/cards/{doc_id}")))
    reg_date = date.fromisoformat(document["reg_date"])
    deadline = date.fromisoformat(card["deadline"])
    assert deadline <= reg_date + timedelta(days=10)
    assert clerk.get("control", f"/calendar/{deadline}").json()["working"] is True

    # routing: the route of process 6 waits for the head's resolution
    route = eventually(lambda: _ok(clerk.get("routing", f"/documents/{doc_id}/route")))
    assert route["current_stage"] == "resolution"
    assert route["process"].startswith("6-")

    # archive: filed into the incoming-correspondence case of this year
    filing = eventually(lambda: _ok(clerk.get("archive", f"/documents/{doc_id}")))
    assert filing["case"]["index"] == "01-10"
    assert filing["case"]["year"] == reg_date.year

    # and search shows what the other services said about it
    hit = eventually(
        lambda: [
            h
            for h in clerk.get("search", "/search", q=document["reg_number"]).json()["hits"]
            if h["deadline"] and h["case_index"] and h["route_stage"]
        ]
    )[0]
    assert hit["deadline"] == card["deadline"]
    assert hit["case_index"] == "01-10"


def test_numbers_follow_the_journal_without_gaps(clerk: Client) -> None:
    numbers = [clerk.register(title=f"Письмо {i}")["reg_number"] for i in range(5)]
    seqs = [int(n.split("/")[1]) for n in numbers]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_every_service_answers_health_ready_metrics_and_docs(stack: Stack) -> None:
    for name, process in stack.processes.items():
        assert httpx.get(f"{process.url}/health").json()["status"] == "ok", name
        assert httpx.get(f"{process.url}/ready").status_code == 200, name
        metrics = httpx.get(f"{process.url}/metrics")
        assert "edms_http_request_seconds" in metrics.text, name
        assert httpx.get(f"{process.url}/docs").status_code == 200, name
        assert httpx.get(f"{process.url}/openapi.json").json()["info"]["title"] == f"EDMS {name}"


def test_no_or_bad_token_is_401_everywhere(stack: Stack, clerk: Client) -> None:
    paths = {
        "registry": "/documents/00000000-0000-0000-0000-000000000000",
        "routing": "/documents/x/route",
        "control": "/cards/x",
        "search": "/search?q=x",
        "archive": "/documents/x",
    }
    for name, path in paths.items():
        url = f"{stack.processes[name].url}{path}"
        missing = httpx.get(url)
        assert missing.status_code == 401, name
        assert missing.headers["content-type"] == "application/problem+json"
        bad = httpx.get(url, headers={"Authorization": "Bearer not.a.token"})
        assert bad.status_code == 401, name
        forged = httpx.get(url, headers={"Authorization": f"Bearer {clerk.token[:-4]}AAAA"})
        assert forged.status_code == 401, name


def test_other_organizations_do_not_see_the_document(stack: Stack, clerk: Client) -> None:
    from edms_runtime.auth import issue_token
    from edms_runtime.settings import PlatformSettings

    document = clerk.register(title="Уникальное письмо о газификации поселков")
    eventually(lambda: clerk.get("search", "/search", q="газификации").json()["total"])
    stranger = Client(
        stack,
        issue_token(PlatformSettings(data_dir=stack.data_dir), user="u", org="other-org", roles=["clerk"]),
        "other-org",
    )
    assert stranger.get("search", "/search", q="газификации").json()["total"] == 0
    assert stranger.get("registry", f"/documents/{document['id']}").status_code == 404


def _ok(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code == 200:
        body: dict[str, Any] = response.json()
        return body
    return None


def test_restricted_card_is_read_only_by_those_admitted_decree_1233(stack: Stack, clerk: Client) -> None:
    """ДСП cards: Regulation on official information of limited distribution (Decree No. 1233 of 03.11.1994)."""
    from edms_runtime.auth import issue_token
    from edms_runtime.settings import PlatformSettings

    document = clerk.register(title="Служебное письмо о мобилизационной готовности", access="ДСП")
    admitted = Client(
        stack,
        issue_token(PlatformSettings(data_dir=stack.data_dir), user="a", org=clerk.org, roles=["dsp_reader"]),
        clerk.org,
    )
    colleague = Client(  # another clerk: not admitted, not the one who registered it (who handles it, and reads it)
        stack,
        issue_token(PlatformSettings(data_dir=stack.data_dir), user="c2", org=clerk.org, roles=["clerk"]),
        clerk.org,
    )
    assert admitted.get("registry", f"/documents/{document['id']}").json()["access"] == "ДСП"
    assert colleague.get("registry", f"/documents/{document['id']}").status_code == 404
    assert clerk.get("registry", f"/documents/{document['id']}").status_code == 200
    eventually(lambda: admitted.get("search", "/search", q="мобилизационной").json()["total"] == 1)
    assert colleague.get("search", "/search", q="мобилизационной").json()["total"] == 0
