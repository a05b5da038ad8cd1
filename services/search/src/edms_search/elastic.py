"""Elasticsearch plumbing of search: the client, the index definition (Russian analysis), bulk writes.

The official `elasticsearch` client (9.x) is used with one adjustment: it always sends the versioned media type
`application/vnd.elasticsearch+json; compatible-with=9` in Accept and Content-Type. Elasticsearch 9 accepts it,
Elasticsearch 8 refuses it (it knows compatibility with 7 only), and osmem-server (the engine of the tests) refuses
it with 406. Plain `application/json` (and `application/x-ndjson` for bulk) is understood by all three, and the
requests used here (index create/alias/settings, bulk, search, count, refresh) have the same shape on 8 and 9, so
`PlainMediaTypeNode` rewrites the two headers just before they go on the wire.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from elastic_transport import HttpHeaders, Urllib3HttpNode
from elastic_transport._node import NodeApiResponse
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, TransportError

log = logging.getLogger(__name__)

#: What the client raises when the engine is unreachable or answers with an error.
ENGINE_ERRORS = (ApiError, TransportError)

_VERSIONED = re.compile(r"application/vnd\.elasticsearch\+([\w.-]+)\s*;\s*compatible-with=\d+", re.IGNORECASE)


class PlainMediaTypeNode(Urllib3HttpNode):
    """The client's HTTP node, sending plain JSON media types instead of the versioned ones (see the module doc)."""

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        if headers is not None:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                value = headers.get(name)
                if value:
                    headers[name] = _VERSIONED.sub(r"application/\1", value)
        return super().perform_request(method, target, body=body, headers=headers, request_timeout=request_timeout)


def make_client(url: str, *, ca_certs: Path | None = None, timeout: float = 10.0) -> Elasticsearch:
    """A client for `url` (credentials may be in the URL: https://user:password@host:9200)."""
    # The transport logs every request at INFO; the indexer looks at the index every second when idle.
    logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)
    return Elasticsearch(
        url,
        node_class=PlainMediaTypeNode,
        ca_certs=str(ca_certs) if ca_certs else DEFAULT,
        request_timeout=timeout,
        max_retries=1,  # the indexer has its own backoff; a search fails fast rather than hanging
        retry_on_timeout=True,
    )


#: Bumped when MAPPINGS change: a new index `<alias>-v<N>` is built beside the old one, every row is copied into it,
#: and the alias moves to it in one atomic `_aliases` request (Indexer.check_index); v2: issue 10's fields.
MAPPING_VERSION = 2

#: Columns of search.documents that make up an engine document (its _id is document_id).
FIELDS = (
    "document_id",
    "org",
    "access",
    "kind",
    "reg_number",
    "number_key",
    "reg_date",
    "title",
    "body",
    "correspondent",
    "correspondent_number",
    "unit",
    "units",
    "authors",
    "executors",
    "readers",
    "notes",
    "names",
    "files",
    "deadline",
    "due",
    "on_control",
    "done",
    "case_index",
    "route_stage",
    "attachments",
)

_RUSSIAN_TEXT = {"type": "text", "analyzer": "russian"}
_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date", "format": "strict_date"}

SETTINGS: dict[str, Any] = {
    # cursors (search_after) page without limit; from+size stays within Elasticsearch's default window
    "index": {"max_result_window": 10_100},
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",  # a document with an unknown field is refused, never guessed into the mapping
    "properties": {
        "document_id": _KEYWORD,
        "org": _KEYWORD,
        "access": _KEYWORD,
        "kind": _KEYWORD,
        "reg_number": _KEYWORD,
        "number_key": _KEYWORD,
        "reg_date": _DATE,
        "reg_year": {"type": "integer"},
        "title": _RUSSIAN_TEXT,
        "body": _RUSSIAN_TEXT,
        "correspondent": _RUSSIAN_TEXT,
        "correspondent_number": _KEYWORD,
        "unit": _KEYWORD,
        "units": _KEYWORD,
        "authors": _KEYWORD,
        "executors": _KEYWORD,
        "readers": _KEYWORD,
        "notes": _RUSSIAN_TEXT,
        "names": _RUSSIAN_TEXT,
        "files": _RUSSIAN_TEXT,
        "deadline": _DATE,
        "due": _DATE,
        "on_control": {"type": "boolean"},
        "done": {"type": "boolean"},
        "case_index": _KEYWORD,
        "route_stage": _KEYWORD,
        # sha256 -> file name: kept with the document, not searched (its keys would grow the mapping without end)
        "attachments": {"type": "object", "enabled": False},
    },
}


def to_source(row: Mapping[str, Any]) -> dict[str, Any]:
    """The engine document of a read-model row: the row's content, JSON-ready, and the registration year."""
    source: dict[str, Any] = {}
    for name in FIELDS:
        value = row.get(name)
        if isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        source[name] = value
    reg_date = row.get("reg_date")
    source["reg_year"] = reg_date.year if isinstance(reg_date, date) else None
    return source


@dataclass
class BulkOutcome:
    """What the engine did with each document of a bulk request, by document id."""

    indexed: list[str] = field(default_factory=list)
    #: Refused for now (overloaded, index missing): try again later.
    retry: dict[str, str] = field(default_factory=dict)
    #: Refused for good as it stands (e.g. a mapping conflict): a changed row may be accepted.
    refused: dict[str, str] = field(default_factory=dict)


class DocumentIndex:
    """The documents index, always addressed through its alias, so writes never create an index by accident."""

    def __init__(self, client: Elasticsearch, alias: str) -> None:
        self.client = client
        self.alias = alias

    @property
    def concrete(self) -> str:
        return f"{self.alias}-v{MAPPING_VERSION}"

    def uuid(self) -> str | None:
        """The uuid of the index behind the alias, None if there is none."""
        try:
            found = self.client.indices.get_settings(index=self.alias, name="index.uuid")
        except NotFoundError:
            return None
        uuids = sorted(str(body["settings"]["index"]["uuid"]) for body in found.body.values())
        if len(uuids) != 1:
            raise RuntimeError(f"alias {self.alias} points to {len(uuids)} indices; it must point to one")
        return uuids[0]

    def behind_alias(self) -> str | None:
        """The name of the concrete index the alias points to, None without one."""
        try:
            found = self.client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return None
        names = sorted(found.body)
        return names[0] if len(names) == 1 else None

    def create_concrete(self) -> None:
        """The index of the current mappings, without the alias (a rebuild fills it before the swap)."""
        if self.client.indices.exists(index=self.concrete):
            self.client.indices.delete(index=self.concrete)  # a rebuild that did not finish: start again
        self.client.indices.create(index=self.concrete, settings=SETTINGS, mappings=MAPPINGS)

    def swap(self, old: str) -> str:
        """Move the alias from `old` to the current index in one request (searches see one or the other, never
        neither), then delete `old`; return the new index's uuid."""
        self.client.indices.update_aliases(
            actions=[
                {"remove": {"index": old, "alias": self.alias}},
                {"add": {"index": self.concrete, "alias": self.alias}},
            ]
        )
        self.client.indices.delete(index=old)
        current = self.uuid()
        if current is None:
            raise RuntimeError(f"alias {self.alias} does not resolve after the swap")
        return current

    def ensure(self) -> str:
        """Create the index with its mappings and alias if it is missing; return the uuid of the index in use."""
        current = self.uuid()
        if current is not None:
            return current
        if self.client.indices.exists(index=self.concrete):
            self.client.indices.put_alias(index=self.concrete, name=self.alias)
        else:
            try:
                self.client.indices.create(
                    index=self.concrete, aliases={self.alias: {}}, settings=SETTINGS, mappings=MAPPINGS
                )
                log.info("created index %s (alias %s)", self.concrete, self.alias)
            except BadRequestError as exc:
                if exc.error != "resource_already_exists_exception":  # another process created it meanwhile
                    raise
        created = self.uuid()
        if created is None:
            raise RuntimeError(f"index {self.concrete} was created but alias {self.alias} does not resolve")
        return created

    def bulk_index(self, sources: Sequence[Mapping[str, Any]], into: str | None = None) -> BulkOutcome:
        """Index (create or replace) documents by id, through the alias (or `into` a concrete index being built).
        Raises ENGINE_ERRORS when the request as a whole fails."""
        outcome = BulkOutcome()
        if not sources:
            return outcome
        operations: list[Mapping[str, Any]] = []
        for source in sources:
            operations.append({"index": {"_index": into or self.alias, "_id": source["document_id"]}})
            operations.append(source)
        response = self.client.bulk(operations=operations, require_alias=into is None)
        for item in response.body["items"]:
            result = item["index"]
            document_id, status = str(result["_id"]), int(result["status"])
            if status in (200, 201):
                outcome.indexed.append(document_id)
                continue
            error = result.get("error") or {}
            reason = f"{status} {error.get('type', '')}: {error.get('reason', '')}"
            if status in (404, 408, 429) or status >= 500:
                outcome.retry[document_id] = reason
            else:
                outcome.refused[document_id] = reason
        return outcome

    def refresh(self) -> None:
        """Make everything indexed so far searchable now (Elasticsearch does it every second by itself)."""
        self.client.indices.refresh(index=self.alias)

    def count(self) -> int:
        return int(self.client.count(index=self.alias).body["count"])

    def get(self, document_id: str) -> dict[str, Any] | None:
        try:
            found = self.client.get(index=self.alias, id=document_id)
        except NotFoundError:
            return None
        source: dict[str, Any] = found.body["_source"]
        return source
