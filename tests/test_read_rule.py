"""Every service applies the read rule to what it shows of a document (issue 6, item 10).

The rule is `edms_runtime.auth.Principal.may_read`: the cards of one's own organization, and a card with an access
restriction mark (ДСП, "для служебного пользования") only for those admitted to it (RESTRICTED_READER_ROLES) —
Regulation on the procedure for handling official information of limited distribution in federal executive bodies,
approved by Decree of the Government of the RF No. 1233 of 03.11.1994. What one may not read answers 404 with the
same body as a document that does not exist (not 403), so its existence does not leak; search leaves it out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.support import Client, eventually

Document = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """One endpoint that shows something of a document: its card, route, control card, filing, or search hits."""

    service: str
    path: Callable[[str], str]

    def get(self, client: Client, document: Document) -> httpx.Response:
        if self.service == "search":
            return client.get("search", "/search", q=document["reg_number"])
        return client.get(self.service, self.path(document["id"]))

    def shows(self, client: Client, document: Document) -> bool:
        """Whether the client is shown the document here: 200 or a search hit; 404 or no hit at all otherwise."""
        response = self.get(client, document)
        if self.service == "search":
            assert response.status_code == 200, response.text
            body = response.json()
            if document["id"] in {hit["id"] for hit in body["hits"]}:
                return True
            assert body["total"] == 0, body
            return False
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200


ENDPOINTS = {
    "registry": Endpoint("registry", lambda id_: f"/documents/{id_}"),
    "routing": Endpoint("routing", lambda id_: f"/documents/{id_}/route"),
    "control": Endpoint("control", lambda id_: f"/cards/{id_}"),
    "archive": Endpoint("archive", lambda id_: f"/documents/{id_}"),
    "search": Endpoint("search", lambda _: "/search"),
}
BY_ID = [name for name in ENDPOINTS if name != "search"]


def _person(stack: Stack, org: str, *roles: str) -> Client:
    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user=f"u-{roles[0]}", org=org, roles=list(roles))
    return Client(stack, token, org)


@pytest.fixture(scope="module")
def reader(stack: Stack, clerk: Client) -> Client:
    """A person of the clerk's organization admitted to ДСП documents."""
    return _person(stack, clerk.org, "dsp_reader")


@pytest.fixture(scope="module")
def colleague(stack: Stack, clerk: Client) -> Client:
    """Another clerk of the clerk's organization, not admitted to ДСП documents and not on these."""
    return _person(stack, clerk.org, "clerk")


@pytest.fixture(scope="module")
def stranger(stack: Stack) -> Client:
    """A clerk of another organization."""
    return _person(stack, f"other-{uuid.uuid4().hex[:8]}", "clerk")


@pytest.fixture(scope="module")
def documents(clerk: Client, reader: Client) -> dict[str, Document]:
    """An ordinary and a ДСП document of the clerk's organization, once every service has them."""
    registered = {
        "ordinary": clerk.register(title="О ремонте кровли здания администрации"),
        "restricted": clerk.register(title="О порядке охраны здания администрации", access="ДСП"),
    }
    eventually(
        lambda: all(e.shows(reader, d) for e in ENDPOINTS.values() for d in registered.values()),
        timeout=30,
    )
    return registered


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_another_organizations_clerk_is_shown_neither(
    endpoint: str, documents: dict[str, Document], stranger: Client
) -> None:
    for name, document in documents.items():
        assert not ENDPOINTS[endpoint].shows(stranger, document), name


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_clerk_without_the_right_is_shown_the_ordinary_document_only(
    endpoint: str, documents: dict[str, Document], colleague: Client
) -> None:
    assert ENDPOINTS[endpoint].shows(colleague, documents["ordinary"])
    assert not ENDPOINTS[endpoint].shows(colleague, documents["restricted"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_clerk_who_registered_a_dsp_document_is_shown_it_by_decree_1233(
    endpoint: str, documents: dict[str, Document], clerk: Client
) -> None:
    """Decree No. 1233 of 03.11.1994: a ДСП document is for those who handle it; the clerk who registered it did."""
    assert ENDPOINTS[endpoint].shows(clerk, documents["restricted"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_dsp_reader_of_the_organization_is_shown_both(
    endpoint: str, documents: dict[str, Document], reader: Client
) -> None:
    for name, document in documents.items():
        assert ENDPOINTS[endpoint].shows(reader, document), name


@pytest.mark.parametrize("endpoint", BY_ID)
@pytest.mark.parametrize(
    ("who", "which"), [("stranger", "ordinary"), ("colleague", "restricted")], ids=["other-org", "dsp-without-right"]
)
def test_hidden_document_answers_as_an_unknown_one(
    endpoint: str, who: str, which: str, documents: dict[str, Document], request: pytest.FixtureRequest
) -> None:
    client: Client = request.getfixturevalue(who)
    hidden_id = documents[which]["id"]
    unknown_id = str(uuid.uuid4())
    hidden = ENDPOINTS[endpoint].get(client, {"id": hidden_id})
    unknown = ENDPOINTS[endpoint].get(client, {"id": unknown_id})
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.headers["content-type"] == unknown.headers["content-type"] == "application/problem+json"
    assert hidden_id in hidden.json()["detail"]
    assert hidden.text.replace(hidden_id, "{id}") == unknown.text.replace(unknown_id, "{id}")
