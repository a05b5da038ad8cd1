"""The demo's documents: a few hundred cards and drafts of every kind, at various stages, per organization.

Generated from a seed per organization, so every load makes the same documents (with the same Idempotency-Keys):
loading again finds them instead of registering them twice. Dates count back from the day of the first load (the
anchor), so letters are dated in the past and deadlines lie ahead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from edms_runtime.demo.region import CORRESPONDENTS, ORGANIZATIONS, OrgSpec, full_name

#: Who registers (a records clerk) and who drafts, in every organization.
CLERK = "clerk1"


@dataclass
class Item:
    """One document of the demo: how it is made, and what happens to it afterwards."""

    key: str
    org: str
    #: Who makes it (their token: unit and roles from the directory of the demo).
    login: str
    #: `/documents` (registered when received or made) or `/drafts` (numbered when signed).
    endpoint: str
    body: dict[str, Any]
    #: A second version of a draft (PATCH /drafts/{id}).
    revision: dict[str, Any] | None = None
    #: The login whose signature routing reports (DocumentSigned): the draft gets its number.
    signed_by: str | None = None
    #: Links to earlier items of the same organization: (link type, their key).
    links: list[tuple[str, str]] = field(default_factory=list)
    #: The same letter received again: 409 first, then registered as its duplicate (`confirm_duplicate`).
    duplicate: bool = False


_INCOMING = (
    "О предоставлении сведений о численности населения",
    "О проведении проверки готовности к отопительному сезону",
    "О ремонте автомобильных дорог общего пользования регионального значения",
    "О подготовке к паводкоопасному периоду",
    "О предоставлении информации об исполнении бюджета за 9 месяцев",
    "О мерах по обеспечению пожарной безопасности в осенне-зимний период",
    "О направлении методических рекомендаций по ведению делопроизводства",
    "О результатах контрольного мероприятия",
    "О согласовании проекта закона области",
    "Об участии в совещании по вопросам лекарственного обеспечения",
    "О ходе реализации национального проекта «Образование»",
    "О задолженности за потреблённую электроэнергию",
    "О внесении изменений в государственную программу области",
    "О представлении отчёта о выполнении плана мероприятий",
    "О нарушениях сроков рассмотрения обращений граждан",
)
_APPEALS = (
    ("О ремонте кровли многоквартирного дома", "Прошу принять меры по ремонту протекающей кровли дома по адресу"),
    ("Об уличном освещении", "Во дворе нашего дома не работает уличное освещение уже третий месяц, прошу"),
    ("О предоставлении места в детском саду", "Прошу оказать содействие в предоставлении места в детском саду"),
    ("О вывозе мусора", "Контейнерная площадка у дома не убирается, мусор не вывозится по графику"),
    ("О транспортном обслуживании", "Отменён рейс автобуса до районного центра, прошу восстановить маршрут"),
    ("О лекарственном обеспечении", "Не могу получить льготные лекарства в аптеке по рецепту, прошу разобраться"),
)
_OUTGOING = (
    "О направлении информации",
    "Об ответе на запрос",
    "О рассмотрении предложений",
    "О направлении отчёта",
    "О согласовании проекта",
)
_INTERNAL = (
    "О подготовке к совещанию",
    "О предоставлении сведений для отчёта",
    "О направлении работника в командировку",
    "Об обеспечении работы в праздничные дни",
)
_ORDERS = ("Об утверждении номенклатуры дел", "О создании экспертной комиссии", "Об организации делопроизводства")
_ACTS = (
    "Об утверждении государственной программы «Развитие транспортной системы»",
    "О мерах по подготовке к отопительному сезону",
    "О внесении изменений в положение о порядке рассмотрения обращений граждан",
)
_ASSIGNMENTS = (
    "Обеспечить подготовку объектов ЖКХ к отопительному сезону",
    "Представить предложения по снижению задолженности за энергоресурсы",
    "Организовать проверку готовности школ к учебному году",
    "Подготовить доклад о ходе ремонта региональных дорог",
    "Провести совещание с главами муниципальных образований",
)
_PLAN = (
    "Разработать проект закона области о бюджете на очередной год",
    "Провести мониторинг исполнения государственных программ",
    "Подготовить сводный доклад о результатах деятельности",
    "Обеспечить актуализацию номенклатуры дел",
)
_STREETS = ("ул. Ленина", "ул. Советская", "пр. Мира", "ул. Садовая", "ул. Школьная", "ул. Набережная")
_CHANNELS = ("post", "courier", "interagency", "email", "in_person", "portal")


def _person(org: OrgSpec, login: str, with_login: bool = True) -> dict[str, Any]:
    person = org.person(login)
    out: dict[str, Any] = {"name": person.full_name, "position": person.position}
    if with_login:
        out["login"] = person.login
    return out


def _incoming(org: OrgSpec, rng: random.Random, anchor: date, n: int, senders: list[str]) -> list[Item]:
    items: list[Item] = []
    for i in range(n):
        sent = anchor - timedelta(days=rng.randint(3, 45))
        title = rng.choice(_INCOMING)
        body: dict[str, Any] = {
            "kind": "incoming_letter",
            "title": title,
            "text": f"{title}. Просим рассмотреть и представить информацию в установленный срок. Исх. письмо {i + 1}.",
            "correspondent": rng.choice(senders),
            "correspondent_number": f"{rng.randint(1, 99):02d}-{rng.randint(1, 30)}/{rng.randint(100, 9999)}",
            "correspondent_date": sent.isoformat(),
            "received_date": min(anchor, sent + timedelta(days=rng.randint(0, 3))).isoformat(),
            "delivery_channel": rng.choice(_CHANNELS),
            "urgency": rng.choice(("none", "none", "none", "urgent", "operative")),
            "sheets": rng.randint(1, 12),
            "appendices": rng.randint(0, 3),
            "addressee": org.person("head1").full_name,
        }
        if rng.random() < 0.5:
            body["executor"] = _person(org, rng.choice(("executor1", "executor2", "executor3")))
        if rng.random() < 0.1:
            body["access"] = "ДСП"
        items.append(Item(f"{org.code}/in/{i}", org.code, CLERK, "/documents", body))
    first = items[0]
    # the same letter received twice (by post and by e-mail): registered as a duplicate after the 409
    items.append(Item(f"{org.code}/in/dup", org.code, CLERK, "/documents", dict(first.body), duplicate=True))
    # a letter sent again under a new number with the same text: flagged as a near duplicate
    again = {**items[1].body, "correspondent_number": f"{items[1].body['correspondent_number']}-повт"}
    items.append(Item(f"{org.code}/in/near", org.code, CLERK, "/documents", again))
    # an appendix that came later (process 7), linked to its letter
    appendix = {
        **items[2].body,
        "title": f"Приложение к письму: {items[2].body['title']}",
        "text": "Дополнительные материалы: таблицы и расчёты к ранее направленному письму.",
        "correspondent_number": f"{items[2].body['correspondent_number']}/1",
    }
    items.append(
        Item(f"{org.code}/in/appendix", org.code, CLERK, "/documents", appendix, links=[("appendix_to", items[2].key)])
    )
    return items


def _appeals(org: OrgSpec, rng: random.Random, anchor: date, n: int) -> list[Item]:
    items: list[Item] = []
    for i in range(n):
        title, text = rng.choice(_APPEALS)
        applicant = {
            "name": full_name(rng),
            "address": f"г. Северск, {rng.choice(_STREETS)}, д. {rng.randint(1, 90)}, кв. {rng.randint(1, 120)}",
        }
        body = {
            "kind": "citizen_appeal",
            "title": title,
            "text": f"{text} {applicant['address']}. Обращение {i}.",
            "applicant": applicant,
            "delivery_channel": rng.choice(("post", "portal", "email")),
            "received_date": (anchor - timedelta(days=rng.randint(0, 2))).isoformat(),
            "executor": _person(org, "executor4"),
        }
        items.append(Item(f"{org.code}/appeal/{i}", org.code, CLERK, "/documents", body))
    # the same citizen on the same matter again (59-ФЗ art. 11): linked as a repeat by the registry itself
    repeat = {**items[0].body, "text": f"{items[0].body['text']} Повторно прошу принять меры."}
    items.append(Item(f"{org.code}/appeal/repeat", org.code, CLERK, "/documents", repeat))
    if "citizen_oral_appeal" in org.own_kinds:
        for i in range(2 * org.scale):
            title, text = rng.choice(_APPEALS)
            body = {
                "kind": "citizen_oral_appeal",
                "title": f"Личный приём: {title.lower()}",
                "text": text,
                "applicant": {"name": full_name(rng), "address": f"г. Северск, {rng.choice(_STREETS)}, д. {i + 3}"},
                "addressee": org.person("head1").full_name,
                "delivery_channel": "in_person",
            }
            items.append(Item(f"{org.code}/oral/{i}", org.code, CLERK, "/documents", body))
    return items


def _assignments(org: OrgSpec, rng: random.Random, anchor: date) -> list[Item]:
    items: list[Item] = []
    if "governor_assignment" in org.own_kinds:
        for i, title in enumerate(_ASSIGNMENTS):
            body = {
                "kind": "governor_assignment",
                "title": title,
                "text": f"Поручение Губернатора области по итогам совещания. {title}.",
                "executor": _person(org, rng.choice(("head2", "executor1", "executor2"))),
                "deadline": (anchor + timedelta(days=rng.randint(10, 60))).isoformat(),
                "urgency": rng.choice(("none", "urgent")),
            }
            items.append(Item(f"{org.code}/assignment/{i}", org.code, CLERK, "/documents", body))
    if "plan_item" in org.own_kinds:
        for i, title in enumerate(_PLAN):
            body = {
                "kind": "plan_item",
                "title": title,
                "executor": _person(org, rng.choice(("head2", "executor1"))),
                "deadline": (anchor + timedelta(days=rng.randint(30, 120))).isoformat(),
                "plan_period": rng.choice(("IV квартал", "I квартал следующего года")),
            }
            items.append(Item(f"{org.code}/plan/{i}", org.code, CLERK, "/documents", body))
    return items


def _drafts(org: OrgSpec, rng: random.Random, anchor: date, incoming: list[Item]) -> list[Item]:
    items: list[Item] = []
    letters = [item for item in incoming if item.body["kind"] == "incoming_letter" and not item.duplicate]
    for i in range(5 * org.scale):
        replying = letters[i % len(letters)]
        body = {
            "kind": "outgoing_letter",
            "title": f"{rng.choice(_OUTGOING)}: {replying.body['title'].lower()}",
            "text": "В ответ на Ваше письмо направляем запрашиваемую информацию.",
            "addressee": replying.body["correspondent"],
            "signer": _person(org, "head1"),
            "executor": _person(org, "executor1"),
            "delivery_channel": rng.choice(("post", "email", "interagency")),
            "sheets": rng.randint(1, 5),
        }
        revision = {"text": f"{body['text']} Уточнённая редакция после согласования."} if i % 2 == 0 else None
        signed = "head1" if i % 5 < 3 else None
        items.append(
            Item(
                f"{org.code}/out/{i}",
                org.code,
                "executor1",
                "/drafts",
                body,
                revision,
                signed,
                links=[("in_reply_to", replying.key)],
            )
        )
    for i in range(3 * org.scale):
        body = {
            "kind": "internal",
            "title": rng.choice(_INTERNAL),
            "text": "Прошу рассмотреть и дать указания.",
            "addressee": org.person("head1").full_name,
            "signer": _person(org, "head2"),
            "executor": _person(org, "executor2"),
        }
        items.append(
            Item(f"{org.code}/memo/{i}", org.code, "executor2", "/drafts", body, None, "head2" if i % 2 == 0 else None)
        )
    for i, title in enumerate(_ORDERS[: 1 + org.scale]):
        body = {"kind": "order", "title": title, "signer": _person(org, "head1"), "executor": _person(org, "executor3")}
        items.append(
            Item(f"{org.code}/order/{i}", org.code, "executor3", "/drafts", body, None, "head1" if i == 0 else None)
        )
    act_kind = next((kind for kind in ("governor_act", "government_act") if kind in org.own_kinds), None)
    if act_kind is not None:
        for i, title in enumerate(_ACTS):
            body = {
                "kind": act_kind,
                "title": title,
                "signer": _person(org, "head1"),
                "executor": _person(org, "executor3"),
            }
            revision = {"title": f"{title} (доработанный проект)"} if i == 1 else None
            items.append(
                Item(
                    f"{org.code}/act/{i}", org.code, "executor3", "/drafts", body, revision, "head1" if i < 2 else None
                )
            )
    if org.kind == "regional_body" and org.scale == 1:
        for i in range(2):
            body = {
                "kind": "contract",
                "title": "Государственный контракт на выполнение работ" if i == 0 else "Договор поставки",
                "counterparty": CORRESPONDENTS[-1 - i].name,
                "valid_until": (anchor + timedelta(days=365)).isoformat(),
                "signer": _person(org, "head1"),
                "executor": _person(org, "executor3"),
            }
            items.append(
                Item(
                    f"{org.code}/contract/{i}",
                    org.code,
                    "executor3",
                    "/drafts",
                    body,
                    None,
                    "head1" if i == 0 else None,
                )
            )
    return items


def documents(anchor: date) -> dict[str, list[Item]]:
    """Every organization's demo documents, in the order they are made."""
    out: dict[str, list[Item]] = {}
    for org in ORGANIZATIONS:
        rng = random.Random(f"documents/{org.code}")
        senders = [c.short_name for c in CORRESPONDENTS] + [o.short_name for o in ORGANIZATIONS if o is not org]
        incoming = _incoming(org, rng, anchor, 12 * org.scale, senders)
        appeals = _appeals(org, rng, anchor, 4 * org.scale)
        out[org.code] = incoming + appeals + _assignments(org, rng, anchor) + _drafts(org, rng, anchor, incoming)
    return out
