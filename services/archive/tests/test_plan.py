"""Retention periods and the file plan as data (pure).

Sources: DOMAIN.md "Archive"; List of standard archival documents with retention periods (Order of Rosarchiv No. 236
of 20.12.2019); Rules of organising the storage of archival documents (Order of Rosarchiv No. 77 of 31.07.2023).
"""

from __future__ import annotations

from datetime import date

import pytest

from edms_archive.api import read_plan_csv
from edms_archive.plan import (
    FILE_PLAN,
    Category,
    FilePlanItem,
    InvalidRetention,
    PlanInvalid,
    Retention,
    choose_item,
    parse_items,
)

DOMAIN_PERIODS = [
    "permanent",
    "75 years",
    "50 years ЭПК",
    "10 years ЭПК",
    "5 years ЭПК",
    "5 years",
    "3 years",
    "1 year",
    "until no longer needed",
]


@pytest.mark.parametrize("label", DOMAIN_PERIODS)
def test_every_period_of_domain_md_is_understood_and_kept_as_written(label: str) -> None:
    assert Retention.parse(label).label == label


@pytest.mark.parametrize(
    ("written", "label"),
    [("Постоянно", "permanent"), ("5 лет ЭПК", "5 years ЭПК"), ("1 год", "1 year"), ("3 года", "3 years"),
     ("ДМН", "until no longer needed"), ("  10   years  ", "10 years")],
)  # fmt: skip
def test_russian_spellings_of_a_printed_file_plan(written: str, label: str) -> None:
    assert Retention.parse(written).label == label


def test_the_epk_flag_adds_the_mark() -> None:
    assert Retention.parse("5 years", epk=True).label == "5 years ЭПК"


@pytest.mark.parametrize("text", ["permanent ЭПК", "0 years", "76 years", "forever", ""])
def test_what_is_not_a_period_of_the_standard_list_is_refused(text: str) -> None:
    with pytest.raises(InvalidRetention):
        Retention.parse(text)


@pytest.mark.parametrize(
    ("label", "category"),
    [("permanent", Category.PERMANENT), ("75 years", Category.LONG_TERM), ("50 years ЭПК", Category.LONG_TERM),
     ("10 years ЭПК", Category.TEMPORARY), ("5 years", Category.TEMPORARY),
     ("until no longer needed", Category.TEMPORARY)],
)  # fmt: skip
def test_over_ten_years_is_long_term_up_to_ten_temporary_order_77(label: str, category: Category) -> None:
    assert Retention.parse(label).category is category


def test_retention_counts_from_1_january_after_closing_order_77() -> None:
    """A case closed on 31 December 2026 and kept 5 years may be destroyed from 1 January 2032; closed by hand in
    March, the same (the year counts, not the day)."""
    period = Retention.parse("5 years ЭПК")
    assert period.expires(date(2026, 12, 31)) == date(2032, 1, 1)
    assert period.expires(date(2026, 3, 5)) == date(2032, 1, 1)
    assert Retention.parse("permanent").expires(date(2026, 12, 31)) is None
    assert Retention.parse("until no longer needed").expires(date(2026, 12, 31)) == date(2028, 1, 1)


def test_permanent_and_long_term_go_to_the_archive_one_to_three_years_after_closing_order_77() -> None:
    assert Retention.parse("permanent").transfer_window(date(2024, 12, 31)) == (date(2026, 1, 1), date(2028, 1, 1))
    assert Retention.parse("75 years").transfer_window(date(2024, 12, 31)) == (date(2026, 1, 1), date(2028, 1, 1))
    assert Retention.parse("10 years ЭПК").transfer_window(date(2024, 12, 31)) is None


# -- plan rows ---------------------------------------------------------------------------------------------------------
def _row(index: str, **more: object) -> dict[str, object]:
    return {"index": index, "title": f"Дело {index}", "retention": "5 years", "article": "27", **more}


def test_a_valid_plan_becomes_items() -> None:
    items = parse_items(
        [_row("02-01", epk="да", unit="02", kinds="incoming_letter, outgoing_letter"), _row("02-02")],
        ["row 2", "row 3"],
    )
    assert items[0] == FilePlanItem(
        "02-01", "Дело 02-01", "5 years ЭПК", "27", "02", ("incoming_letter", "outgoing_letter")
    )
    assert items[1].kinds == ()


def test_duplicate_indexes_and_every_bad_row_are_reported_together() -> None:
    """One index names one case of the year (DOMAIN.md "Archive"); the report names every row and field at once."""
    rows: list[dict[str, object]] = [
        _row("02-01"),
        _row("02-01"),
        {"index": "", "title": "", "retention": "forever", "article": ""},
        _row("02-04", kinds="fax"),
        _row("02-05", retention="permanent", epk="yes"),
    ]
    with pytest.raises(PlanInvalid) as caught:
        parse_items(rows, [f"row {n}" for n in range(2, 7)])
    fields = [field for field, _ in caught.value.errors]
    assert fields == [
        "row 3.index", "row 4.index", "row 4.title", "row 4.article", "row 4.retention", "row 5.kinds",
        "row 6.retention",
    ]  # fmt: skip
    assert "duplicate index '02-01' (also in row 2)" in caught.value.errors[0][1]
    assert caught.value.status == 422


def test_an_empty_plan_is_refused() -> None:
    with pytest.raises(PlanInvalid):
        parse_items([], [])


# -- which case takes a document ---------------------------------------------------------------------------------------
PLAN = {
    item.index: item
    for item in (
        FilePlanItem("01-10", "Входящие", "5 years ЭПК", "27", None, ("incoming_letter",)),
        FilePlanItem("02-10", "Входящие отдела 02", "5 years ЭПК", "27", "02", ("incoming_letter",)),
        FilePlanItem("03-01", "Переписка", "3 years", "28", "03"),
    )
}


def test_the_case_index_on_the_card_wins_when_the_plan_has_it() -> None:
    assert choose_item(PLAN, case_index="03-01", kind="incoming_letter", unit="02").index == "03-01"


def test_otherwise_the_units_case_for_the_kind() -> None:
    assert choose_item(PLAN, case_index="99-99", kind="incoming_letter", unit="02").index == "02-10"


def test_otherwise_any_case_for_the_kind() -> None:
    assert choose_item(PLAN, case_index=None, kind="incoming_letter", unit="07").index == "01-10"


def test_a_kind_the_plan_forgot_goes_to_the_model_plans_case() -> None:
    assert choose_item(PLAN, case_index=None, kind="order", unit="02") is FILE_PLAN["01-03"]


# -- CSV ---------------------------------------------------------------------------------------------------------------
def test_csv_with_russian_headers_semicolons_and_windows_1251() -> None:
    text = "Индекс;Заголовок дела;Подразделение;Срок хранения;ЭПК;Статья\n02-01;Приказы;02;Постоянно;;19а\n"
    rows, names = read_plan_csv(text.encode("cp1251"))
    assert names == ["row 2"]
    assert parse_items(rows, names) == [FilePlanItem("02-01", "Приказы", "permanent", "19а", "02")]


def test_csv_errors_name_the_line_of_the_file() -> None:
    text = "index,title,retention,article\n02-01,Приказы,permanent,19а\n\n02-01,Ещё,5 лет,27\n02-03,Письма,вечно,27\n"
    rows, names = read_plan_csv(text.encode())
    with pytest.raises(PlanInvalid) as caught:
        parse_items(rows, names)
    assert [field for field, _ in caught.value.errors] == ["row 4.index", "row 5.retention"]


def test_csv_with_an_unknown_or_missing_column_is_refused() -> None:
    with pytest.raises(PlanInvalid) as caught:
        read_plan_csv(b"index,name,retention,article\n")
    assert caught.value.errors == [("row 1", "unknown column 'name'"), ("row 1", "no column 'title'")]
