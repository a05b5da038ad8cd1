"""Demo data: a realistic region loaded into a running stack over the services' HTTP APIs (`edms demo load`).

The load is a list of named steps (`STEPS`), each a function of the `Demo` (HTTP client, tokens, and what earlier
steps made, e.g. `demo.ids` of documents by their key). Every step is idempotent: the directory answers 409 for an
entry that is there, every document is sent with an Idempotency-Key derived from its key, links and signatures are
recorded once. So loading again changes nothing, and a step added later (routing's resolutions and assignments,
say, after "incoming") finds what the earlier ones made: insert it into `STEPS` where it belongs.

`edms stack up` runs the load when the store is empty.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from edms_runtime.auth import issue_token
from edms_runtime.demo.documents import CLERK, Item, documents
from edms_runtime.demo.region import CORRESPONDENTS, CORRESPONDENTS_CSV, ORGANIZATIONS, ROLES, OrgSpec
from edms_runtime.settings import PlatformSettings

#: The organization whose administrator enters the region's bodies and municipalities, and whose clerk keeps the
#: external correspondents.
REGION_ORG = ORGANIZATIONS[0]


class DemoFailed(RuntimeError):
    pass


@dataclass
class Demo:
    """A load in progress: where the services are, tokens of the demo's people, what has been made so far."""

    settings: PlatformSettings
    urls: dict[str, str]
    anchor: date
    log: Callable[[str], None] = print
    #: Document ids by item key (`demo-region/in/0`), filled by the steps that make documents.
    ids: dict[str, str] = field(default_factory=dict)
    items: dict[str, list[Item]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def __post_init__(self) -> None:
        self.items = documents(self.anchor)

    def token(self, org: str, login: str) -> str:
        """A token of a demo person (by login or demo role) with the unit and roles the directory gives them."""
        if (org, login) not in self._tokens:
            self._tokens[org, login] = _token(self.settings, _org(org), login)
        return self._tokens[org, login]

    def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        org: str,
        login: str,
        body: Any = None,
        content: bytes | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        key: str | None = None,
        accept: tuple[int, ...] = (200, 201),
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(org, login)}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        if content is not None:
            headers["Content-Type"] = "text/csv"
        for attempt in range(5):
            try:
                response = self._http.request(
                    method, f"{self.urls[service]}{path}", json=body, content=content, files=files, headers=headers
                )
            except httpx.TransportError:
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code == 503:
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code not in accept:
                raise DemoFailed(f"{method} {service}{path} as {login}@{org}: {response.status_code} {response.text}")
            return response
        raise DemoFailed(f"{method} {service}{path}: the service does not answer")

    def count(self, name: str, made: bool | int = True) -> None:
        """Count what a step made (steps run organizations in threads)."""
        with self._lock:
            self.counts[name] += int(made)

    def each_org(self, work: Callable[[OrgSpec], None]) -> None:
        """Run `work` for every organization, several at once (each organization's own order is kept)."""
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(work, ORGANIZATIONS))

    def close(self) -> None:
        self._http.close()


# -- steps ------------------------------------------------------------------------------------------------------------
def load_organizations(demo: Demo) -> None:
    """The region's bodies and municipalities, entered by the regional administrator."""
    for org in ORGANIZATIONS:
        body = {
            "name": org.name,
            "short_name": org.short_name,
            "kind": org.kind,
            "code": org.code,
            "inn": org.inn,
            "ogrn": org.ogrn,
            "parent": org.parent,
        }
        response = demo.call(
            "POST", "registry", "/organizations", org=REGION_ORG.code, login="admin1", body=body, accept=(201, 409)
        )
        demo.count("organizations", response.status_code == 201)


def load_structure(demo: Demo) -> None:
    """Each organization's administrator enters its units, positions, people and a deputy (acting head on leave)."""

    def one(org: OrgSpec) -> None:
        def post(path: str, body: dict[str, Any]) -> bool:
            response = demo.call("POST", "registry", path, org=org.code, login="admin1", body=body, accept=(201, 409))
            return response.status_code == 201

        for code, name, parent in org.units:
            demo.count("units", post("/units", {"code": code, "name": name, "parent": parent}))
        heads = {"00": "head1", "07": "head2"}
        for person in org.people:
            if person.base in heads.values():
                post(
                    "/positions",
                    {"code": f"head-{person.unit}", "title": person.position, "unit": person.unit, "head": True},
                )
            body = {
                "login": person.login,
                "full_name": person.full_name,
                "org": org.code,
                "unit": person.unit,
                "position": person.position,
                "roles": list(person.roles),
            }
            demo.count("people", post("/people", body))
        starts = demo.anchor.replace(day=1)
        delegation = {
            "principal": org.person("head1").login,
            "deputy": org.person("head2").login,
            "roles": ["head"],
            "starts": starts.isoformat(),
            "ends": date(starts.year + 1, 12, 31).isoformat(),
            "reason": "исполнение обязанностей на время отпуска",
        }
        present = demo.call("GET", "registry", "/delegations", org=org.code, login="admin1").json()
        if not present:
            demo.count("delegations", post("/delegations", delegation))

    demo.each_org(one)


def load_correspondents(demo: Demo) -> None:
    """External correspondents with contact persons (a clerk enters them), and a few more from CSV."""
    region = REGION_ORG.code
    for c in CORRESPONDENTS:
        body = {
            "name": c.name,
            "short_name": c.short_name,
            "kind": "external",
            "inn": c.inn,
            "ogrn": c.ogrn,
            "address": c.address,
        }
        response = demo.call(
            "POST", "registry", "/organizations", org=region, login=CLERK, body=body, accept=(201, 409)
        )
        created = response.status_code == 201
        demo.count("correspondents", created)
        entry = response.json() if created else response.json()["existing"]
        if created:
            for name, position in c.contacts:
                demo.call(
                    "POST",
                    "registry",
                    f"/organizations/{entry['organization_id']}/contacts",
                    org=region,
                    login=CLERK,
                    body={"name": name, "position": position},
                )
    report = demo.call(
        "POST", "registry", "/organizations/import", org=region, login="admin1", content=CORRESPONDENTS_CSV.encode()
    ).json()
    demo.count("correspondents", report["imported"])


def _make(demo: Demo, item: Item) -> None:
    """Register or draft one item (again: the Idempotency-Key finds the first one)."""
    key = f"demo/{item.key}"
    if item.duplicate:
        # the clerk sends it as a new letter and is told it is registered already (409), then confirms
        demo.call("POST", "registry", item.endpoint, org=item.org, login=item.login, body=item.body, accept=(409,))
        body = {**item.body, "confirm_duplicate": True}
    else:
        body = item.body
    response = demo.call("POST", "registry", item.endpoint, org=item.org, login=item.login, body=body, key=key)
    card = response.json()
    demo.ids[item.key] = card["id"]
    if item.revision is not None and card.get("version") == 1:
        demo.call("PATCH", "registry", f"/drafts/{card['id']}", org=item.org, login=item.login, body=item.revision)
    demo.count(item.body["kind"])


def load_documents(demo: Demo) -> None:
    """Every organization's incoming letters (duplicates, near duplicates, appendices), appeals (and repeats), the
    governor's assignments, plan items, and drafts of outgoing letters, memos, orders, acts and contracts."""

    def one(org: OrgSpec) -> None:
        for item in demo.items[org.code]:
            _make(demo, item)

    demo.each_org(one)


def load_links(demo: Demo) -> None:
    """Replies linked to the letters they answer, appendices to their letters (shown from both ends)."""
    for items in demo.items.values():
        for item in items:
            for link_type, target in item.links:
                demo.call(
                    "POST",
                    "registry",
                    f"/documents/{demo.ids[item.key]}/links",
                    org=item.org,
                    login=CLERK,
                    body={"link_type": link_type, "target_id": demo.ids[target]},
                )
                demo.count("links", 1)


def load_attachments(demo: Demo) -> None:
    """Every fourth incoming letter comes with its scan's text as a file (process 7): stored by its SHA-256, its
    text extracted for search. The same file again is recorded once (200)."""

    def one(org: OrgSpec) -> None:
        letters = [i for i in demo.items[org.code] if i.body["kind"] == "incoming_letter" and not i.duplicate]
        for item in letters[::4]:
            text = f"{item.body['correspondent']}\n\n{item.body['title']}\n\n{item.body.get('text', '')}\n"
            files = {"file": ("письмо.txt", text.encode(), "text/plain")}
            response = demo.call(
                "POST",
                "registry",
                f"/documents/{demo.ids[item.key]}/attachments",
                org=item.org,
                login=CLERK,
                files=files,
            )
            demo.count("attachments", response.status_code == 201)

    demo.each_org(one)


#: Who approves a draft of each kind before it is signed, per approval stage of its route (routing's templates).
APPROVERS: dict[str, dict[str, list[str]]] = {
    "outgoing_letter": {"approval": ["head2"]},
    "internal": {"approval": ["executor1"]},
    "order": {"approval": ["head2"]},
    "governor_act": {"approval": ["head2"], "legal-review": ["executor1"]},
    "government_act": {"approval": ["head2"], "legal-review": ["executor1"]},
    "contract": {"approval": ["head2"]},
}


def sign_drafts(demo: Demo) -> None:
    """Some drafts go their route in routing: the author sends them for approval, the approvers approve, the signer
    signs (`POST :8102/documents/{id}/approval`, `.../approval/decisions`, `.../sign`); the registry numbers them
    when it hears DocumentSigned. Each step is taken from the route's state, so a second load takes none again."""

    def one(org: OrgSpec) -> None:
        for item in demo.items[org.code]:
            if item.signed_by is not None:
                _sign(demo, item)
                demo.count("signed")

    demo.each_org(one)


def _sign(demo: Demo, item: Item, timeout: float = 90) -> None:
    document = demo.ids[item.key]
    version = 2 if item.revision is not None else 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _numbered(demo, item):
            return
        response = demo.call(
            "GET", "routing", f"/documents/{document}/route", org=item.org, login=item.login, accept=(200, 404)
        )
        route = response.json() if response.status_code == 200 else None
        if route is None or route["draft_version"] != version:
            time.sleep(0.3)  # routing has not heard of the draft (or of its last version) yet
            continue
        if route["signed_by"] is None:
            _next_step(demo, item, route)
        time.sleep(0.1)
    raise DemoFailed(f"{item.key} was not approved, signed and numbered within {timeout:.0f} s")


def _next_step(demo: Demo, item: Item, route: dict[str, Any]) -> None:
    """The route's next step (a refusal because routing has not learned someone yet is tried again later)."""
    path = f"/documents/{route['document_id']}"
    retry = (200, 201, 404, 409, 422)
    if route["current_stage"] == "signing" and route["participants"]:
        demo.call(
            "POST", "routing", f"{path}/sign", org=item.org, login=item.signed_by or "head1", body={}, accept=retry
        )
    elif route["waiting_for"]:
        for login in route["waiting_for"]:
            demo.call(
                "POST",
                "routing",
                f"{path}/approval/decisions",
                org=item.org,
                login=login,
                body={"decision": "approve"},
                accept=retry,
            )
    elif not route["participants"]:
        org = _org(item.org)
        stages = {
            name: [org.person(base).login for base in logins] for name, logins in APPROVERS[item.body["kind"]].items()
        }
        body = {"approvers": stages.pop("approval"), "stages": stages}
        demo.call("POST", "routing", f"{path}/approval", org=item.org, login=item.login, body=body, accept=retry)


def _numbered(demo: Demo, item: Item) -> bool:
    card = demo.call("GET", "registry", f"/drafts/{demo.ids[item.key]}", org=item.org, login=item.login).json()
    return bool(card.get("reg_number"))


def resolve_and_execute(demo: Demo) -> None:
    """Routing's work on some incoming letters and appeals of every organization: the head's resolution with two
    assignments (one with a controller); on every third the first is reported and accepted, on the next one the
    second executor asks for more time and the head grants it; the rest stay on the executors' desks
    (`POST :8102/documents/{id}/resolutions`, `/assignments/{id}/report|accept|extension-requests`,
    `/extension-requests/{id}/grant`). Each step is taken from the route's and the assignments' state, so a second
    load takes none again."""

    def one(org: OrgSpec) -> None:
        kinds = ("incoming_letter", "citizen_appeal")
        items = [i for i in demo.items[org.code] if i.body["kind"] in kinds and not i.duplicate][:6]
        for n, item in enumerate(items):
            _resolve(demo, _org(item.org), item, n)
            demo.count("resolutions")

    demo.each_org(one)


def _resolve(demo: Demo, org: OrgSpec, item: Item, n: int, timeout: float = 90) -> None:
    head, first, second, controller = (
        org.person(base).login for base in ("head1", "executor1", "executor2", "controller1")
    )
    path = f"/documents/{demo.ids[item.key]}"
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while len(rows) < 2:
        if time.monotonic() > deadline:
            raise DemoFailed(f"{item.key}: no resolution within {timeout:.0f} s")
        route = demo.call("GET", "routing", f"{path}/route", org=item.org, login=head, accept=(200, 404))
        if route.status_code == 200 and not route.json()["resolutions"]:
            body = {
                "text": "Подготовить ответ в установленный срок",
                "assignments": [{"executor": first, "controller": controller}, {"executor": second}],
            }
            demo.call(
                "POST", "routing", f"{path}/resolutions", org=item.org, login=head, body=body, accept=(201, 404, 422)
            )  # 404/422: routing has not heard of the letter or the people yet
        rows = demo.call("GET", "routing", f"{path}/assignments", org=item.org, login=head, accept=(200, 404)).json()
        rows = rows if isinstance(rows, list) else []
        time.sleep(0.2)
    by_executor = {row["executor"]: row["assignment_id"] for row in rows}
    if n % 3 == 0:
        _report_and_accept(demo, item, by_executor[first], first, controller)
    elif n % 3 == 1:
        _extend(demo, item, by_executor[second], second, head)


def _report_and_accept(demo: Demo, item: Item, assignment: str, executor: str, controller: str) -> None:
    view = demo.call("GET", "routing", f"/assignments/{assignment}", org=item.org, login=executor).json()
    if view["status"] == "in_progress":
        body = {"text": "Исполнено, ответ направлен", "attachments": []}
        demo.call("POST", "routing", f"/assignments/{assignment}/report", org=item.org, login=executor, body=body)
        view["status"] = "reported"
    if view["status"] == "reported":
        demo.call("POST", "routing", f"/assignments/{assignment}/accept", org=item.org, login=controller, body={})


def _extend(demo: Demo, item: Item, assignment: str, executor: str, head: str) -> None:
    view = demo.call("GET", "routing", f"/assignments/{assignment}", org=item.org, login=executor).json()
    if view["extensions"]:
        return
    new = max(date.fromisoformat(view["deadline"]), date.today()) + timedelta(days=7)
    body = {"new_deadline": new.isoformat(), "reason": "Ожидаем сведения из муниципальных районов"}
    request = demo.call(
        "POST", "routing", f"/assignments/{assignment}/extension-requests", org=item.org, login=executor, body=body
    ).json()
    demo.call("POST", "routing", f"/extension-requests/{request['id']}/grant", org=item.org, login=head, body={})


#: The load, in order. Later issues add their steps here (e.g. routing's resolutions and assignments after
#: "documents", control's reports after them).
STEPS: list[tuple[str, Callable[[Demo], None]]] = [
    ("organizations", load_organizations),
    ("structure", load_structure),
    ("correspondents", load_correspondents),
    ("documents", load_documents),
    ("links", load_links),
    ("attachments", load_attachments),
    ("approval and signing", sign_drafts),
    ("resolutions and assignments", resolve_and_execute),
]


def anchor_date(data_dir: Path) -> date:
    """The day of the first load (kept in the data directory): every later load makes the same documents."""
    path = data_dir / "demo.json"
    if path.exists():
        return date.fromisoformat(json.loads(path.read_text())["anchor"])
    today = datetime.now(UTC).date()
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"anchor": today.isoformat()}))
    return today


def load(settings: PlatformSettings, urls: dict[str, str], log: Callable[[str], None] = print) -> Demo:
    """Load the demo region (or find it loaded): every step in order; returns what was made."""
    demo = Demo(settings, urls, anchor_date(settings.data_dir), log)
    try:
        for name, step in STEPS:
            started = time.monotonic()
            step(demo)
            log(f"demo: {name} done in {time.monotonic() - started:.1f} s")
    finally:
        demo.close()
    return demo


def loaded(settings: PlatformSettings, registry_url: str) -> bool:
    """Whether the demo is in the store already: its records clerk finds cards in the journal view."""
    token = issue_token(settings, user=CLERK, org=REGION_ORG.code, unit="01", roles=["clerk"])
    response = httpx.get(
        f"{registry_url}/documents", params={"size": 1}, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return response.status_code == 200 and bool(response.json()["items"])


def _org(code: str) -> OrgSpec:
    found = next((org for org in ORGANIZATIONS if org.code == code), None)
    if found is None:
        raise DemoFailed(f"no demo organization {code}; they are {', '.join(o.code for o in ORGANIZATIONS)}")
    return found


def _token(settings: PlatformSettings, org: OrgSpec, login: str) -> str:
    try:
        person = org.person(login)
    except StopIteration:
        raise DemoFailed(f"no demo login {login}; the demo logins are {', '.join(ROLES)}") from None
    return issue_token(settings, user=person.login, org=org.code, unit=person.unit, roles=list(person.roles))


def demo_token(settings: PlatformSettings, login: str, org: str = REGION_ORG.code) -> str:
    """A token of a demo person (`edms demo token clerk1 --org minfin` is the token of `clerk1@minfin`)."""
    return _token(settings, _org(org), login)
