"""Route templates as data (YAML), validated at start with every error named; and the rules they carry.

Sources: DOMAIN.md "The 15 processes (each one a route template)" and "Deadlines" (stage norms: resolution 1 day,
approval 3, signing 1); Federal Law 59-ФЗ art. 12 (an appeal is answered within 30 days of registration; the
deadline may be extended once, by up to 30 days).
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from edms_routing.application import Order, RoutingApplication
from edms_routing.domain import PROCESSES, TEMPLATES, RuleBroken, start_route
from edms_routing.templates import DEFAULT_DIR, TemplateError, load_templates
from edms_runtime.errors import InvalidField

ORG = "demo-region"


def test_every_process_of_the_fifteen_has_a_template() -> None:
    """The 15 processes of DOMAIN.md, and a 16th: the expert commission's approval of a disposal act (issue 11)."""
    assert sorted(int(process.split("-", 1)[0]) for process in PROCESSES) == list(range(1, 17))
    assert PROCESSES["16-disposal-act"].kinds == ()  # started by archive's DisposalActDrafted, not by a kind


@pytest.mark.parametrize(
    ("process", "stage", "days"),
    [
        ("6-incoming-registration", "resolution", 1),
        ("4-outgoing-preparation", "approval", 3),
        ("4-outgoing-preparation", "signing", 1),
        ("5-internal-preparation", "approval", 3),
    ],
)
def test_stage_norms_are_those_of_the_domain(process: str, stage: str, days: int) -> None:
    """DOMAIN.md "Deadlines": preparing the resolution 1 day, approving the draft 3 days, signing 1 day."""
    assert PROCESSES[process].stage(stage).days == days


def test_a_stage_deadline_skips_weekends_and_the_new_year_holidays_of_the_production_calendar() -> None:
    """DOMAIN.md "Deadlines" (stage norms in working days) on the production calendar of Decree No. 1335 of
    04.10.2024 and its successors (`holidays`): a resolution stage of 1 working day."""
    friday = start_route(uuid.uuid4(), "incoming_letter", org="o", today=date(2026, 11, 27))
    assert friday.stage is not None
    assert friday.stage["deadline"] == date(2026, 11, 30)
    holiday = start_route(uuid.uuid4(), "incoming_letter", org="o", today=date(2026, 12, 31))
    assert holiday.stage is not None
    assert holiday.stage["deadline"] == date(2027, 1, 11)  # 31 December and 1-10 January are days off in 2026/27


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_a_changed_template_is_used_without_code(tmp_path: Path) -> None:
    for path in DEFAULT_DIR.glob("*.yaml"):
        _write(tmp_path, path.name, path.read_text(encoding="utf-8"))
    _write(
        tmp_path,
        "06-incoming-registration.yaml",
        "process: 6-incoming-registration\nkinds: [incoming_letter]\nchildren_rule: any\nstages:\n"
        "  - {name: resolution, type: resolution, participants: ['role:head'], days: 2}\n"
        "  - {name: execution, type: execution}\n",
    )
    templates = load_templates(tmp_path)
    assert templates["6-incoming-registration"].stage("resolution").days == 2
    assert templates["6-incoming-registration"].children_rule == "any"


def test_bad_templates_are_refused_with_every_error_named(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a.yaml",
        "process: incoming\nkinds: [incoming_letter, postcard]\nchildren_rule: most\nstages:\n"
        "  - {name: resolution, type: decree, participants: ['role:king', 'someone'], days: -1}\n"
        "  - {name: resolution, type: execution, mode: random}\n",
    )
    _write(tmp_path, "b.yaml", "process: [unclosed\n")
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    message = str(caught.value)
    for expected in [
        "a.yaml: process: 'incoming' must start with its number",
        "a.yaml: kinds:",
        "a.yaml: children_rule: 'most'",
        "a.yaml: stages[0].type: 'decree'",
        "a.yaml: stages[0].days: must be a whole number",
        "a.yaml: stages[0].participants[0]: 'role:king'",
        "a.yaml: stages[0].participants[1]: 'someone'",
        "a.yaml: stages[1].mode: 'random'",
        "b.yaml: not YAML",
        "kind outgoing_letter: started by 0 templates",
    ]:
        assert expected in message


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no route templates"):
        load_templates(tmp_path)


# -- citizens' appeals (59-ФЗ) --------------------------------------------------------------------------------------
@pytest.fixture
def routing() -> RoutingApplication:
    """The real application on eventsourcing's in-memory store."""
    app = RoutingApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.clock = lambda: date(2026, 11, 27)
    return app


def test_an_appeal_is_answered_within_thirty_days_of_registration(routing: RoutingApplication) -> None:
    """59-ФЗ art. 12 part 1: 30 days from registration, whatever the control deadline."""
    document = uuid.uuid4()
    routing.start_for(document, "citizen_appeal", org=ORG, access=None, on=date(2026, 11, 20))
    route = routing.route_of(document)
    deadline = routing.default_deadline(route, {"reg_date": date(2026, 11, 20), "control_deadline": date(2027, 1, 9)})
    assert deadline == date(2026, 12, 20)
    assert TEMPLATES["citizen_oral_appeal"].answer_days == 30


def test_an_appeal_is_extended_once_by_thirty_days_at_most(routing: RoutingApplication) -> None:
    """59-ФЗ art. 12 part 2: in exceptional cases the deadline may be extended once, by no more than 30 days."""
    document = uuid.uuid4()
    routing.start_for(document, "citizen_appeal", org=ORG, access=None, on=date(2026, 11, 27))
    _, (assignment,) = routing.issue_resolution(
        document, author="head1", text="Рассмотреть", orders=[Order("exec1")], default_deadline=date(2026, 12, 27)
    )
    with pytest.raises(InvalidField, match="30 days at most") as too_far:
        routing.request_extension(assignment.id, by="exec1", new_deadline=date(2027, 1, 27), reason="запрос")
    assert too_far.value.field == "new_deadline"
    request, _ = routing.request_extension(assignment.id, by="exec1", new_deadline=date(2027, 1, 26), reason="запрос")
    routing.decide_extension(request, by="head1", grant=True)
    with pytest.raises(RuleBroken, match="1 time"):
        routing.request_extension(assignment.id, by="exec1", new_deadline=date(2027, 1, 30), reason="ещё")
    assert routing.assignment(assignment.id).deadline == date(2027, 1, 26)


def test_an_incoming_letters_assignment_may_be_extended_again(routing: RoutingApplication) -> None:
    document = uuid.uuid4()
    routing.start_for(document, "incoming_letter", org=ORG, access=None)
    _, (assignment,) = routing.issue_resolution(
        document, author="head1", text="Ответить", orders=[Order("exec1")], default_deadline=date(2026, 12, 7)
    )
    for new in (date(2026, 12, 14), date(2026, 12, 21)):
        request, _ = routing.request_extension(assignment.id, by="exec1", new_deadline=new, reason="причина")
        routing.decide_extension(request, by="head1", grant=True)
    assert routing.assignment(assignment.id).deadline == date(2026, 12, 21)
