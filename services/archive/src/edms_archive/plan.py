"""The file plan (номенклатура дел) as data: retention periods, plan items, their validation and the default plan.

Sources: DOMAIN.md "Archive"; List of standard archival documents with retention periods (Order of Rosarchiv
No. 236 of 20.12.2019: periods, articles, the ЭПК mark); Rules of organising the storage of archival documents
(Order of Rosarchiv No. 77 of 31.07.2023: a retention period counts from 1 January of the year after the case was
closed; permanent and long-term — over 10 years — cases go to the organization's archive not earlier than one year
and not later than three years after closing; temporary ones, up to 10 years inclusive, stay in the units and are
destroyed through an act).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from edms_contracts import DocumentKind
from edms_runtime.errors import InvalidField

EPK = "ЭПК"
PERMANENT = "permanent"
UNTIL_NO_LONGER_NEEDED = "until no longer needed"
#: Longest period of the standard list (personnel files, 75 years).
MAX_YEARS = 75
#: Over this many years a case is long-term and goes to the organization's archive (Order No. 77).
LONG_TERM_OVER_YEARS = 10

_YEARS = re.compile(r"^(\d{1,3})\s*(years?|лет|года|год)$")
_WORDS = {
    "permanent": PERMANENT,
    "постоянно": PERMANENT,
    "until no longer needed": UNTIL_NO_LONGER_NEEDED,
    "до минования надобности": UNTIL_NO_LONGER_NEEDED,
    "дмн": UNTIL_NO_LONGER_NEEDED,
}
_INDEX = re.compile(r"^[0-9A-Za-zА-Яа-яЁё][0-9A-Za-zА-Яа-яЁё.\-/]{0,31}$")


class Category(StrEnum):
    """Where a case ends up: the organization's archive (permanent, long-term) or destruction (temporary)."""

    PERMANENT = "permanent"
    LONG_TERM = "long_term"
    TEMPORARY = "temporary"


class InvalidRetention(ValueError):
    pass


@dataclass(frozen=True)
class Retention:
    """A retention period of the standard list: permanent, N years, or until no longer needed; ЭПК or not."""

    years: int | None
    permanent: bool = False
    epk: bool = False

    @classmethod
    def parse(cls, text: str, *, epk: bool = False) -> Retention:
        """ "5 years ЭПК", "5 лет", "постоянно", "ДМН" ...; `epk` adds the mark to a period written without it."""
        words = " ".join(text.strip().split())
        for mark in (EPK, "EPK", "epk"):
            if words.endswith(mark):
                words, epk = words[: -len(mark)].strip(), True
        lowered = words.lower()
        period = _WORDS.get(lowered)
        if period == PERMANENT:
            if epk:
                raise InvalidRetention("a permanent case is never destroyed, so the ЭПК mark does not apply to it")
            return cls(None, permanent=True)
        if period == UNTIL_NO_LONGER_NEEDED:
            return cls(None, epk=epk)
        matched = _YEARS.match(lowered)
        if matched is None:
            raise InvalidRetention(
                f"{text!r} is not a retention period: permanent, N years (1 to {MAX_YEARS}), until no longer needed, "
                "optionally with ЭПК"
            )
        years = int(matched.group(1))
        if not 1 <= years <= MAX_YEARS:
            raise InvalidRetention(f"{years} years is outside the standard list's periods (1 to {MAX_YEARS} years)")
        return cls(years, epk=epk)

    @property
    def period(self) -> str:
        if self.permanent:
            return PERMANENT
        if self.years is None:
            return UNTIL_NO_LONGER_NEEDED
        return "1 year" if self.years == 1 else f"{self.years} years"

    @property
    def label(self) -> str:
        return f"{self.period} {EPK}" if self.epk else self.period

    @property
    def category(self) -> Category:
        if self.permanent:
            return Category.PERMANENT
        if self.years is not None and self.years > LONG_TERM_OVER_YEARS:
            return Category.LONG_TERM
        return Category.TEMPORARY

    def expires(self, closed_on: date) -> date | None:
        """The day from which the case may be destroyed; None for a permanent case.

        The period counts from 1 January of the year after closing (Order No. 77). "Until no longer needed" is
        read as at least one year, so such a case is never destroyed in the year it was closed (our reading; the
        expert commission decides the rest when it approves the act).
        """
        if self.permanent:
            return None
        return date(closed_on.year + 1 + (self.years or 1), 1, 1)

    def transfer_window(self, closed_on: date) -> tuple[date, date] | None:
        """[from, until) in which a permanent or long-term case goes to the organization's archive: one to three
        years after closing (Order No. 77); None for a temporary case, which stays in its unit."""
        if self.category is Category.TEMPORARY:
            return None
        start = closed_on.year + 1
        return date(start + 1, 1, 1), date(start + 3, 1, 1)


@dataclass(frozen=True)
class FilePlanItem:
    """A line of the file plan: a case index, its title, the unit keeping it, retention and its article.

    `retention` is the label ("5 years ЭПК"); `kinds` are the document kinds the case takes when a card names no
    index of the plan (DOMAIN.md "Registration card": the card carries the case index).
    """

    index: str
    title: str
    retention: str
    article: str
    unit: str | None = None
    kinds: tuple[str, ...] = field(default=())

    @property
    def period(self) -> Retention:
        return Retention.parse(self.retention)

    @property
    def epk(self) -> bool:
        return self.period.epk

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "title": self.title,
            "retention": self.retention,
            "article": self.article,
            "unit": self.unit,
            "kinds": list(self.kinds),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FilePlanItem:
        kinds = data.get("kinds") or ()
        assert isinstance(kinds, list | tuple)
        unit = data.get("unit")
        return cls(
            index=str(data["index"]),
            title=str(data["title"]),
            retention=str(data["retention"]),
            article=str(data["article"]),
            unit=None if unit is None else str(unit),
            kinds=tuple(str(kind) for kind in kinds),
        )


def _item(index: str, title: str, retention: str, article: str, *kinds: DocumentKind) -> FilePlanItem:
    return FilePlanItem(index, title, retention, article, kinds=tuple(kinds))


#: The model file plan, used for an organization and year without a plan of its own: case index -> item.
#: Retention per the standard list (Order No. 236).
FILE_PLAN: dict[str, FilePlanItem] = {
    "01-03": _item("01-03", "Приказы по основной деятельности", "permanent", "19а", DocumentKind.ORDER),
    "01-10": _item(
        "01-10", "Входящая переписка по основной деятельности", "5 years ЭПК", "27", DocumentKind.INCOMING_LETTER
    ),
    "01-12": _item(
        "01-12", "Исходящая переписка по основной деятельности", "5 years ЭПК", "27", DocumentKind.OUTGOING_LETTER
    ),
    "01-14": _item("01-14", "Внутренние документы (служебные записки)", "5 years", "34", DocumentKind.INTERNAL),
    "01-20": _item("01-20", "Обращения граждан", "5 years ЭПК", "154", DocumentKind.CITIZEN_APPEAL),
    "01-01": _item("01-01", "Указы и распоряжения Губернатора", "permanent", "4а", DocumentKind.GOVERNOR_ACT),
    "01-02": _item(
        "01-02", "Постановления и распоряжения Правительства", "permanent", "4а", DocumentKind.GOVERNMENT_ACT
    ),
    "01-05": _item(
        "01-05",
        "Поручения Губернатора и документы об их исполнении",
        "5 years ЭПК",
        "16",
        DocumentKind.GOVERNOR_ASSIGNMENT,
    ),
    "01-07": _item("01-07", "Планы работы и документы об их выполнении", "permanent", "198", DocumentKind.PLAN_ITEM),
    "01-15": _item("01-15", "Договоры, государственные контракты", "5 years ЭПК", "436", DocumentKind.CONTRACT),
    "01-21": _item("01-21", "Карточки личного приёма граждан", "5 years", "155", DocumentKind.CITIZEN_ORAL_APPEAL),
}

#: Where a document goes when its card names no case index of the plan: by kind (the model plan's cases).
KIND_DEFAULTS: dict[str, str] = {kind: item.index for item in FILE_PLAN.values() for kind in item.kinds}


class NoCaseForDocument(ValueError):
    pass


def plan_item_for(case_index: str | None, kind: str) -> FilePlanItem:
    """The model plan's case for a card (its case index, else its kind)."""
    index = case_index if case_index in FILE_PLAN else KIND_DEFAULTS.get(kind)
    if index is None:
        raise NoCaseForDocument(f"the file plan has no case for index {case_index!r} or kind {kind!r}")
    return FILE_PLAN[index]


def choose_item(
    plan: Mapping[str, FilePlanItem], *, case_index: str | None, kind: str, unit: str | None
) -> FilePlanItem:
    """The case of `plan` a document is filed into: the index on its card, else the case of its unit that takes its
    kind, else any case that takes its kind, else the model plan's case for the kind (a plan that forgot a kind
    still files the document; the archivist refiles it)."""
    if case_index is not None and case_index in plan:
        return plan[case_index]
    taking = [item for item in plan.values() if kind in item.kinds]
    own = [item for item in taking if unit is not None and item.unit == unit]
    for candidates in (own, taking):
        if candidates:
            return min(candidates, key=lambda item: item.index)
    return plan_item_for(None, kind)


# -- validation of a plan as sent -------------------------------------------------------------------------------------
class PlanInvalid(InvalidField):
    """A file plan as sent breaks rules; `errors` names each row and field. Nothing is stored."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        detail = f"the file plan has {len(errors)} error(s): " + "; ".join(f"{f}: {r}" for f, r in errors)
        super().__init__(detail, errors=errors)


def parse_items(rows: Sequence[Mapping[str, object]], names: Sequence[str]) -> list[FilePlanItem]:
    """Validate plan rows; `names[i]` is how the report names row i (`items[3]`, `row 4`). Raises `PlanInvalid`
    with every error of every row, duplicate indexes included (an index names one case of the year)."""
    errors: list[tuple[str, str]] = []
    items: list[FilePlanItem] = []
    seen: dict[str, str] = {}
    for name, row in zip(names, rows, strict=True):
        item, problems = _parse_row(row)
        errors.extend((f"{name}.{column}", reason) for column, reason in problems)
        if item is None:
            continue
        if item.index in seen:
            errors.append((f"{name}.index", f"duplicate index {item.index!r} (also in {seen[item.index]})"))
            continue
        seen[item.index] = name
        items.append(item)
    if not rows:
        errors.append(("items", "a file plan has at least one case"))
    if errors:
        raise PlanInvalid(errors)
    return items


def _text(row: Mapping[str, object], column: str, limit: int, problems: list[tuple[str, str]]) -> str:
    value = row.get(column)
    text = "" if value is None else str(value).strip()
    if not text:
        problems.append((column, "is required"))
    elif len(text) > limit:
        problems.append((column, f"is longer than {limit} characters"))
    return text


def _parse_row(row: Mapping[str, object]) -> tuple[FilePlanItem | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    index = _text(row, "index", 32, problems)
    if index and not _INDEX.match(index):
        problems.append(("index", "letters, digits, '.', '-' and '/' only, starting with a letter or digit"))
    title = _text(row, "title", 1000, problems)
    article = _text(row, "article", 50, problems)
    label = ""
    try:
        label = Retention.parse(_text(row, "retention", 50, problems), epk=_flag(row.get("epk"))).label
    except InvalidRetention as exc:
        if row.get("retention"):
            problems.append(("retention", str(exc)))
    except ValueError as exc:
        problems.append(("epk", str(exc)))
    unit = str(row.get("unit") or "").strip() or None
    kinds = _kinds(row.get("kinds"), problems)
    if problems:
        return None, problems
    return FilePlanItem(index, title, label, article, unit, kinds), problems


def _flag(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("", "0", "no", "false", "нет", "-"):
        return False
    if text in ("1", "yes", "true", "да", "+", "эпк", "epk"):
        return True
    raise ValueError(f"{value!r} is not yes or no")


def _kinds(value: object, problems: list[tuple[str, str]]) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    names: Iterable[object] = value if isinstance(value, list | tuple) else re.split(r"[\s,|]+", str(value).strip())
    kinds = tuple(str(name).strip() for name in names if str(name).strip())
    unknown = sorted(set(kinds) - set(DocumentKind))
    if unknown:
        problems.append(("kinds", f"unknown document kinds {unknown}; known: {sorted(DocumentKind)}"))
    return kinds
