"""The demo region (issue 7, point 8): loaded into a running stack over the HTTP APIs, it has the region's bodies,
municipalities, correspondents and people of every role, and a few hundred documents of every kind at various
stages; loading it again changes nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from edms_runtime.demo import Demo, load
from edms_runtime.demo.region import CORRESPONDENTS, ORGANIZATIONS, ROLES
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.support import Client, eventually

KINDS = {
    "incoming_letter",
    "outgoing_letter",
    "internal",
    "order",
    "governor_act",
    "government_act",
    "contract",
    "governor_assignment",
    "citizen_appeal",
    "citizen_oral_appeal",
    "plan_item",
}


@pytest.fixture(scope="module")
def demo(stack: Stack) -> Demo:
    settings = PlatformSettings(data_dir=stack.data_dir)
    urls = {name: process.url for name, process in stack.processes.items()}
    return load(settings, urls, log=lambda line: None)


def _client(stack: Stack, demo: Demo, org: str, login: str) -> Client:
    return Client(stack, demo.token(org, login), org)


def _journal(client: Client) -> list[dict[str, Any]]:
    """Every card and draft of the organization in the clerk's journal view, page by page."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"size": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get("registry", "/documents", **params).json()
        rows += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def test_the_demo_has_a_few_hundred_documents_of_every_kind_at_various_stages(stack: Stack, demo: Demo) -> None:
    expected = sum(len(items) for items in demo.items.values())
    assert expected >= 250
    assert set(demo.ids) == {item.key for items in demo.items.values() for item in items}

    def every_card() -> dict[str, list[dict[str, Any]]] | None:
        cards = {org.code: _journal(_client(stack, demo, org.code, "clerk1")) for org in ORGANIZATIONS}
        return cards if sum(len(rows) for rows in cards.values()) >= expected else None

    cards = eventually(every_card, timeout=60)
    rows = [row for org_rows in cards.values() for row in org_rows]
    assert len(rows) == expected
    assert {row["kind"] for row in rows} == KINDS
    stages = Counter(row["status"] for row in rows)
    signed = sum(1 for items in demo.items.values() for item in items if item.signed_by)
    drafts = sum(1 for items in demo.items.values() for item in items if item.endpoint == "/drafts")
    assert stages["draft"] == drafts - signed > 0
    assert stages["registered"] == expected - (drafts - signed)
    assert all(row["reg_number"] for row in rows if row["status"] == "registered")


def test_the_demo_links_duplicates_repeats_and_replies_from_both_ends(stack: Stack, demo: Demo) -> None:
    clerk = _client(stack, demo, "minfin", "clerk1")
    duplicate = clerk.get("registry", f"/documents/{demo.ids['minfin/in/dup']}").json()
    assert duplicate["links"] == [{"link_type": "duplicate_of", "document_id": demo.ids["minfin/in/0"]}]
    near = clerk.get("registry", f"/documents/{demo.ids['minfin/in/near']}").json()
    assert demo.ids["minfin/in/1"] in [s["document_id"] for s in near["similar"]]
    repeat = clerk.get("registry", f"/documents/{demo.ids['minfin/appeal/repeat']}").json()
    assert {"link_type": "repeat_of", "document_id": demo.ids["minfin/appeal/0"]} in repeat["links"]
    letter = clerk.get("registry", f"/documents/{demo.ids['minfin/in/0']}").json()
    assert {"link_type": "in_reply_to", "document_id": demo.ids["minfin/out/0"]} in letter["linked_from"]
    signed = clerk.get("registry", f"/drafts/{demo.ids['minfin/out/0']}").json()
    assert signed["status"] == "registered"
    assert signed["reg_number"].endswith("-исх")
    assert [v["version"] for v in signed["versions"]] == [1, 2]
    attached = clerk.get("registry", f"/documents/{demo.ids['minfin/in/0']}/attachments").json()
    assert [(a["filename"], a["media_type"]) for a in attached] == [("письмо.txt", "text/plain")]


def test_the_demo_directory_has_the_region_and_people_of_every_role(stack: Stack, demo: Demo) -> None:
    admin = _client(stack, demo, "demo-region", "admin1")
    bodies = admin.get("registry", "/organizations", kind="regional_body", size=100).json()["items"]
    municipalities = admin.get("registry", "/organizations", kind="municipality", size=100).json()["items"]
    external = admin.get("registry", "/organizations", kind="external", size=100).json()["items"]
    demo_codes = {org.code for org in ORGANIZATIONS}
    assert {o["code"] for o in bodies + municipalities} == demo_codes
    assert len([o for o in municipalities if o["code"] in demo_codes]) == 2
    assert len(external) == len(CORRESPONDENTS) + 2  # and the CSV's bad row was not imported
    for org in ORGANIZATIONS:
        people = _client(stack, demo, org.code, "admin1").get("registry", "/people", size=100).json()["items"]
        assert {p["login"] for p in people} == {org.person(base).login for base in ROLES}
        roles = {role for p in people for role in p["roles"]}
        assert {"clerk", "head", "executor", "controller", "archivist", "search_operator", "admin"} <= roles
        tree = _client(stack, demo, org.code, "admin1").get("registry", "/units").json()
        assert [u["code"] for u in tree] == ["00"]
    assert demo.counts["people"] == len(ORGANIZATIONS) * len(ROLES)  # the first load made them all
    assert demo.counts["units"] == sum(len(org.units) for org in ORGANIZATIONS)
    deputies = admin.get("registry", "/delegations", on=demo.anchor.isoformat()).json()
    assert [(d["principal"], d["deputy"]) for d in deputies] == [("head1", "head2")]


def test_the_demo_has_resolutions_assignments_and_desks(stack: Stack, demo: Demo) -> None:
    """Routing's step: heads' resolutions on incoming letters and appeals, assignments on the executors' desks, some
    reported and accepted, some extended (issue 8 item 8)."""
    region = "demo-region"
    tasks = _client(stack, demo, region, "executor2").get("routing", "/inbox").json()
    assert {t["task"] for t in tasks} >= {"execute"}
    overview = _client(stack, demo, region, "head1").get("routing", "/overview").json()
    statuses = {a["status"] for a in overview["assignments"]}
    assert "in_progress" in statuses
    assert demo.counts["resolutions"] > 0


def test_loading_the_demo_again_changes_nothing(stack: Stack, demo: Demo) -> None:
    settings = PlatformSettings(data_dir=stack.data_dir)
    urls = {name: process.url for name, process in stack.processes.items()}
    again = load(settings, urls, log=lambda line: None)
    assert again.ids == demo.ids
    for name in ("organizations", "units", "people", "delegations", "correspondents", "attachments"):
        assert again.counts[name] == 0, name


def test_stack_up_loads_the_demo_only_into_an_empty_store(stack: Stack, demo: Demo) -> None:
    """`edms stack up` asks `loaded` first: with the demo's cards in the journal view it loads nothing."""
    from edms_runtime.demo import loaded

    settings = PlatformSettings(data_dir=stack.data_dir)
    assert loaded(settings, stack.processes["registry"].url)
