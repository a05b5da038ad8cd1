"""Routing as one service on a real PostgreSQL, without a broker: what the consumer and the relay would move.

`Desk` builds the service exactly as its composition root does (application on the event store, read model,
policies, relay, HTTP API) and stands in for the broker only: `feed` gives the consumer records as aiokafka would
return them (directory and registry events, as those services publish them), `pump` turns what routing stored into
envelopes with the relay's own code (`OutboxRelay.prepare`) and feeds them back to routing's read model. Imported by
package path (services.routing.tests.desk): the tests run with --import-mode=importlib.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from edms_contracts import (
    ControlCardOpened,
    DocumentDrafted,
    DraftRevised,
    Envelope,
    Event,
    PersonRef,
    Role,
    decode,
)
from edms_contracts.directory import PersonRegistered, UnitCreated
from edms_contracts.topics import ALL_TOPICS, CONTROL_CARD, REGISTRY_DIRECTORY, REGISTRY_DOCUMENT
from edms_routing.api import router
from edms_routing.application import RoutingApplication
from edms_routing.projections import READ_MODEL, CalendarSource
from edms_routing.publishes import to_contract
from edms_routing.stream import policies
from edms_runtime.auth import issue_token
from edms_runtime.consumer import BatchResult, TrackingConsumer
from edms_runtime.eventstore import build_application
from edms_runtime.http import create_app
from edms_runtime.relay import OutboxRelay
from edms_runtime.service import build_parts
from edms_runtime.settings import PlatformSettings
from runtime.tests.records import Record, consumer_record, published, registered

ORG = "demo-region"
#: A Friday: stage norms count working days, so Monday is the next one.
TODAY = date(2026, 11, 27)
TOPICS = {topic.name: topic for topic in ALL_TOPICS}


@dataclass
class Desk:
    app: RoutingApplication
    consumer: TrackingConsumer
    relay: OutboxRelay
    http: TestClient
    settings: PlatformSettings
    position: int = 0
    #: Everything routing published so far, as envelopes (what control, search, archive and registry receive).
    published: list[Envelope] = field(default_factory=list)

    # -- people and tokens ---------------------------------------------------------------------------------------
    def person(
        self, login: str, *roles: str, unit: str = "01", org: str = ORG, full_name: str | None = None
    ) -> dict[str, str]:
        """A person registered in the directory (as the registry publishes it), and their bearer header."""
        self.feed(
            published(
                PersonRegistered(
                    org=org,
                    by="admin",
                    person_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{org}/{login}"),
                    login=login,
                    full_name=full_name or login.title(),
                    unit=unit,
                    position="специалист",
                    roles=[Role(role) for role in roles],
                ),
                uuid.uuid5(uuid.NAMESPACE_URL, f"{org}/{login}"),
                REGISTRY_DIRECTORY,
            )
        )
        return self.token(login, *roles, unit=unit, org=org)

    def token(self, login: str, *roles: str, unit: str = "01", org: str = ORG) -> dict[str, str]:
        token = issue_token(self.settings, user=login, org=org, roles=list(roles), unit=unit)
        return {"Authorization": f"Bearer {token}"}

    def unit(self, code: str, parent: str | None = None, org: str = ORG) -> None:
        unit_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{org}/unit/{code}")
        self.feed(
            published(
                UnitCreated(org=org, by="admin", unit_id=unit_id, code=code, name=f"Отдел {code}", parent=parent),
                unit_id,
                REGISTRY_DIRECTORY,
            )
        )

    # -- documents -----------------------------------------------------------------------------------------------
    def letter(
        self,
        *,
        access: str | None = None,
        org: str = ORG,
        control_deadline: date | None = None,
        kind: str = "incoming_letter",
    ) -> uuid.UUID:
        """An incoming letter registered (and, with a deadline, put on control), as registry and control publish."""
        document, record = registered(org=org, access=access, reg_date=TODAY, kind=kind)
        records = [record]
        if control_deadline is not None:
            card = ControlCardOpened(
                card_id=uuid.uuid4(),
                document_id=document,
                reg_number="01-10/1",
                deadline=control_deadline,
                rule="10 days",
                org=org,
            )
            records.append(published(card, card.card_id, CONTROL_CARD))
        self.feed(*records)
        self.pump()
        return document

    def draft(self, author: str, signer: str | None, kind: str = "outgoing_letter") -> uuid.UUID:
        document = uuid.uuid4()
        event = DocumentDrafted(
            document_id=document,
            kind=kind,
            title="О направлении сведений",
            org=ORG,
            author=author,
            signer=PersonRef(name="Петров П. П.", login=signer) if signer else None,
        )
        self.feed(published(event, document, REGISTRY_DOCUMENT))
        self.pump()
        return document

    def revise(self, document: uuid.UUID, version: int) -> None:
        event = DraftRevised(document_id=document, version=version, revised_by="author", changed=["text"])
        self.feed(published(event, document, REGISTRY_DOCUMENT, version=version))
        self.pump()

    # -- the broker's part ------------------------------------------------------------------------------------------
    def feed(self, *records: Record) -> BatchResult:
        result = self.consumer.apply_batch(list(records))
        assert result.dead == [], [letter.reason for letter in result.dead]
        return result

    def pump(self) -> list[Envelope]:
        """Publish what routing stored since the last pump (the relay's mapping) and apply it to the read model."""
        notifications = self.app.recorder.select_notifications(self.position + 1, 10_000)
        if not notifications:
            return []
        self.position = notifications[-1].id
        prepared = self.relay.prepare(notifications)
        assert prepared.dead == [], [letter.reason for letter in prepared.dead]
        envelopes = [decode(message.value) for message in prepared.messages]
        self.published.extend(envelopes)
        self.feed(*(consumer_record(m.value, TOPICS[m.topic], m.key, m.headers) for m in prepared.messages))
        return envelopes

    def events(self, event_type: type[Event]) -> list[dict[str, Any]]:
        return [e.payload for e in self.published if e.event_type == event_type.event_type()]

    # -- HTTP --------------------------------------------------------------------------------------------------------
    def post(self, path: str, headers: dict[str, str], json: Any = None) -> Any:
        response = self.http.post(path, headers=headers, json=json)
        self.pump()
        return response

    def put(self, path: str, headers: dict[str, str], json: Any = None) -> Any:
        response = self.http.put(path, headers=headers, json=json)
        self.pump()
        return response

    def get(self, path: str, headers: dict[str, str], **params: Any) -> Any:
        return self.http.get(path, headers=headers, params=params)

    def inbox(self, headers: dict[str, str]) -> list[dict[str, Any]]:
        response = self.get("/inbox", headers)
        assert response.status_code == 200, response.text
        tasks: list[dict[str, Any]] = response.json()
        return tasks


@contextmanager
def running_desk(database_url: str, data_dir: Path) -> Iterator[Desk]:
    settings = PlatformSettings(database_url=database_url, data_dir=data_dir)
    app = build_application(RoutingApplication, database_url, "routing")
    app.clock = lambda: TODAY
    parts = build_parts(
        name="routing",
        settings=settings,
        application=app,
        mapper=to_contract,
        policies=policies(app),
        read_model=READ_MODEL,
    )
    app.calendar = CalendarSource(parts.pool, every=0)
    consumer = next(part for part in parts.background if isinstance(part, TrackingConsumer))
    relay = next(part for part in parts.background if isinstance(part, OutboxRelay))
    http = TestClient(create_app(parts, [router], title="routing", description="test"))
    try:
        yield Desk(app=app, consumer=consumer, relay=relay, http=http, settings=settings)
    finally:
        parts.pool.close()
        app.close()
