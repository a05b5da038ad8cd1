"""The demo region (fictional): the governor's administration, the government office, four executive bodies, two
municipalities, external correspondents, and the people who work there — every role of the system.

Names, numbers and addresses are made up; INN and OGRN are generated with correct check digits (they are not
numbers of real organizations).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: The region's code in generated INN/OGRN.
REGION = "29"


def inn(seed: int) -> str:
    """A 10-digit INN with a correct check digit (Order of the FTS No. ММВ-7-6/435@)."""
    body = f"{REGION}{seed:07d}"[:9]
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return body + str(sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11 % 10)


def ogrn(seed: int) -> str:
    """A 13-digit OGRN with a correct check digit (Decree of the Government of the RF No. 438 of 19.06.2002)."""
    body = f"1{'02'}{REGION}{seed:07d}"[:12]
    return body + str(int(body) % 11 % 10)


#: The organization whose people have the plain demo logins (`clerk1`); elsewhere a login names its organization
#: (`clerk1@minfin`): a login is one person in the whole system (one token issuer for the region).
HOME = "demo-region"


def login_of(base: str, org: str) -> str:
    """The login of the demo person `base` (clerk1, head1, ...) in organization `org`."""
    return base if org == HOME else f"{base}@{org}"


@dataclass(frozen=True)
class PersonSpec:
    login: str
    full_name: str
    unit: str
    position: str
    roles: tuple[str, ...]
    #: The demo role the person plays (clerk1, head1, ...): the key of ROLES.
    base: str


@dataclass(frozen=True)
class OrgSpec:
    code: str
    name: str
    short_name: str
    kind: str
    seed: int
    units: tuple[tuple[str, str, str | None], ...]
    people: tuple[PersonSpec, ...] = ()
    #: How many documents of each sort the organization gets (a ministry about 35, the administration about 70).
    scale: int = 1
    parent: str | None = None
    #: Kinds only this organization makes (acts of the governor, of the government, the governor's assignments).
    own_kinds: tuple[str, ...] = ()

    @property
    def inn(self) -> str:
        return inn(self.seed)

    @property
    def ogrn(self) -> str:
        return ogrn(self.seed)

    def person(self, login: str) -> PersonSpec:
        """The person by their login or by their demo role (`clerk1` is `clerk1@minfin` in minfin)."""
        return next(p for p in self.people if login in (p.login, p.base))


#: What each demo login does (`clerk1` in demo-region, `clerk1@ORG` elsewhere; README lists them).
ROLES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "admin1": ("06", ("admin",), "administrator: keeps the directory (people, units, organizations), journals"),
    "clerk1": ("01", ("clerk", "dsp_reader"), "records clerk: registers incoming letters and appeals, links, ДСП"),
    "clerk2": ("01", ("clerk",), "records clerk (without admission to ДСП)"),
    "head1": ("00", ("head", "dsp_reader"), "head of the organization: resolutions, signing"),
    "head2": ("07", ("head",), "head of a department"),
    "executor1": ("07", ("executor",), "executor: drafts outgoing letters and memos, executes assignments"),
    "executor2": ("07.1", ("executor",), "executor"),
    "executor3": ("04", ("executor",), "executor (legal department)"),
    "executor4": ("02", ("executor",), "executor (citizens' appeals)"),
    "controller1": ("03", ("controller",), "controller: control of execution, discipline reports"),
    "archivist1": ("05", ("archivist",), "archivist: file plan, cases, transfer"),
    "expert1": ("05", ("expert_commission",), "member of the expert commission: approves disposal acts"),
    "search1": ("06", ("search_operator",), "search operator"),
}

#: Positions (title per login; the first of a unit's heads is marked `head`).
POSITIONS: dict[str, str] = {
    "admin1": "главный специалист-эксперт по информационным технологиям",
    "clerk1": "ведущий специалист общего отдела",
    "clerk2": "специалист общего отдела",
    "head1": "руководитель",
    "head2": "начальник управления",
    "executor1": "главный специалист",
    "executor2": "ведущий консультант",
    "executor3": "консультант правового отдела",
    "executor4": "главный специалист по работе с обращениями граждан",
    "controller1": "начальник контрольного отдела",
    "archivist1": "заведующий архивом",
    "expert1": "председатель экспертной комиссии",
    "search1": "специалист по информационному поиску",
}

_SURNAMES = (
    "Иванов",
    "Петров",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
)
_MALE = ("Александр", "Сергей", "Андрей", "Дмитрий", "Алексей", "Игорь", "Николай", "Владимир", "Павел", "Олег")
_FEMALE = ("Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Марина", "Анна", "Мария", "Юлия")
_PATRONYMIC_M = ("Александрович", "Сергеевич", "Иванович", "Петрович", "Николаевич", "Викторович", "Юрьевич")
_PATRONYMIC_F = ("Александровна", "Сергеевна", "Ивановна", "Петровна", "Николаевна", "Викторовна", "Юрьевна")


def full_name(rng: random.Random) -> str:
    surname = rng.choice(_SURNAMES)
    if rng.random() < 0.55:
        return f"{surname}а {rng.choice(_FEMALE)} {rng.choice(_PATRONYMIC_F)}"  # every surname here ends -ов/-ев
    return f"{surname} {rng.choice(_MALE)} {rng.choice(_PATRONYMIC_M)}"


def _people(code: str) -> tuple[PersonSpec, ...]:
    rng = random.Random(f"people/{code}")
    return tuple(
        PersonSpec(login_of(base, code), full_name(rng), unit, POSITIONS[base], roles, base)
        for base, (unit, roles, _) in ROLES.items()
    )


def _units(top: str, department: str, section: str, appeals: str) -> tuple[tuple[str, str, str | None], ...]:
    return (
        ("00", top, None),
        ("01", "Общий отдел (делопроизводство)", "00"),
        ("02", appeals, "00"),
        ("03", "Контрольный отдел", "00"),
        ("04", "Правовой отдел", "00"),
        ("05", "Архив", "01"),
        ("06", "Отдел информационных технологий", "00"),
        ("07", department, "00"),
        ("07.1", section, "07"),
    )


def _org(
    code: str,
    name: str,
    short: str,
    kind: str,
    seed: int,
    units: tuple[tuple[str, str, str | None], ...],
    scale: int = 1,
    parent: str | None = None,
    own_kinds: tuple[str, ...] = (),
) -> OrgSpec:
    return OrgSpec(code, name, short, kind, seed, units, _people(code), scale, parent, own_kinds)


#: The organizations that work in the system. `demo-region` (the governor's administration) is the organization of
#: the README's examples.
ORGANIZATIONS: tuple[OrgSpec, ...] = (
    _org(
        "demo-region",
        "Администрация Губернатора Северной области",
        "Администрация Губернатора",
        "regional_body",
        1001,
        _units(
            "Руководство Администрации",
            "Управление внутренней политики",
            "Отдел по взаимодействию с МСУ",
            "Управление по работе с обращениями граждан",
        ),
        scale=2,
        own_kinds=("governor_act", "governor_assignment", "citizen_oral_appeal"),
    ),
    _org(
        "gov-office",
        "Аппарат Правительства Северной области",
        "Аппарат Правительства",
        "regional_body",
        1002,
        _units(
            "Руководство Аппарата",
            "Департамент организационной работы",
            "Отдел планирования",
            "Отдел по работе с обращениями",
        ),
        scale=2,
        own_kinds=("government_act", "plan_item"),
    ),
    _org(
        "minfin",
        "Министерство финансов Северной области",
        "Минфин области",
        "regional_body",
        1003,
        _units("Руководство министерства", "Бюджетный департамент", "Отдел доходов", "Отдел обращений"),
        parent="gov-office",
        own_kinds=("plan_item",),
    ),
    _org(
        "minzdrav",
        "Министерство здравоохранения Северной области",
        "Минздрав области",
        "regional_body",
        1004,
        _units(
            "Руководство министерства",
            "Департамент медицинской помощи",
            "Отдел лекарственного обеспечения",
            "Отдел обращений",
        ),
        parent="gov-office",
    ),
    _org(
        "minobr",
        "Министерство образования и науки Северной области",
        "Минобрнауки области",
        "regional_body",
        1005,
        _units(
            "Руководство министерства",
            "Департамент общего образования",
            "Отдел дошкольного образования",
            "Отдел обращений",
        ),
        parent="gov-office",
    ),
    _org(
        "mintrans",
        "Министерство транспорта и дорожного хозяйства Северной области",
        "Минтранс области",
        "regional_body",
        1006,
        _units(
            "Руководство министерства", "Департамент дорожного хозяйства", "Отдел содержания дорог", "Отдел обращений"
        ),
        parent="gov-office",
    ),
    _org(
        "mun-severny",
        "Администрация Северного муниципального района",
        "Администрация Северного района",
        "municipality",
        2001,
        _units("Глава района", "Управление ЖКХ", "Отдел благоустройства", "Отдел по работе с обращениями"),
        own_kinds=("citizen_oral_appeal",),
    ),
    _org(
        "mun-ozerny",
        "Администрация городского округа Озёрный",
        "Администрация г. Озёрный",
        "municipality",
        2002,
        _units(
            "Глава городского округа",
            "Управление образования",
            "Отдел молодёжной политики",
            "Отдел по работе с обращениями",
        ),
        own_kinds=("citizen_oral_appeal",),
    ),
)


@dataclass(frozen=True)
class Correspondent:
    name: str
    short_name: str
    seed: int
    address: str
    contacts: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def inn(self) -> str:
        return inn(self.seed)

    @property
    def ogrn(self) -> str:
        return ogrn(self.seed)


#: External correspondents the records offices write to and receive from (kept by the governor's administration).
CORRESPONDENTS: tuple[Correspondent, ...] = (
    Correspondent(
        "Управление Федеральной налоговой службы по Северной области",
        "УФНС по Северной области",
        3001,
        "г. Северск, ул. Ленина, 10",
        (("Сидорова Анна Петровна", "начальник отдела"),),
    ),
    Correspondent(
        "Территориальный орган Федеральной службы государственной статистики по Северной области",
        "Северскстат",
        3002,
        "г. Северск, пр. Мира, 5",
    ),
    Correspondent(
        "Прокуратура Северной области",
        "Прокуратура области",
        3003,
        "г. Северск, ул. Советская, 2",
        (("Орлов Игорь Николаевич", "старший помощник прокурора"),),
    ),
    Correspondent(
        "Главное управление МЧС России по Северной области", "ГУ МЧС по области", 3004, "г. Северск, ул. Пожарная, 1"
    ),
    Correspondent(
        "Законодательное Собрание Северной области",
        "Законодательное Собрание",
        3005,
        "г. Северск, пл. Ленина, 1",
        (("Лебедева Ольга Юрьевна", "руководитель аппарата"),),
    ),
    Correspondent(
        "Управление Министерства юстиции Российской Федерации по Северной области",
        "Управление Минюста",
        3006,
        "г. Северск, ул. Гагарина, 7",
    ),
    Correspondent("Контрольно-счётная палата Северной области", "КСП области", 3007, "г. Северск, ул. Карла Маркса, 3"),
    Correspondent(
        "Публичное акционерное общество «Северная энергетическая компания»",
        "ПАО «Северэнерго»",
        3008,
        "г. Северск, ул. Энергетиков, 15",
    ),
    Correspondent(
        "Государственное бюджетное учреждение здравоохранения «Северская областная больница»",
        "ГБУЗ «Северская областная больница»",
        3009,
        "г. Северск, ул. Больничная, 4",
    ),
    Correspondent(
        "Общество с ограниченной ответственностью «Дорстрой-Север»",
        "ООО «Дорстрой-Север»",
        3010,
        "г. Северск, Промышленный пр., 21",
    ),
)

#: Correspondents entered from CSV (the import the administrator uses for a list received from elsewhere); the last
#: row is wrong on purpose and is reported, not imported.
CORRESPONDENTS_CSV = (
    "name;short_name;kind;inn;ogrn;address\n"
    f"Северное региональное отделение Фонда пенсионного и социального страхования;ОСФР по области;external;"
    f"{inn(3011)};{ogrn(3011)};г. Северск, ул. Пенсионная, 8\n"
    f"Федеральное казённое учреждение «Упрдор Север»;ФКУ «Упрдор Север»;external;{inn(3012)};{ogrn(3012)};"
    "г. Северск, ул. Дорожная, 2\n"
    "Организация с ошибкой в ИНН;;external;2900000000;;\n"
)
