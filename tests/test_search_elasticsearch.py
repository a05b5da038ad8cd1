"""The walking skeleton with search on Elasticsearch: the five services, and search given EDMS_ELASTICSEARCH_URL.

The engine is a real osmem-server process; registry, routing, control and archive run as in every other stack. A
document registered over HTTP reaches the search read model through Kafka, the indexer copies it into the engine,
and GET /search answers from the engine.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import OsmemProcess, Stack
from edms_search.elastic import DocumentIndex, make_client
from services.search.tests.records import running_osmem
from tests.conftest import _run_stack
from tests.infra import containers_requested, kafka_container
from tests.support import Client, eventually

INDEX = "edms-documents-skeleton"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OsmemProcess]:
    yield from running_osmem(tmp_path_factory)


@pytest.fixture(scope="module")
def stack(postgres_url: str, engine: OsmemProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system as tests/conftest.py starts it, with search on the engine (overrides `stack` here)."""
    data_dir = tmp_path_factory.mktemp("edms")
    with contextlib.ExitStack() as infra:
        kafka = os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None
        if kafka is None and containers_requested():
            kafka = infra.enter_context(kafka_container())
        search_env = {"EDMS_ELASTICSEARCH_URL": engine.url, "EDMS_SEARCH_ELASTICSEARCH_INDEX": INDEX}
        yield from _run_stack(data_dir, postgres_url, kafka, service_env={"search": search_env})


@pytest.fixture(scope="module")
def index(engine: OsmemProcess) -> Iterator[DocumentIndex]:
    client = make_client(engine.url)
    try:
        yield DocumentIndex(client, INDEX)
    finally:
        client.close()


def test_a_registered_document_is_found_through_elasticsearch(
    stack: Stack, clerk: Client, index: DocumentIndex
) -> None:
    ready = httpx.get(f"{stack.processes['search'].url}/ready").json()
    assert ready["checks"]["indexer"] is True  # the indexer runs and the engine answers

    document = clerk.register(title="О газификации населённых пунктов муниципального района")
    found = eventually(lambda: clerk.get("search", "/search", q="газификацией").json()["hits"])
    assert [hit["id"] for hit in found] == [document["id"]]
    assert found[0]["reg_number"] == document["reg_number"]
    assert found[0]["title"] == document["title"]
    # by its registration number, exactly; and later events (control card, filing, route) reach the engine too
    hit = eventually(
        lambda: [
            h
            for h in clerk.get("search", "/search", q=document["reg_number"]).json()["hits"]
            if h["deadline"] and h["case_index"] and h["route_stage"]
        ]
    )[0]
    assert hit["id"] == document["id"]
    assert hit["case_index"] == "01-10"

    # the engine holds the read-model row under the document id
    source = index.get(document["id"])
    assert source is not None
    assert (source["org"], source["reg_number"], source["title"]) == (
        clerk.org,
        document["reg_number"],
        document["title"],
    )


def test_search_answers_from_the_engine(clerk: Client, index: DocumentIndex) -> None:
    """A document put straight into the engine (not in PostgreSQL) is found: GET /search asks the engine."""
    planted = str(uuid.uuid4())
    outcome = index.bulk_index(
        [
            {
                "document_id": planted,
                "org": clerk.org,
                "reg_number": "99-99/1",
                "reg_date": "2026-11-25",
                "title": "Только в поисковом движке",
                "kind": "incoming_letter",
            }
        ]
    )
    assert outcome.indexed == [planted]
    index.refresh()
    try:
        found = clerk.get("search", "/search", q="движке").json()
        assert [hit["id"] for hit in found["hits"]] == [planted]
    finally:
        index.client.delete(index=INDEX, id=planted, refresh=True)
    assert clerk.get("search", "/search", q="движке").json()["total"] == 0


def test_other_organizations_and_those_not_admitted_do_not_see_the_document(stack: Stack, clerk: Client) -> None:
    restricted = clerk.register(title="Письмо о капитальном ремонте многоквартирных домов", access="ДСП")
    open_one = clerk.register(title="Письмо о капитальном ремонте школы")
    settings = PlatformSettings(data_dir=stack.data_dir)
    admitted = Client(stack, issue_token(settings, user="u2", org=clerk.org, roles=["dsp_reader"]), clerk.org)

    def both() -> list[str] | None:
        ids = sorted(h["id"] for h in admitted.get("search", "/search", q="ремонтом").json()["hits"])
        return ids if len(ids) == 2 else None

    assert eventually(both) == sorted([restricted["id"], open_one["id"]])
    # both are in the engine now; another clerk is not admitted to ДСП, another organization sees neither; the clerk
    # who registered the ДСП letter handled it and finds it (the shared rule, asked for the engine's query)
    colleague = Client(stack, issue_token(settings, user="c2", org=clerk.org, roles=["clerk"]), clerk.org)
    assert [h["id"] for h in colleague.get("search", "/search", q="ремонтом").json()["hits"]] == [open_one["id"]]
    assert colleague.get("search", "/search", q=restricted["reg_number"]).json()["total"] == 0
    assert clerk.get("search", "/search", q=restricted["reg_number"]).json()["total"] == 1
    stranger = Client(stack, issue_token(settings, user="u3", org="other-org", roles=["admin"]), "other-org")
    assert stranger.get("search", "/search", q="ремонтом").json()["total"] == 0
