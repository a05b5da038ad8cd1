"""Registration cards, drafts and journals: pure domain, no I/O.

Numbering rule (DOMAIN.md, "Registration card"; Instruction on records management): a journal gives numbers by a
configurable pattern such as `<unit code>-<case index>/<sequence>`, the sequence restarts each year, and numbers are
never reused or skipped. The journal is an aggregate saved atomically with the document it numbers, so a number
exists only together with its document.

Documents that come from outside (incoming letters, appeals) and the governor's assignments and plan items are
registered when they are received or made (`Document`). Documents made inside — outgoing letters, internal
documents, orders, acts, contracts — live first as drafts (проекты) with their versions (`Draft`) and get their
number when routing reports them signed (DOMAIN.md: "Outgoing documents are registered on the day of signing").
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from edms_contracts import DeliveryChannel, DocumentKind, LinkType, Urgency

NAMESPACE = uuid.UUID("0b7f4d3e-3c55-4a47-9a43-2f6d2f0f8a11")

#: No registry date before this is plausible (dates before it are typing errors, not old letters).
EARLIEST_PLAUSIBLE = date(1991, 1, 1)


# -- journals ------------------------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: What a number pattern may contain: the sequence (required), the year, the case index, the journal code, the unit.
PLACEHOLDERS = frozenset({"seq", "year", "case", "code", "unit"})


@dataclass(frozen=True)
class JournalSpec:
    """A registration journal (журнал регистрации): its code, number pattern and the case it files into.

    `kinds` are the document kinds it registers; `units` limits it to some units (empty: all); with `per_unit` each
    unit has its own sequence (and the pattern usually shows `{unit}`).
    """

    code: str
    title: str
    pattern: str
    case_index: str
    kinds: tuple[DocumentKind, ...] = ()
    units: tuple[str, ...] = ()
    per_unit: bool = False

    def __post_init__(self) -> None:
        names = set(_PLACEHOLDER.findall(self.pattern))
        if "seq" not in names:
            raise InvalidJournal(f"journal {self.code}: the number pattern {self.pattern!r} has no {{seq}}")
        unknown = names - PLACEHOLDERS
        if unknown:
            raise InvalidJournal(f"journal {self.code}: unknown placeholders {sorted(unknown)} in {self.pattern!r}")

    def format(self, seq: int, year: int, unit: str | None = None) -> str:
        return self.pattern.format(seq=seq, year=year, case=self.case_index, code=self.code, unit=unit or "")

    def sequence_key(self, unit: str | None) -> str:
        """What a sequence is counted for: the journal, or the journal in one unit."""
        return f"{self.code}@{unit or ''}" if self.per_unit else self.code


class InvalidJournal(ValueError):
    pass


@dataclass(frozen=True)
class JournalPlan:
    """An organization's journals (data: a file per organization, or set by an administrator)."""

    journals: tuple[JournalSpec, ...]

    def __post_init__(self) -> None:
        codes = [j.code for j in self.journals]
        doubled = sorted({c for c in codes if codes.count(c) > 1})
        if doubled:
            raise InvalidJournal(f"journal codes must be unique: {doubled}")
        missing = [k.value for k in DocumentKind if not any(k in j.kinds for j in self.journals)]
        if missing:
            raise InvalidJournal(f"no journal registers the kinds {missing}")

    def journal_for(self, kind: DocumentKind, unit: str | None) -> JournalSpec:
        """The journal of a kind in a unit: one made for that unit first, then one for all units."""
        for journal in self.journals:
            if kind in journal.kinds and unit is not None and unit in journal.units:
                return journal
        for journal in self.journals:
            if kind in journal.kinds and not journal.units:
                return journal
        raise UnknownJournal(f"no journal registers {kind.value} documents of unit {unit!r}")


class UnknownJournal(LookupError):
    pass


class Journal(Aggregate):
    """One journal's numbering for one organization and year; `last_seq` only grows, by one."""

    @staticmethod
    def create_id(org: str, code: str, year: int) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"journal/{org}/{code}/{year}")

    @event("Opened")
    def __init__(self, org: str, code: str, year: int) -> None:
        self.org = org
        self.code = code
        self.year = year
        self.last_seq = 0

    @event("NumberIssued")
    def issue_number(self, document_id: uuid.UUID, seq: int) -> None:
        if seq != self.last_seq + 1:  # never skipped, never reused
            raise ValueError(f"journal {self.code}/{self.year}: expected number {self.last_seq + 1}, got {seq}")
        self.last_seq = seq


def journal_id(org: str, spec: JournalSpec, unit: str | None, year: int) -> uuid.UUID:
    return Journal.create_id(org, spec.sequence_key(unit), year)


class JournalBook(Aggregate):
    """The journals an administrator set for an organization (versions kept); without one, the file's plan holds."""

    @staticmethod
    def create_id(org: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"journal-book/{org}")

    @event("Opened")
    def __init__(self, org: str) -> None:
        self.org = org
        self.plan: list[dict[str, Any]] | None = None

    @event("PlanSet")
    def set_plan(self, plan: list[dict[str, Any]], set_by: str) -> None:
        self.plan = plan


def plan_from_data(journals: list[dict[str, Any]]) -> JournalPlan:
    """A plan from its data form (the TOML file's `[[journal]]` tables, or the administrator's JSON)."""
    try:
        return JournalPlan(
            tuple(
                JournalSpec(
                    code=str(j["code"]),
                    title=str(j["title"]),
                    pattern=str(j["pattern"]),
                    case_index=str(j["case_index"]),
                    kinds=tuple(DocumentKind(k) for k in j["kinds"]),
                    units=tuple(str(u) for u in j.get("units", ())),
                    per_unit=bool(j.get("per_unit", False)),
                )
                for j in journals
            )
        )
    except KeyError as exc:
        raise InvalidJournal(f"a journal lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise InvalidJournal(str(exc)) from None


def plan_to_data(plan: JournalPlan) -> list[dict[str, Any]]:
    return [{**asdict(j), "kinds": [k.value for k in j.kinds], "units": list(j.units)} for j in plan.journals]


# -- cards ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Card:
    """The fields of a registration card (DOMAIN.md "Registration card"), as the clerk fills them in.

    Persons (signer, executor) and the applicant are dicts as the contracts carry them (`PersonRef`, `Applicant`).
    """

    kind: DocumentKind
    title: str
    text: str | None = None
    addressee: str | None = None
    signer: dict[str, Any] | None = None
    executor: dict[str, Any] | None = None
    sheets: int | None = None
    appendices: int | None = None
    appendix_sheets: int | None = None
    delivery_channel: DeliveryChannel | None = None
    received_date: date | None = None
    correspondent: str | None = None
    correspondent_number: str | None = None
    correspondent_date: date | None = None
    urgency: Urgency = Urgency.NONE
    access: str | None = None
    applicant: dict[str, Any] | None = None
    counterparty: str | None = None
    valid_until: date | None = None
    deadline: date | None = None
    plan_period: str | None = None

    def stored(self) -> dict[str, Any]:
        """The card as event arguments: enums as their values."""
        out = asdict(self)
        for name, value in out.items():
            if isinstance(value, (DocumentKind, DeliveryChannel, Urgency)):
                out[name] = value.value
        return out


@dataclass(frozen=True)
class KindRule:
    """How a kind is registered, and what its card must say."""

    required: tuple[str, ...] = ()
    #: Numbered when routing reports the draft signed (not when it is made).
    at_signing: bool = False


#: Sources: DOMAIN.md "Registration card" and "Deadlines"; Federal Law 59-ФЗ art. 7 (an appeal names the citizen and
#: a postal or e-mail address for the answer) and art. 13 (personal reception: a card of the reception); the model
#: instruction on records management (outgoing documents and acts are registered on the day of signing, with their
#: signer and addressee).
KIND_RULES: dict[DocumentKind, KindRule] = {
    DocumentKind.INCOMING_LETTER: KindRule(("correspondent", "correspondent_number", "correspondent_date")),
    DocumentKind.OUTGOING_LETTER: KindRule(("addressee", "signer"), at_signing=True),
    DocumentKind.INTERNAL: KindRule(("addressee", "signer"), at_signing=True),
    DocumentKind.ORDER: KindRule(("signer",), at_signing=True),
    DocumentKind.GOVERNOR_ACT: KindRule(("signer",), at_signing=True),
    DocumentKind.GOVERNMENT_ACT: KindRule(("signer",), at_signing=True),
    DocumentKind.CONTRACT: KindRule(("counterparty", "signer"), at_signing=True),
    DocumentKind.GOVERNOR_ASSIGNMENT: KindRule(("executor", "deadline")),
    DocumentKind.CITIZEN_APPEAL: KindRule(("applicant",)),
    DocumentKind.CITIZEN_ORAL_APPEAL: KindRule(("applicant", "addressee")),
    DocumentKind.PLAN_ITEM: KindRule(("executor", "deadline", "plan_period")),
}

#: Fields that only some kinds have: anything else on a card of another kind is a mistake, not a note.
ONLY_FOR: dict[str, frozenset[DocumentKind]] = {
    "correspondent": frozenset({DocumentKind.INCOMING_LETTER}),
    "correspondent_number": frozenset({DocumentKind.INCOMING_LETTER}),
    "correspondent_date": frozenset({DocumentKind.INCOMING_LETTER}),
    "applicant": frozenset({DocumentKind.CITIZEN_APPEAL, DocumentKind.CITIZEN_ORAL_APPEAL}),
    "counterparty": frozenset({DocumentKind.CONTRACT}),
    "valid_until": frozenset({DocumentKind.CONTRACT}),
    "plan_period": frozenset({DocumentKind.PLAN_ITEM}),
}


class InvalidCard(ValueError):
    """A card that breaks a rule of its kind; names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CorrespondentRequired(InvalidCard):
    """An incoming document names its correspondent and the correspondent's outgoing number and date."""

    def __init__(self, field: str) -> None:
        super().__init__(field, f"{field} is required for an incoming document")


def check_card(card: Card, today: date, marks: frozenset[str]) -> None:
    """The rules of the card's kind; `today` is the organization's date (one time zone for every check)."""
    rule = KIND_RULES[card.kind]
    for name in rule.required:
        if getattr(card, name) in (None, ""):
            if card.kind is DocumentKind.INCOMING_LETTER:
                raise CorrespondentRequired(name)
            raise InvalidCard(name, f"{name} is required for {card.kind.value}")
    for name, kinds in ONLY_FOR.items():
        if getattr(card, name) is not None and card.kind not in kinds:
            raise InvalidCard(name, f"{card.kind.value} has no {name}")
    if card.deadline is not None and card.deadline < today:
        raise InvalidCard("deadline", f"{card.deadline} is in the past (today is {today})")
    for name in ("correspondent_date", "received_date"):
        value: date | None = getattr(card, name)
        if value is not None:
            if value > today:
                raise InvalidCard(name, f"{value} is in the future (today is {today})")
            if value < EARLIEST_PLAUSIBLE:
                raise InvalidCard(name, f"{value} is before {EARLIEST_PLAUSIBLE}: not a plausible date")
    if card.received_date and card.correspondent_date and card.received_date < card.correspondent_date:
        raise InvalidCard("received_date", "a letter cannot be received before its date")
    if card.access is not None and card.access not in marks:
        raise InvalidCard("access", f"{card.access!r} is not a restriction mark here; use one of {sorted(marks)}")
    applicant = card.applicant
    if applicant is not None and not (applicant.get("address") or applicant.get("email")):
        # 59-ФЗ art. 7 p. 1: the citizen gives a postal or an e-mail address for the answer
        raise InvalidCard("applicant.address", "an appeal gives a postal or an e-mail address for the answer")


# -- documents -----------------------------------------------------------------------------------------------------
def _cause_id(cause: str | None) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"document/{cause}") if cause else uuid.uuid4()


def idempotency_cause(org: str, user: str, key: str) -> str:
    """The cause of a registration asked for with an `Idempotency-Key` (scoped to who sent it)."""
    return f"idempotency-key/{org}/{user}/{key}"


def event_cause(event_id: uuid.UUID) -> str:
    """The cause of a registration an event asked for (a municipal node's package, a signing)."""
    return f"event/{event_id}"


def _named_logins(*people: str | dict[str, Any] | None) -> frozenset[str]:
    """The logins a card itself names: those the shared read rule counts as the document's people
    (edms_runtime.access.on_registered, on_drafted) — the card knows them before the facts derived from its events."""
    logins = (person.get("login") if isinstance(person, dict) else person for person in people)
    return frozenset(login for login in logins if login)


@dataclass
class _Links:
    """Links kept on a card, both ways: what it points at and what points at it."""

    out: list[dict[str, Any]] = field(default_factory=list)
    inbound: list[dict[str, Any]] = field(default_factory=list)


class Document(Aggregate):
    """A registration card (регистрационная карточка) of a document registered when received or made.

    A registration with a cause (a client's idempotency key, the event that asked for it) gets an id derived from
    that cause, so asking again finds the same card instead of numbering another one.
    """

    status = "registered"
    version_no = 1

    @staticmethod
    def create_id(cause: str | None = None, **_: object) -> uuid.UUID:
        return _cause_id(cause)

    @event("Registered")
    def __init__(
        self,
        kind: str,
        journal: str,
        reg_number: str,
        reg_date: date,
        title: str,
        org: str,
        unit: str | None,
        registered_by: str,
        case_index: str,
        text: str | None = None,
        correspondent: str | None = None,
        correspondent_number: str | None = None,
        correspondent_date: date | None = None,
        urgency: str = Urgency.NONE.value,
        access: str | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        cause: str | None = None,
        fingerprint: str | None = None,
        addressee: str | None = None,
        signer: dict[str, Any] | None = None,
        executor: dict[str, Any] | None = None,
        sheets: int | None = None,
        appendices: int | None = None,
        appendix_sheets: int | None = None,
        delivery_channel: str | None = None,
        received_date: date | None = None,
        applicant: dict[str, Any] | None = None,
        counterparty: str | None = None,
        valid_until: date | None = None,
        deadline: date | None = None,
        plan_period: str | None = None,
        links: list[dict[str, Any]] | None = None,
        similar: list[dict[str, Any]] | None = None,
    ) -> None:
        self.kind = kind
        self.journal = journal
        self.reg_number = reg_number
        self.reg_date = reg_date
        self.title = title
        self.org = org
        self.unit = unit
        self.registered_by = registered_by
        self.case_index = case_index
        self.text = text
        self.correspondent = correspondent
        self.correspondent_number = correspondent_number
        self.correspondent_date = correspondent_date
        self.urgency = urgency
        self.access = access
        self.cause = cause
        #: A digest of the request that registered it: the same cause with another request is a mistake.
        self.fingerprint = fingerprint
        self.addressee = addressee
        self.signer = signer
        self.executor = executor
        self.sheets = sheets
        self.appendices = appendices
        self.appendix_sheets = appendix_sheets
        self.delivery_channel = delivery_channel
        self.received_date = received_date
        self.applicant = applicant
        self.counterparty = counterparty
        self.valid_until = valid_until
        self.deadline = deadline
        self.plan_period = plan_period
        self.similar = list(similar or [])
        self.attachments: list[dict[str, Any]] = []
        self.links = _Links(out=list(links or []))
        self.grants: dict[str, dict[str, Any]] = {}

    @event("AttachmentAdded")
    def add_attachment(
        self,
        sha256: str,
        filename: str,
        media_type: str,
        size: int,
        added_by: str,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        added_at: datetime | None = None,
    ) -> None:
        _attach(self, sha256, filename, media_type, size, added_by, added_at)

    @event("AttachmentTextExtracted")
    def text_extracted(
        self, sha256: str, filename: str, chunk: int, chunks: int, text: str, error: str | None = None
    ) -> None:
        _extracted(self, sha256, chunk, chunks, error)

    @event("Linked")
    def link(self, link_type: str, target_id: uuid.UUID, linked_by: str) -> None:
        self.links.out.append({"link_type": link_type, "target_id": target_id})

    @event("LinkedFrom")
    def link_from(self, link_type: str, source_id: uuid.UUID, linked_by: str) -> None:
        self.links.inbound.append({"link_type": link_type, "source_id": source_id})

    @event("AccessGranted")
    def grant_access(
        self,
        org: str,
        grantee: str,
        grantee_org: str,
        by: str,
        reason: str,
        until: date | None = None,
        granted_at: datetime | None = None,
    ) -> None:
        _granted(self, grantee, grantee_org, by, reason, until, granted_at)

    @event("AccessRevoked")
    def revoke_access(self, org: str, grantee: str, grantee_org: str, by: str, reason: str | None = None) -> None:
        self.grants.pop(grant_key(grantee, grantee_org), None)

    def named_logins(self) -> frozenset[str]:
        """Who the card names: the clerk who registered it, its addressee, executor and signer."""
        return _named_logins(self.registered_by, self.addressee, self.executor, self.signer)


class Draft(Aggregate):
    """A draft (проект) of a document made inside: versions kept; numbered when routing reports it signed."""

    # the card's fields, set from the card and its versions
    kind: str
    title: str
    text: str | None
    addressee: str | None
    signer: dict[str, Any] | None
    executor: dict[str, Any] | None
    urgency: str
    deadline: date | None

    @staticmethod
    def create_id(cause: str | None = None, **_: object) -> uuid.UUID:
        return _cause_id(cause)

    @event("Created")
    def __init__(
        self,
        org: str,
        unit: str | None,
        created_by: str,
        card: dict[str, Any],
        cause: str | None = None,
        fingerprint: str | None = None,
        correlation_id: uuid.UUID | None = None,
    ) -> None:
        self.org = org
        self.unit = unit
        self.created_by = created_by
        self.cause = cause
        self.fingerprint = fingerprint
        self.status = "draft"
        self.version_no = 1
        self.access: str | None = card.get("access")
        self.versions: list[dict[str, Any]] = [{"version": 1, "by": created_by, "changes": dict(card)}]
        self.journal: str | None = None
        self.reg_number: str | None = None
        self.reg_date: date | None = None
        self.registered_by: str | None = None
        self.case_index: str | None = None
        self.similar: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.links = _Links()
        self.grants: dict[str, dict[str, Any]] = {}
        self._set(card)

    def _set(self, card: dict[str, Any]) -> None:
        for name, value in card.items():
            setattr(self, name, value)

    def card(self) -> Card:
        names = Card.__dataclass_fields__
        values = {name: getattr(self, name) for name in names}
        values["kind"] = DocumentKind(values["kind"])
        values["urgency"] = Urgency(values["urgency"])
        if values["delivery_channel"] is not None:
            values["delivery_channel"] = DeliveryChannel(values["delivery_channel"])
        return Card(**values)

    @event("Revised")
    def revise(self, revised_by: str, changes: dict[str, Any], version: int) -> None:
        if self.status != "draft":
            raise ValueError(f"document {self.id} is registered as {self.reg_number}: it has no new versions")
        if version != self.version_no + 1:
            raise ValueError(f"draft {self.id}: expected version {self.version_no + 1}, got {version}")
        self.version_no = version
        self.versions.append({"version": version, "by": revised_by, "changes": dict(changes)})
        self._set(changes)

    @event("Registered")
    def register(
        self,
        journal: str,
        reg_number: str,
        reg_date: date,
        case_index: str,
        registered_by: str,
        org: str,
        unit: str | None,
        card: dict[str, Any],
        draft_version: int,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        self.status = "registered"
        self.journal = journal
        self.reg_number = reg_number
        self.reg_date = reg_date
        self.case_index = case_index
        self.registered_by = registered_by
        self._set(card)

    @event("AttachmentAdded")
    def add_attachment(
        self,
        sha256: str,
        filename: str,
        media_type: str,
        size: int,
        added_by: str,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        added_at: datetime | None = None,
    ) -> None:
        _attach(self, sha256, filename, media_type, size, added_by, added_at)

    @event("AttachmentTextExtracted")
    def text_extracted(
        self, sha256: str, filename: str, chunk: int, chunks: int, text: str, error: str | None = None
    ) -> None:
        _extracted(self, sha256, chunk, chunks, error)

    @event("Linked")
    def link(self, link_type: str, target_id: uuid.UUID, linked_by: str) -> None:
        self.links.out.append({"link_type": link_type, "target_id": target_id})

    @event("LinkedFrom")
    def link_from(self, link_type: str, source_id: uuid.UUID, linked_by: str) -> None:
        self.links.inbound.append({"link_type": link_type, "source_id": source_id})

    @event("AccessGranted")
    def grant_access(
        self,
        org: str,
        grantee: str,
        grantee_org: str,
        by: str,
        reason: str,
        until: date | None = None,
        granted_at: datetime | None = None,
    ) -> None:
        _granted(self, grantee, grantee_org, by, reason, until, granted_at)

    @event("AccessRevoked")
    def revoke_access(self, org: str, grantee: str, grantee_org: str, by: str, reason: str | None = None) -> None:
        self.grants.pop(grant_key(grantee, grantee_org), None)

    def named_logins(self) -> frozenset[str]:
        """Who the draft names: its author, the clerk who numbered it, its addressee, executor and signer."""
        return _named_logins(self.created_by, self.registered_by, self.addressee, self.executor, self.signer)


#: Either kind of card a service may show.
CardHolder = Document | Draft


def _attach(
    card: Document | Draft,
    sha256: str,
    filename: str,
    media_type: str,
    size: int,
    added_by: str,
    added_at: datetime | None,
) -> None:
    """Process 7 (DOMAIN.md, attaching an appendix to an incoming document): who added which file, and when."""
    if attachment(card, sha256) is not None:
        return  # stored before attaching was idempotent: the file is on the card once (RegistryApplication checks)
    card.attachments.append(
        {
            "sha256": sha256,
            "filename": filename,
            "media_type": media_type,
            "size": size,
            "added_by": added_by,
            "added_at": added_at,
            "text": "pending",
        }
    )


def _extracted(card: Document | Draft, sha256: str, chunk: int, chunks: int, error: str | None) -> None:
    entry = attachment(card, sha256)
    if entry is not None and entry.get("text") == "pending" and chunk == chunks - 1:
        entry["text"] = "failed" if error else "extracted"


def grant_key(grantee: str, grantee_org: str) -> str:
    return f"{grantee}@{grantee_org}"


def _granted(
    card: Document | Draft,
    grantee: str,
    grantee_org: str,
    by: str,
    reason: str,
    until: date | None,
    granted_at: datetime | None,
) -> None:
    """An explicit grant to read the card (Decree No. 1233 of 03.11.1994: a ДСП document by the head's permission);
    granting the same person again replaces the earlier grant."""
    card.grants[grant_key(grantee, grantee_org)] = {
        "login": grantee,
        "org": grantee_org,
        "by": by,
        "reason": reason,
        "until": until,
        "granted_at": granted_at,
    }


def attachment(card: Document | Draft, sha256: str) -> dict[str, Any] | None:
    """The card's attachment with this content, if it has one (a file is attached to a document once)."""
    return next((entry for entry in card.attachments if entry["sha256"] == sha256), None)


class LinkRefused(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.field = "target_id"


def link(source: CardHolder, link_type: LinkType, target: CardHolder, linked_by: str) -> None:
    """Link two cards, recorded on both (shown from either end); both are saved together."""
    if source.id == target.id:
        raise LinkRefused("a document cannot be linked to itself")
    if source.org != target.org:
        raise LinkRefused("documents of different organizations are not linked")
    if any(r["link_type"] == link_type.value and r["target_id"] == target.id for r in source.links.out):
        return  # already linked: nothing to do
    source.link(link_type.value, target.id, linked_by)
    target.link_from(link_type.value, source.id, linked_by)


def register(
    journal: Journal,
    spec: JournalSpec,
    card: Card,
    *,
    reg_date: date,
    org: str,
    unit: str | None,
    registered_by: str,
    correlation_id: uuid.UUID | None = None,
    cause: str | None = None,
    fingerprint: str | None = None,
    links: list[dict[str, Any]] | None = None,
    similar: list[dict[str, Any]] | None = None,
) -> Document:
    """Number and create a card registered at receipt. The caller saves the journal and the document together (and
    the link targets, which record the link from their end)."""
    if KIND_RULES[card.kind].at_signing:
        raise InvalidCard("kind", f"a {card.kind.value} is numbered when it is signed: make a draft of it first")
    seq = journal.last_seq + 1
    document = Document(
        journal=spec.code,
        reg_number=spec.format(seq, reg_date.year, unit),
        reg_date=reg_date,
        org=org,
        unit=unit,
        registered_by=registered_by,
        case_index=spec.case_index,
        correlation_id=correlation_id,
        cause=cause,
        fingerprint=fingerprint,
        links=list(links or []),
        similar=list(similar or []),
        **card.stored(),
    )
    journal.issue_number(document.id, seq)
    return document


def number_draft(
    journal: Journal, spec: JournalSpec, draft: Draft, *, reg_date: date, registered_by: str, causation_id: uuid.UUID
) -> None:
    """Give a signed draft its number (the caller saves journal and draft together)."""
    seq = journal.last_seq + 1
    draft.register(
        journal=spec.code,
        reg_number=spec.format(seq, reg_date.year, draft.unit),
        reg_date=reg_date,
        case_index=spec.case_index,
        registered_by=registered_by,
        org=draft.org,
        unit=draft.unit,
        card=draft.card().stored(),
        draft_version=draft.version_no,
        causation_id=causation_id,
    )
    journal.issue_number(draft.id, seq)
