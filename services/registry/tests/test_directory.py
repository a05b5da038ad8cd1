"""The directory (DOMAIN.md task 7, a single registry of organizations and contact persons): rules without a
database, then the commands and queries against a real PostgreSQL — deduplication by INN/OGRN, search by Russian
word forms, the unit tree, history, CSV import with a per-row report, and the contracts the events become."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from edms_contracts import DocumentKind, Role
from edms_contracts.directory import (
    DelegationGranted,
    OrganizationRegistered,
    OrganizationsMerged,
    PersonChanged,
    PersonRegistered,
    UnitCreated,
)
from edms_registry.application import Registration, RegistryApplication
from edms_registry.directory import (
    Delegation,
    InvalidEntry,
    Organization,
    Person,
    check_inn,
    check_ogrn,
    normalized_name,
    would_cycle,
)
from edms_registry.directory_app import (
    PEOPLE_COLUMNS,
    DelegationIn,
    Directory,
    EntryExists,
    EntryInUse,
    OrganizationIn,
    OrganizationPatch,
    PersonIn,
    PersonPatch,
    UnitIn,
    UnitPatch,
    import_rows,
    read_csv,
)
from edms_registry.domain import Card, idempotency_cause
from edms_registry.publishes import to_contract
from edms_runtime.db import make_pool
from edms_runtime.errors import InvalidField
from edms_runtime.eventstore import build_application

ORG = "minfin"
TODAY = date(2026, 11, 25)
#: Real, public registration numbers (ПАО Сбербанк): their check digits are right.
SBER_INN, SBER_OGRN = "7707083893", "1027700132195"
#: ФНС России (a second real organization).
FNS_INN, FNS_OGRN = "7707329152", "1047707030513"


# -- rules without a database ----------------------------------------------------------------------------------------
def test_inn_check_digits_order_of_the_fts_mmv_7_6_435() -> None:
    assert check_inn(SBER_INN) == SBER_INN
    assert check_inn("500100732259") == "500100732259"  # an individual's 12 digits, two check digits
    for wrong in ("7707083894", "500100732258", "770708389", "77070838931", "77070838 3"):
        with pytest.raises(InvalidEntry) as refused:
            check_inn(wrong)
        assert refused.value.field == "inn"


def test_ogrn_check_digit_rules_of_the_egrul_decree_438() -> None:
    assert check_ogrn(SBER_OGRN) == SBER_OGRN
    assert check_ogrn(FNS_OGRN) == FNS_OGRN
    assert check_ogrn("304500116000157") == "304500116000157"  # an OGRNIP: 15 digits, modulus 13
    for wrong in ("1027700132196", "102770013219", "304500116000158"):
        with pytest.raises(InvalidEntry) as refused:
            check_ogrn(wrong)
        assert refused.value.field == "ogrn"


def test_organization_entry_names_the_field_with_a_wrong_check_digit() -> None:
    with pytest.raises(ValidationError) as refused:
        OrganizationIn(name="ООО Ромашка", kind="external", inn="7707083894")  # type: ignore[arg-type]
    assert [e["loc"] for e in refused.value.errors()] == [("inn",)]


def test_names_compare_without_case_quotes_and_yo() -> None:
    assert normalized_name("ООО «Ёлка»") == normalized_name('ооо "елка"')


def test_a_unit_is_never_put_under_its_own_descendant() -> None:
    parents = {"01": None, "01.1": "01", "01.1.1": "01.1", "02": None}
    assert would_cycle("01", "01.1.1", parents)
    assert would_cycle("01", "01", parents)
    assert not would_cycle("01.1.1", "02", parents)
    assert not would_cycle("02", None, parents)


def test_a_delegation_ends_after_it_starts_and_goes_to_someone_else() -> None:
    with pytest.raises(InvalidEntry, match="ends on or after"):
        Delegation("o", "admin", "head", "deputy", ["head"], date(2026, 12, 10), date(2026, 12, 1))
    with pytest.raises(InvalidEntry, match="themselves"):
        Delegation("o", "admin", "head", "head", ["head"], date(2026, 12, 1), date(2026, 12, 10))


# -- against PostgreSQL ----------------------------------------------------------------------------------------------
@pytest.fixture
def directory(fresh_database_url: str) -> Iterator[tuple[Directory, ConnectionPool[Any]]]:
    app = build_application(RegistryApplication, fresh_database_url, "registry")
    pool = make_pool(fresh_database_url, "registry")
    try:
        yield Directory(app), pool
    finally:
        pool.close()
        app.close()


def _people(d: tuple[Directory, ConnectionPool[Any]], q: str) -> list[str]:
    with d[1].connection() as conn:
        return [row["login"] for row in Directory.people(conn, ORG, q=q)]


def _orgs(d: tuple[Directory, ConnectionPool[Any]], q: str) -> list[str]:
    with d[1].connection() as conn:
        return [row["name"] for row in Directory.organizations(conn, q=q)]


def _seed_units(directory: Directory) -> None:
    directory.create_unit(ORG, UnitIn(code="01", name="Аппарат министра"), by="admin")
    directory.create_unit(ORG, UnitIn(code="02", name="Бюджетный департамент"), by="admin")
    directory.create_unit(ORG, UnitIn(code="02.1", name="Отдел доходов", parent="02"), by="admin")


def _person(login: str, full_name: str, unit: str | None = "02.1", roles: list[str] | None = None) -> PersonIn:
    return PersonIn.model_validate(
        {"login": login, "full_name": full_name, "org": ORG, "unit": unit, "roles": roles or ["executor"]}
    )


def test_people_are_found_by_name_prefix_and_russian_word_forms(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, _ = directory
    _seed_units(d)
    d.register_person(_person("ivanov", "Иванов Иван Иванович"), by="admin")
    d.register_person(_person("ivanova", "Иванова Мария Петровна"), by="admin")
    d.register_person(_person("petrov", "Петров Пётр Семёнович"), by="admin")
    assert set(_people(directory, "Иванову")) == {"ivanov", "ivanova"}  # dative: "письмо Иванову"
    assert _people(directory, "Ива")[0] in {"ivanov", "ivanova"}
    assert _people(directory, "Петрову Семёну") == ["petrov"]  # dative, ё as typed
    assert set(_people(directory, "Петрова")) == {"petrov", "ivanova"}  # a prefix of "Петровна" too
    assert _people(directory, "петр семенович") == ["petrov"]  # ё typed as е, two words
    assert _people(directory, "Иванова Мария") == ["ivanova"]
    assert _people(directory, "Сидоров") == []


def test_organizations_are_found_by_word_forms_and_deduplicated_by_inn_and_ogrn(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, _ = directory
    first = d.register_organization(
        OrganizationIn(name="Министерство финансов области", kind="regional_body", code=ORG, inn=SBER_INN),  # type: ignore[arg-type]
        keeper="region",
        by="admin",
    )
    assert first["org"] == ORG  # an organization with its own code keeps its own entry
    assert _orgs(directory, "министерству финансов") == ["Министерство финансов области"]
    with pytest.raises(EntryExists) as same_inn:
        d.register_organization(
            OrganizationIn(name="Минфин", kind="regional_body", inn=SBER_INN),  # type: ignore[arg-type]
            keeper="region",
            by="admin",
        )
    assert same_inn.value.field == "inn"
    assert same_inn.value.existing["organization_id"] == first["organization_id"]
    d.register_organization(
        OrganizationIn(name="ФНС России", kind="external", ogrn=FNS_OGRN),  # type: ignore[arg-type]
        keeper=ORG,
        by="clerk",
    )
    with pytest.raises(EntryExists) as same_ogrn:
        d.register_organization(
            OrganizationIn(name="Федеральная налоговая служба", kind="external", inn=FNS_INN, ogrn=FNS_OGRN),  # type: ignore[arg-type]
            keeper=ORG,
            by="clerk",
        )
    assert same_ogrn.value.field == "ogrn"
    with pytest.raises(EntryExists) as same_name:
        d.register_organization(
            OrganizationIn(name="«ФНС  России»", kind="external"),  # type: ignore[arg-type]
            keeper=ORG,
            by="clerk",
        )
    assert same_name.value.field == "name"


def test_concurrent_registrations_of_one_inn_leave_one_organization(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, pool = directory
    start = threading.Barrier(8)

    def attempt(i: int) -> str:
        start.wait()
        try:
            d.register_organization(
                OrganizationIn(name=f"Сбербанк {i}", kind="external", inn=SBER_INN),  # type: ignore[arg-type]
                keeper=ORG,
                by="clerk",
            )
            return "created"
        except EntryExists:
            return "exists"

    with ThreadPoolExecutor(8) as workers:
        outcomes = list(workers.map(attempt, range(8)))
    assert sorted(outcomes) == ["created"] + ["exists"] * 7
    with pool.connection() as conn:
        assert len(Directory.organizations(conn, inn=SBER_INN)) == 1


def test_concurrent_registrations_of_one_login_leave_one_person(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, _ = directory
    _seed_units(d)
    start = threading.Barrier(8)

    def attempt(i: int) -> str:
        start.wait()
        try:
            d.register_person(_person("same", f"Тот Же {i}"), by="admin")
            return "created"
        except EntryExists:
            return "exists"

    with ThreadPoolExecutor(8) as workers:
        outcomes = list(workers.map(attempt, range(8)))
    assert sorted(outcomes) == ["created"] + ["exists"] * 7
    assert len(d.history(Person.create_id(ORG, "same"), Person)) == 1


def test_a_merged_duplicate_points_to_its_survivor(directory: tuple[Directory, ConnectionPool[Any]]) -> None:
    d, pool = directory
    survivor = d.register_organization(
        OrganizationIn(name="ФНС России", kind="external", inn=FNS_INN),  # type: ignore[arg-type]
        keeper=ORG,
        by="clerk",
    )
    duplicate = d.register_organization(
        OrganizationIn(name="Федеральная налоговая служба", kind="external"),  # type: ignore[arg-type]
        keeper=ORG,
        by="clerk",
    )
    d.merge_organizations(survivor["organization_id"], duplicate["organization_id"], by="admin")
    with pool.connection() as conn:
        assert [o["name"] for o in Directory.organizations(conn, q="налоговая")] == []  # closed
        merged = d.organization(conn, duplicate["organization_id"])
    assert merged["merged_into"] == survivor["organization_id"]
    assert not merged["active"]
    with pytest.raises(InvalidField):
        d.merge_organizations(survivor["organization_id"], duplicate["organization_id"], by="admin")
    history = d.history(duplicate["organization_id"], Organization)
    assert [h["event"] for h in history] == ["Registered", "MergedInto"]


def test_units_form_a_tree_that_never_loops_and_close_only_when_empty(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, pool = directory
    _seed_units(d)
    with pool.connection() as conn:
        tree = Directory.unit_tree(conn, ORG)
    assert [u["code"] for u in tree] == ["01", "02"]
    assert [u["code"] for u in tree[1]["children"]] == ["02.1"]
    with pytest.raises(InvalidField) as loop:
        d.change_unit(ORG, "02", UnitPatch(parent="02.1"), by="admin")
    assert loop.value.field == "parent"
    with pytest.raises(InvalidField) as unknown:
        d.create_unit(ORG, UnitIn(code="03", name="Отдел", parent="99"), by="admin")
    assert unknown.value.field == "parent"
    d.register_person(_person("worker", "Работников Р. Р.", unit="02.1"), by="admin")
    with pytest.raises(EntryInUse):
        d.close_unit(ORG, "02.1", by="admin")
    d.change_person(ORG, "worker", PersonPatch(unit="01"), by="admin")
    d.close_unit(ORG, "02.1", by="admin")
    with pytest.raises(InvalidField) as closed:
        d.change_person(ORG, "worker", PersonPatch(unit="02.1"), by="admin")
    assert closed.value.field == "unit"


def test_every_change_of_a_person_is_in_their_history(directory: tuple[Directory, ConnectionPool[Any]]) -> None:
    d, _ = directory
    _seed_units(d)
    d.register_person(_person("ivanov", "Иванов Иван Иванович"), by="admin")
    d.change_person(ORG, "ivanov", PersonPatch(unit="01", roles=[Role.HEAD, Role.EXECUTOR]), by="admin2")
    d.change_person(ORG, "ivanov", PersonPatch(unit="01"), by="admin2")  # nothing changes: no event
    d.deactivate_person(ORG, "ivanov", "уволен", by="admin")
    history = d.history(Person.create_id(ORG, "ivanov"), Person)
    assert [(h["event"], h["by"]) for h in history] == [
        ("Registered", "admin"),
        ("Changed", "admin2"),
        ("Deactivated", "admin"),
    ]
    assert history[1]["changes"]["changes"] == {"unit": "01", "roles": ["executor", "head"]}
    assert _people(directory, "Иванов") == []  # deactivated people are not offered
    with pytest.raises(EntryInUse):
        d.change_person(ORG, "ivanov", PersonPatch(full_name="Иванов И. И."), by="admin")


def test_a_deputy_gets_only_roles_the_principal_has(directory: tuple[Directory, ConnectionPool[Any]]) -> None:
    d, pool = directory
    _seed_units(d)
    d.register_person(_person("head", "Начальников Н. Н.", unit="02", roles=["head"]), by="admin")
    d.register_person(_person("deputy", "Заместителев З. З.", unit="02"), by="admin")
    entry = {"principal": "head", "deputy": "deputy", "starts": "2026-12-01", "ends": "2026-12-14"}
    with pytest.raises(InvalidField) as refused:
        d.grant_delegation(ORG, DelegationIn.model_validate({**entry, "roles": ["admin"]}), by="admin")
    assert refused.value.field == "roles"
    with pytest.raises(InvalidField) as stranger:
        d.grant_delegation(ORG, DelegationIn.model_validate({**entry, "deputy": "x", "roles": ["head"]}), by="admin")
    assert stranger.value.field == "deputy"
    granted = d.grant_delegation(ORG, DelegationIn.model_validate({**entry, "roles": ["head"]}), by="admin")
    with pool.connection() as conn:
        assert [g["deputy"] for g in Directory.delegations(conn, ORG, on=date(2026, 12, 5))] == ["deputy"]
        assert Directory.delegations(conn, ORG, on=date(2026, 12, 15)) == []
    d.revoke_delegation(ORG, granted["delegation_id"], by="admin")
    with pool.connection() as conn:
        assert Directory.delegations(conn, ORG, on=date(2026, 12, 5)) == []


def test_csv_import_takes_good_rows_and_reports_bad_ones(directory: tuple[Directory, ConnectionPool[Any]]) -> None:
    d, _ = directory
    _seed_units(d)
    csv = (
        "login;full_name;unit;position;roles\n"
        "ivanov;Иванов Иван Иванович;02.1;главный специалист;executor\n"
        ";Без Логина;02.1;;executor\n"
        "petrov;Петров Пётр;99;;executor\n"
        "sidorov;Сидоров Сидор;02.1;;wizard\n"
        "ivanov;Иванов Второй;02.1;;executor\n"
        "\n"
        "kuznetsov;Кузнецов Кузьма;01;начальник;head clerk\n"
    ).encode()
    rows = read_csv(csv, PEOPLE_COLUMNS)

    def prepared() -> Iterator[tuple[int, dict[str, Any]]]:
        for line, row in rows:
            yield line, {**row, "org": ORG, "roles": row["roles"].split()}

    report = import_rows(prepared(), PersonIn, lambda entry: d.register_person(entry, by="admin"))
    assert report["rows"] == 6
    assert report["imported"] == 2
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (3, "login"),
        (4, "unit"),
        (5, "roles.0"),
        (6, "login"),
    ]
    assert set(_people(directory, "Кузнецов")) == {"kuznetsov"}


def test_directory_events_become_the_contracts_of_the_directory_topic(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, _ = directory
    _seed_units(d)
    d.register_person(_person("ivanov", "Иванов Иван Иванович", roles=["executor", "clerk"]), by="admin")
    d.change_person(ORG, "ivanov", PersonPatch(position="ведущий специалист"), by="admin")
    d.register_person(_person("head", "Начальников Н. Н.", unit="02", roles=["head"]), by="admin")
    d.grant_delegation(
        ORG,
        DelegationIn.model_validate(
            {"principal": "head", "deputy": "ivanov", "roles": ["head"], "starts": "2026-12-01", "ends": "2026-12-02"}
        ),
        by="admin",
    )
    a = d.register_organization(
        OrganizationIn(name="ФНС России", kind="external", inn=FNS_INN),  # type: ignore[arg-type]
        keeper=ORG,
        by="clerk",
    )
    b = d.register_organization(
        OrganizationIn(name="Налоговая", kind="external"),  # type: ignore[arg-type]
        keeper=ORG,
        by="clerk",
    )
    d.merge_organizations(a["organization_id"], b["organization_id"], by="admin")
    published = []
    for notification in d.app.recorder.select_notifications(start=1, limit=100):
        outgoing = to_contract(d.app.mapper.to_domain_event(notification))
        assert outgoing is not None
        assert outgoing.topic.name == "edms.registry.directory.v1"
        published.append(outgoing.payload)
    by_type: dict[type[Any], list[Any]] = {}
    for payload in published:
        by_type.setdefault(type(payload), []).append(payload)
    assert [u.code for u in by_type[UnitCreated]] == ["01", "02", "02.1"]
    assert by_type[UnitCreated][2].parent == "02"
    person = by_type[PersonRegistered][0]
    assert (person.org, person.login, person.unit, person.by) == (ORG, "ivanov", "02.1", "admin")
    assert person.roles == [Role.EXECUTOR, Role.CLERK]
    assert person.person_id == Person.create_id(ORG, "ivanov")
    assert by_type[PersonChanged][0].changes == {"position": "ведущий специалист"}
    delegation = by_type[DelegationGranted][0]
    assert (delegation.principal, delegation.deputy, delegation.ends) == ("head", "ivanov", date(2026, 12, 2))
    assert [o.inn for o in by_type[OrganizationRegistered]] == [FNS_INN, None]
    assert by_type[OrganizationRegistered][0].org == ORG  # an external correspondent belongs to who keeps it
    merged = by_type[OrganizationsMerged][0]
    assert (merged.organization_id, merged.survivor_id) == (b["organization_id"], a["organization_id"])


def test_a_changed_inn_is_checked_for_duplicates_too(directory: tuple[Directory, ConnectionPool[Any]]) -> None:
    d, _ = directory
    d.register_organization(
        OrganizationIn(name="ФНС России", kind="external", inn=FNS_INN),  # type: ignore[arg-type]
        keeper=ORG,
        by="clerk",
    )
    other = d.register_organization(
        OrganizationIn(name="Сбербанк", kind="external"),  # type: ignore[arg-type]
        keeper=ORG,
        by="clerk",
    )
    with pytest.raises(EntryExists) as taken:
        d.change_organization(other["organization_id"], OrganizationPatch(inn=FNS_INN), by="clerk")
    assert taken.value.field == "inn"
    changed = d.change_organization(other["organization_id"], OrganizationPatch(inn=SBER_INN), by="clerk")
    assert changed["inn"] == SBER_INN


# -- cards name people and units of the directory (issue 7, point 9) -------------------------------------------------
def _outgoing(signer: str | None = None, executor: str | None = None) -> Card:
    return Card(
        kind=DocumentKind.OUTGOING_LETTER,
        title="О направлении сведений",
        addressee="Росстат",
        signer={"name": "Начальников Н. Н.", "login": signer} if signer else {"name": "Начальников Н. Н."},
        executor={"name": "Работников Р. Р.", "login": executor} if executor else {"name": "Без Логина"},
    )


def _incoming(executor: str | None = None) -> Registration:
    card = Card(
        kind=DocumentKind.INCOMING_LETTER,
        title="Запрос сведений",
        correspondent="Росстат",
        correspondent_number=f"12/{uuid.uuid4().hex[:6]}",
        correspondent_date=date(2026, 11, 20),
        executor={"name": "Работников Р. Р.", "login": executor} if executor else None,
    )
    return Registration(card=card, reg_date=date(2026, 11, 25), org=ORG, unit="02.1", registered_by="clerk")


def test_a_card_naming_an_unknown_or_departed_person_is_refused_naming_the_field(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, _ = directory
    app = d.app
    assert isinstance(app, RegistryApplication)
    _seed_units(d)
    d.register_person(_person("head", "Начальников Н. Н.", unit="02", roles=["head"]), by="admin")
    d.register_person(_person("worker", "Работников Р. Р."), by="admin")
    draft = app.create_draft(_outgoing("head", "worker"), org=ORG, unit="02.1", created_by="worker", today=TODAY)
    for card, field in (
        (_outgoing("nobody", "worker"), "signer.login"),
        (_outgoing("head", "ghost"), "executor.login"),
    ):
        with pytest.raises(InvalidField) as refused:
            app.create_draft(card, org=ORG, unit="02.1", created_by="worker", today=TODAY)
        assert refused.value.field == field
    with pytest.raises(InvalidField) as revised:
        app.revise_draft(draft.id, {"executor": {"name": "Х", "login": "ghost"}}, revised_by="worker", today=TODAY)
    assert revised.value.field == "executor.login"
    asked = replace(_incoming("worker"), cause=idempotency_cause(ORG, "clerk", "k-1"), fingerprint="f")
    first = app.register(asked)
    d.deactivate_person(ORG, "worker", "уволен", by="admin")
    assert app.register(asked).id == first.id  # asking again (a lost answer) gets the card, not a refusal
    with pytest.raises(InvalidField) as departed:
        app.register(_incoming("worker"))
    assert (departed.value.field, "deactivated" in departed.value.detail) == ("executor.login", True)
    with pytest.raises(InvalidField) as other_org:  # a login of another organization is not this one's person
        app.register(replace(_incoming("head"), org="another-org", unit=None))
    assert other_org.value.field == "executor.login"


def test_a_card_registered_in_an_unknown_or_closed_unit_is_refused_once_the_structure_is_entered(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, _ = directory
    app = d.app
    assert isinstance(app, RegistryApplication)
    # an organization that has not entered its structure yet (the organizational stage of joining) is not checked
    assert app.register(replace(_incoming(), unit="99")).reg_number
    _seed_units(d)
    with pytest.raises(InvalidField) as unknown:
        app.register(replace(_incoming(), unit="99"))
    assert unknown.value.field == "unit"
    assert app.register(_incoming()).reg_number  # 02.1 is known
    d.create_unit(ORG, UnitIn(code="05", name="Временная комиссия"), by="admin")
    d.close_unit(ORG, "05", by="admin")
    with pytest.raises(InvalidField, match="closed"):
        app.create_draft(_outgoing(), org=ORG, unit="05", created_by="x", today=TODAY)


def test_a_csv_in_windows_1251_with_russian_columns_is_read_and_an_unknown_column_refused() -> None:
    content = "Логин;ФИО;Подразделение;Роли\nivanov;Иванов Иван;01;executor\n".encode("cp1251")
    assert read_csv(content, PEOPLE_COLUMNS) == [
        (2, {"login": "ivanov", "full_name": "Иванов Иван", "unit": "01", "roles": "executor"})
    ]
    with pytest.raises(InvalidField) as refused:
        read_csv(b"login,fullname\nx,y\n", PEOPLE_COLUMNS)
    assert refused.value.field == "fullname"


def test_a_login_is_one_person_in_the_whole_system_rfc_7519_subject(
    directory: tuple[Directory, ConnectionPool[Any]],
) -> None:
    d, _ = directory
    d.register_person(_person("ivanov", "Иванов Иван Иванович", unit=None), by="admin")
    elsewhere = PersonIn.model_validate({"login": "ivanov", "full_name": "Иванов Другой", "org": "minzdrav"})
    with pytest.raises(EntryExists) as taken:
        d.register_person(elsewhere, by="admin")
    assert (taken.value.field, taken.value.existing) == ("login", {"login": "ivanov", "org": ORG})
