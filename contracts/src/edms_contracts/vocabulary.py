"""Words every service uses the same way: document kinds, urgency marks, roles.

Each service keys its own tables by these (journals, route templates, file plan, permissions) and checks with an
assertion that it covers them, instead of importing another service's package.
"""

from __future__ import annotations

from enum import StrEnum


class DocumentKind(StrEnum):
    """Document kinds of the 15 processes that are registered in a journal (DOMAIN.md, "The 15 processes").

    Processes 7 (an appendix to an incoming document), 9, 11, 12 and 13 work on documents of these kinds rather than
    making kinds of their own.
    """

    INCOMING_LETTER = "incoming_letter"  # входящее письмо (process 6)
    OUTGOING_LETTER = "outgoing_letter"  # исходящее письмо (process 4)
    INTERNAL = "internal"  # внутренний документ: служебная записка (process 5)
    ORDER = "order"  # приказ / распоряжение руководителя ОГВ (process 3)
    GOVERNOR_ACT = "governor_act"  # указ / распоряжение Губернатора (process 1)
    GOVERNMENT_ACT = "government_act"  # постановление / распоряжение Правительства, его Председателя (process 2)
    CONTRACT = "contract"  # договор, государственный контракт (process 14)
    GOVERNOR_ASSIGNMENT = "governor_assignment"  # прямое поручение Губернатора (process 8)
    CITIZEN_APPEAL = "citizen_appeal"  # письменное обращение гражданина (process 15, 59-ФЗ)
    CITIZEN_ORAL_APPEAL = "citizen_oral_appeal"  # устное обращение: карточка личного приёма (process 15, 59-ФЗ ст. 13)
    PLAN_ITEM = "plan_item"  # пункт плана, поставленный на контроль (process 10)


class LinkType(StrEnum):
    """How one document refers to another (DOMAIN.md "Registration card": links)."""

    IN_REPLY_TO = "in_reply_to"  # во исполнение переписки: ответ на
    IN_EXECUTION_OF = "in_execution_of"  # во исполнение (поручения, акта)
    REPEAT_OF = "repeat_of"  # повторное обращение (59-ФЗ)
    APPENDIX_TO = "appendix_to"  # приложение к (process 7)
    DUPLICATE_OF = "duplicate_of"  # дубликат: поступил повторно


class DeliveryChannel(StrEnum):
    """How a document came or went (DOMAIN.md "Registration card": delivery channel)."""

    POST = "post"  # почта
    COURIER = "courier"  # курьер, фельдъегерская связь
    INTERAGENCY = "interagency"  # межведомственный электронный документооборот (МЭДО, узлы муниципалитетов)
    EMAIL = "email"  # электронная почта
    IN_PERSON = "in_person"  # лично
    PORTAL = "portal"  # интернет-приёмная, портал госуслуг


class Urgency(StrEnum):
    """Urgency marks of the federal rules (срочно, оперативно, весьма срочно)."""

    NONE = "none"
    URGENT = "urgent"  # срочно
    OPERATIVE = "operative"  # оперативно
    VERY_URGENT = "very_urgent"  # весьма срочно


class Role(StrEnum):
    """Roles a token or the directory gives a person (or a machine, for a municipal node)."""

    CLERK = "clerk"  # делопроизводитель: registers documents
    REGISTRAR = "registrar"  # регистратор of a records office
    HEAD = "head"  # руководитель: resolutions, signing
    EXECUTOR = "executor"  # исполнитель
    CONTROLLER = "controller"  # контролёр
    ARCHIVIST = "archivist"  # архивист
    EXPERT_COMMISSION = "expert_commission"  # экспертная комиссия: approves disposal acts
    SEARCH_OPERATOR = "search_operator"  # оператор поиска
    ADMIN = "admin"  # администратор
    DSP_READER = "dsp_reader"  # admitted to documents marked ДСП (Decree No. 1233 of 03.11.1994)
    MUNICIPAL_NODE = "municipal_node"  # a municipality's exchange node (machine identity)
