"""The operators' query language and the search request: parsed once here, compiled by each backend.

`q` is words in any form (the backends stem them: Russian morphology), with

- `"quoted words"` — a phrase (the words next to each other, in that order);
- `word*` — a prefix (at least two letters or digits; matched against the stemmed words of the index);
- `-word`, `-"a phrase"`, `-(a b)` — exclusion;
- `a OR b`, `a | b` — either (binds tighter than the implicit AND between terms, as in web search engines);
- `( ... )` — grouping; `AND` may be written but is what a space means anyway.

Anything else is refused with a problem naming `q` and the reason (an unclosed quote or parenthesis, a lone `-`,
`OR` without a term on both sides, a prefix too short, a query too long or too deeply nested): no text a user types
can reach a backend unparsed. A run of characters without a letter or digit (punctuation) is skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from edms_runtime.errors import InvalidField

#: Letters and digits: what a prefix may consist of (the backends' tokenizers split on everything else).
WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 64
MAX_DEPTH = 16
MIN_PREFIX = 2


class QueryError(InvalidField):
    """A request parameter the query language or the filters cannot take (422 naming it)."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}", field=parameter)


# -- the syntax tree ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Word:
    """A word (or a run such as `e-mail` that each engine's tokenizer splits its own way; all parts must match)."""

    text: str


@dataclass(frozen=True)
class Prefix:
    text: str


@dataclass(frozen=True)
class Phrase:
    text: str


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Word | Prefix | Phrase | Not | And | Or


def words_of(node: Node) -> list[str]:
    """The Word and Phrase texts of a tree (what is asked whether it is nothing but stop words)."""
    if isinstance(node, (Word, Phrase)):
        return [node.text]
    if isinstance(node, Not):
        return words_of(node.node)
    if isinstance(node, (And, Or)):
        return [w for child in node.nodes for w in words_of(child)]
    return []


def without(node: Node, stopwords: set[str]) -> Node | None:
    """The tree without stop words (`и`, `о`, `в`): they are in no index, so they constrain nothing — as
    PostgreSQL's tsquery operators ignore an empty operand. None when nothing searchable is left."""
    if isinstance(node, (Word, Phrase)):
        return None if node.text.lower() in stopwords else node
    if isinstance(node, Not):
        inner = without(node.node, stopwords)
        return Not(inner) if inner is not None else None
    if isinstance(node, (And, Or)):
        kept = tuple(n for n in (without(child, stopwords) for child in node.nodes) if n is not None)
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else type(node)(kept)
    return node


# -- the parser --------------------------------------------------------------------------------------------------------
_OR, _NOT, _OPEN, _CLOSE = "OR", "NOT", "(", ")"
_SPECIAL = set('()"|')


@dataclass(frozen=True)
class _Token:
    kind: str  # OR, NOT, (, ), word, prefix, phrase
    text: str = ""


def _tokens(q: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c == '"':
            end = q.find('"', i + 1)
            if end < 0:
                raise QueryError("q", "a quote is not closed")
            text = q[i + 1 : end].strip()
            if WORD.search(text) is None:
                raise QueryError("q", "a phrase in quotes has no word")
            out.append(_Token("phrase", text))
            i = end + 1
        elif c in "()":
            out.append(_Token(c))
            i += 1
        elif c == "|":
            out.append(_Token(_OR))
            i += 1
        elif c == "-" and (i + 1 >= n or q[i + 1].isspace()):
            raise QueryError("q", "'-' must stand right before the word, phrase or group it excludes")
        elif c == "-":
            out.append(_Token(_NOT))
            i += 1
        else:
            j = i
            while j < n and not q[j].isspace() and q[j] not in _SPECIAL:
                j += 1
            out.extend(_bare(q[i:j]))
            i = j
    return out


def _bare(run: str) -> list[_Token]:
    if run == "OR":
        return [_Token(_OR)]
    if run in ("AND", "&", "&&"):
        return []
    if "*" in run:
        stem = run[:-1] if run.endswith("*") else ""
        if not stem or "*" in stem or WORD.fullmatch(stem) is None:
            raise QueryError("q", f"'{run}': '*' ends a prefix of letters and digits, as in 'сведен*'")
        if len(stem) < MIN_PREFIX:
            raise QueryError("q", f"'{run}': a prefix needs at least {MIN_PREFIX} letters or digits")
        return [_Token("prefix", stem.lower())]
    if WORD.search(run) is None:
        return []  # punctuation only: nothing to search for
    return [_Token("word", run)]


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.terms = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def sequence(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise QueryError("q", f"groups are nested deeper than {MAX_DEPTH}")
        nodes: list[Node] = []
        while (token := self.peek()) is not None and token.kind != _CLOSE:
            nodes.append(self.either(depth))
        if not nodes:
            raise QueryError("q", "a group has no term" if depth else "the query has no word to search for")
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def either(self, depth: int) -> Node:
        nodes = [self.unary(depth)]
        while (token := self.peek()) is not None and token.kind == _OR:
            self.take()
            following = self.peek()
            if following is None or following.kind in (_OR, _CLOSE):
                raise QueryError("q", "OR needs a term on both sides")
            nodes.append(self.unary(depth))
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def unary(self, depth: int) -> Node:
        token = self.peek()
        if token is None:
            raise QueryError("q", "the query ends where a term was expected")
        if token.kind == _OR:
            raise QueryError("q", "OR needs a term on both sides")
        if token.kind == _NOT:
            self.take()
            following = self.peek()
            if following is None or following.kind in (_OR, _CLOSE, _NOT):
                raise QueryError("q", "'-' must stand right before the word, phrase or group it excludes")
            return Not(self.unary(depth))
        if token.kind == _OPEN:
            self.take()
            inner = self.sequence(depth + 1)
            closing = self.peek()
            if closing is None:
                raise QueryError("q", "a parenthesis is not closed")
            self.take()
            return inner
        self.take()
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError("q", f"more than {MAX_TERMS} terms")
        if token.kind == "prefix":
            return Prefix(token.text)
        if token.kind == "phrase":
            return Phrase(token.text)
        return Word(token.text)


def parse(q: str) -> Node:
    """The syntax tree of `q`, or QueryError (422 naming `q`) saying what is wrong with it."""
    parser = _Parser(_tokens(q))
    node = parser.sequence(0)
    if parser.peek() is not None:
        raise QueryError("q", "a closing parenthesis has no opening one")
    return node


# -- the request -------------------------------------------------------------------------------------------------------
SORTS = ("relevance", "date", "number")
FACETS = ("kind", "unit", "status", "year")
#: Where a document stands on control (DOMAIN.md "Deadlines": executive discipline counts documents executed,
#: open and overdue): `done` — every assignment accepted by its controller (снято с контроля); `overdue` — on
#: control, not done, its deadline before today; `on_control` — the rest of those on control.
STATUSES = ("on_control", "overdue", "done")
#: `access=none`: documents without a restriction mark.
NO_MARK = "none"
MAX_SIZE = 100
#: Totals are exact up to this many hits, "at least" beyond unless asked otherwise (Elasticsearch's default).
TOTAL_LIMIT = 10_000


@dataclass(frozen=True)
class Filters:
    kind: tuple[str, ...] = ()
    reg_number: str | None = None  # exact, or a prefix when it ends with '*'
    reg_date_from: date | None = None
    reg_date_to: date | None = None
    deadline_from: date | None = None
    deadline_to: date | None = None
    correspondent: tuple[str, ...] = ()  # its words, every one must be in the correspondent's name
    author: tuple[str, ...] = ()  # logins (names resolved through the directory)
    executor: tuple[str, ...] = ()
    unit: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    access: str | None = None
    case_index: str | None = None

    @property
    def reg_number_prefix(self) -> str | None:
        return self.reg_number[:-1] if self.reg_number and self.reg_number.endswith("*") else None


@dataclass(frozen=True)
class SearchRequest:
    q: str | None = None
    node: Node | None = None  # parsed q, stop words removed; None with q set: nothing searchable, no hits
    filters: Filters = field(default_factory=Filters)
    sort: str = "date"
    order: str = "desc"
    size: int = 20
    cursor: str | None = None
    facets: tuple[str, ...] = ()
    exact_total: bool = False
    today: date = field(default_factory=date.today)

    @property
    def matches_nothing(self) -> bool:
        return self.q is not None and self.node is None

    def fingerprint(self) -> str:
        """What a cursor belongs to: the query, filters and order (not the size, nor the facets)."""
        key = json.dumps([self.q, repr(self.filters), self.sort, self.order], ensure_ascii=False, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    def encode_cursor(self, values: list[Any]) -> str:
        raw = json.dumps({"k": self.fingerprint(), "v": values}, ensure_ascii=False, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(request: SearchRequest, cursor: str, arity: int) -> list[Any]:
    """The sort values a `next_cursor` carried, checked to belong to this very query; QueryError otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise QueryError("cursor", "not a cursor this service gave (malformed)") from None
    if not isinstance(body, dict) or not isinstance(body.get("v"), list):
        raise QueryError("cursor", "not a cursor this service gave (malformed)")
    if body.get("k") != request.fingerprint():
        raise QueryError("cursor", "the cursor belongs to another query, filters or sort")
    if len(body["v"]) != arity:
        raise QueryError("cursor", "not a cursor this service gave (malformed)")
    values: list[Any] = body["v"]
    if not all(v is None or isinstance(v, (str, int, float)) for v in values):
        raise QueryError("cursor", "not a cursor this service gave (malformed)")
    return values
