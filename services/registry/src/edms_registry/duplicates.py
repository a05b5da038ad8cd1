"""Duplicates at registration: the same letter twice, nearly the same text, the same citizen on the same matter.

- An incoming letter is the same letter when its correspondent, the correspondent's number and date are the same as
  an earlier one's in the organization: the clerk gets 409 with the earlier card unless they confirm, and then it is
  registered as a duplicate of it (the model instruction on records management: a document is registered once).
- Near-duplicate text (a letter sent again under another number, an appeal copied to several bodies): MinHash over
  word shingles of title and text (`datasketch`), bucketed by locality-sensitive hashing, flags earlier documents
  whose estimated Jaccard similarity reaches `SIMILAR` on the card, with the similarity.
- A citizen's appeal from the same person on the same matter is linked to the earlier one as a repeat (Federal Law
  59-ФЗ, art. 11 p. 5: repeated appeals; DOMAIN.md "Deadlines").

The lookup tables are written in the registration's own transaction, under the journal's lock, so two registrations
of the same letter cannot both miss each other.
"""

from __future__ import annotations

import hashlib
import re
import sys
import types
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from edms_contracts import DocumentKind
from edms_registry.domain import Card

if TYPE_CHECKING:
    from datasketch import MinHash


def _datasketch() -> Any:
    """The `datasketch` package without the scipy.integrate it imports for its LSH classes' parameter tuning
    (`datasketch.lsh`: `from scipy.integrate import quad`), which the registry never asks for and which costs the
    process ≈ 45 MB (importing datasketch: 81 MB of RSS with it, 37 without). While the package is imported, a
    stand-in module offers a `quad` that imports the real one when it is called; the stand-in is gone afterwards, so
    whoever imports scipy.integrate later gets the real module."""
    if "datasketch" in sys.modules or "scipy.integrate" in sys.modules:
        import datasketch

        return datasketch

    def quad(*args: Any, **kwargs: Any) -> Any:
        from scipy.integrate import quad as real  # type: ignore[import-untyped]

        return real(*args, **kwargs)

    stand_in = types.ModuleType("scipy.integrate")
    stand_in.quad = quad  # type: ignore[attr-defined]
    sys.modules["scipy.integrate"] = stand_in
    try:
        import datasketch
    finally:
        if sys.modules.get("scipy.integrate") is stand_in:
            del sys.modules["scipy.integrate"]
    return datasketch


_MinHash = _datasketch().MinHash

DDL = """
CREATE TABLE IF NOT EXISTS correspondence (
    org text NOT NULL,
    correspondent text NOT NULL,
    number text NOT NULL,
    sent date NOT NULL,
    document_id uuid NOT NULL,
    reg_number text NOT NULL,
    PRIMARY KEY (org, correspondent, number, sent, document_id)
);
CREATE TABLE IF NOT EXISTS text_signatures (
    document_id uuid PRIMARY KEY,
    org text NOT NULL,
    reg_number text NOT NULL,
    applicant text,
    signature bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS text_bands (
    org text NOT NULL,
    bucket bigint NOT NULL,
    document_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS text_bands_lookup ON text_bands (org, bucket);
"""

PERMUTATIONS = 64
BANDS, ROWS = 16, 4  # 16 × 4 = 64: pairs above ~0.5 similarity share a band with high probability
SIMILAR = 0.8
#: An appeal of the same citizen at least this similar to an earlier one is about the same matter.
SAME_MATTER = 0.5
SHINGLE = 3
#: At most this many earlier documents per band are compared (a text registered a thousand times stays cheap).
CANDIDATES = 8
_WORD = re.compile(r"[0-9a-zа-яё]+")


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower().replace("ё", "е")))


def signature(card: Card) -> MinHash:
    words = _norm(f"{card.title} {card.text or ''}").split()
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    minhash = _MinHash(num_perm=PERMUTATIONS, permutations=_PERMUTATIONS, scheme=_SCHEME)
    minhash.update_batch([s.encode() for s in shingles])
    return minhash


#: Made once: MinHash would draw them again for every signature otherwise (most of its cost).
_FIRST = _MinHash(num_perm=PERMUTATIONS, seed=17)
_PERMUTATIONS, _SCHEME = _FIRST.permutations, _FIRST.scheme


def applicant_key(card: Card) -> str | None:
    """The citizen as the appeal names them: name and the address or e-mail for the answer, normalized."""
    if card.applicant is None:
        return None
    who = card.applicant
    return f"{_norm(str(who.get('name', '')))}|{_norm(str(who.get('email') or who.get('address') or ''))}"


def _buckets(minhash: MinHash) -> list[int]:
    """One bucket per band: the hash of the band's number and its rows (so one column finds a band's matches)."""
    values = minhash.hashvalues
    return [
        int.from_bytes(
            hashlib.blake2b(bytes([b]) + values[b * ROWS : (b + 1) * ROWS].tobytes(), digest_size=8).digest(), "big"
        )
        - 2**63
        for b in range(BANDS)
    ]


def _similarities(minhash: MinHash, stored: list[bytes]) -> Any:
    """Estimated Jaccard similarity to each stored signature: the share of equal hash values, in one numpy step."""
    others = np.frombuffer(b"".join(stored), dtype=minhash.hashvalues.dtype).reshape(len(stored), PERMUTATIONS)
    return np.count_nonzero(others == minhash.hashvalues, axis=1) / PERMUTATIONS


@dataclass(frozen=True)
class Earlier:
    document_id: uuid.UUID
    reg_number: str


@dataclass
class Found:
    """What the lookup found for one new card."""

    duplicate: Earlier | None = None
    similar: list[dict[str, Any]] = field(default_factory=list)
    repeat_of: Earlier | None = None
    minhash: MinHash | None = None


def _letter_key(org: str, card: Card) -> tuple[str, str, str, date] | None:
    if card.kind is not DocumentKind.INCOMING_LETTER or not (card.correspondent and card.correspondent_number):
        return None
    assert card.correspondent_date is not None
    return org, _norm(card.correspondent), _norm(card.correspondent_number), card.correspondent_date


def find(conn: psycopg.Connection[Any], org: str, cards: Sequence[Card]) -> list[Found]:
    """For cards about to be numbered together: the same letter registered before, similar texts, earlier appeals.

    Two statements for the whole batch. Copies of one letter within the batch are found by `Batch`, as the cards
    are numbered one after another.
    """
    found = [Found(minhash=signature(card)) for card in cards]
    keys = [_letter_key(org, card) for card in cards]
    wanted = [(i, key) for i, key in enumerate(keys) if key is not None]
    if wanted:
        rows = conn.execute(
            "SELECT DISTINCT ON (w.i) w.i, c.document_id, c.reg_number FROM unnest(%s::int[], %s::text[], %s::text[], "
            "%s::date[]) AS w(i, correspondent, number, sent) JOIN correspondence c ON c.org = %s AND "
            "c.correspondent = w.correspondent AND c.number = w.number AND c.sent = w.sent ORDER BY w.i",
            (
                [i for i, _ in wanted],
                [key[1] for _, key in wanted],
                [key[2] for _, key in wanted],
                [key[3] for _, key in wanted],
                org,
            ),
        ).fetchall()
        for row in rows:
            found[row["i"]].duplicate = Earlier(row["document_id"], row["reg_number"])
    _similar(conn, org, cards, found)
    return found


def _similar(conn: psycopg.Connection[Any], org: str, cards: Sequence[Card], found: list[Found]) -> None:
    """Candidates sharing a band with each card (at most CANDIDATES per band), scored together."""
    indexes, buckets = [], []
    for i, result in enumerate(found):
        for bucket in _buckets(_minhash(result)):
            indexes.append(i)
            buckets.append(bucket)
    rows = conn.execute(
        "SELECT DISTINCT w.i, s.document_id, s.reg_number, s.applicant, s.signature "
        "FROM unnest(%s::int[], %s::bigint[]) AS w(i, bucket) CROSS JOIN LATERAL (SELECT document_id FROM "
        "text_bands b WHERE b.org = %s AND b.bucket = w.bucket LIMIT %s) AS b "
        "JOIN text_signatures s ON s.document_id = b.document_id",
        (indexes, buckets, org, CANDIDATES),
    ).fetchall()
    by_card: dict[int, list[Any]] = {}
    for row in rows:
        by_card.setdefault(row["i"], []).append(row)
    for i, candidates in by_card.items():
        card, result = cards[i], found[i]
        similarities = _similarities(_minhash(result), [bytes(row["signature"]) for row in candidates])
        applicant = applicant_key(card)
        scored = []
        for row, similarity in zip(candidates, similarities, strict=True):
            earlier = Earlier(row["document_id"], row["reg_number"])
            if applicant is not None and row["applicant"] == applicant and similarity >= SAME_MATTER:
                result.repeat_of = result.repeat_of or earlier
            if similarity >= SIMILAR:
                scored.append((float(similarity), earlier))
        scored.sort(key=lambda pair: -pair[0])
        result.similar = [
            {"document_id": e.document_id, "reg_number": e.reg_number, "similarity": round(sim, 3)}
            for sim, e in scored[:3]
        ]


def _minhash(result: Found) -> MinHash:
    assert result.minhash is not None
    return result.minhash


class Batch:
    """The letters of one batch already numbered, so that a copy later in the same batch is a duplicate too."""

    def __init__(self, org: str) -> None:
        self.org = org
        self._letters: dict[tuple[str, str, str, date], Earlier] = {}
        self._registered: list[tuple[Card, uuid.UUID, str, Found]] = []

    def check(self, card: Card, result: Found) -> Found:
        key = _letter_key(self.org, card)
        if key is not None and result.duplicate is None and key in self._letters:
            result.duplicate = self._letters[key]
        return result

    def add(self, card: Card, document_id: uuid.UUID, reg_number: str, result: Found) -> None:
        key = _letter_key(self.org, card)
        if key is not None:
            self._letters.setdefault(key, Earlier(document_id, reg_number))
        self._registered.append((card, document_id, reg_number, result))

    def remember(self, conn: psycopg.Connection[Any]) -> None:
        """Record the batch's cards for the lookups of later ones (in the registration's transaction)."""
        if not self._registered:
            return
        letters = [(k, d, n) for c, d, n, _ in self._registered if (k := _letter_key(self.org, c)) is not None]
        if letters:
            conn.execute(
                "INSERT INTO correspondence (org, correspondent, number, sent, document_id, reg_number) "
                "SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::date[], %s::uuid[], %s::text[]) "
                "ON CONFLICT DO NOTHING",
                (
                    self.org,
                    [k[1] for k, _, _ in letters],
                    [k[2] for k, _, _ in letters],
                    [k[3] for k, _, _ in letters],
                    [d for _, d, _ in letters],
                    [n for _, _, n in letters],
                ),
            )
        signatures = [(d, n, applicant_key(c), _minhash(r)) for c, d, n, r in self._registered]
        conn.execute(
            "INSERT INTO text_signatures (document_id, org, reg_number, applicant, signature) "
            "SELECT d, %s, n, a, s FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::bytea[]) AS x(d, n, a, s) "
            "ON CONFLICT (document_id) DO NOTHING",
            (
                self.org,
                [d for d, _, _, _ in signatures],
                [n for _, n, _, _ in signatures],
                [a for _, _, a, _ in signatures],
                [m.hashvalues.tobytes() for _, _, _, m in signatures],
            ),
        )
        rows = [(bucket, d) for d, _, _, m in signatures for bucket in _buckets(m)]
        conn.execute(
            "INSERT INTO text_bands (org, bucket, document_id) SELECT %s, * FROM unnest(%s::bigint[], %s::uuid[])",
            (self.org, [r[0] for r in rows], [r[1] for r in rows]),
        )
