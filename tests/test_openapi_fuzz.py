"""The OpenAPI describes what the services really answer (issue 12, item 7): schemathesis makes requests from every
service's `/openapi.json` — valid data and invalid data, for every operation — as the staff of two organizations,
and checks each answer: no 5xx, no status the document does not list, the content type it lists, a body its schema
allows. Two passes: generated examples (Hypothesis) as both organizations, and schemathesis's coverage phase — each
parameter's and field's boundary values: empty, shortest, longest, each enum member, null where it may be null —
as the first (it found a 500 the examples had missed: an organization's name emptied by `PATCH`).

The callers hold every role (the route permissions let each request reach its endpoint) and each organization has a
registered document of its own, so operations on a document are asked about a real one too, not only about ids
that are not there (404). Bounded: a few examples per operation and mode, no shrinking, derandomized (the same
requests every run: a failure is reproducible, never flaky), about a minute for the five services. Nothing is
left out: of a stream of Server-Sent Events (routing's `GET /inbox/stream`, which never ends) the first event is
read and checked.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.engine import Status, events, from_schema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from edms_contracts import Role
from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import SERVICES, Stack
from tests.support import Client, seed_directory

#: A transfer package (archive's `POST /transfers/import`) is sent as bytes, as a file is.
schemathesis.serializer.alias("application/zip", "application/octet-stream")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: A stream of Server-Sent Events is read up to its first event (the inbox's never ends).
CONFIG = schemathesis.Config.from_dict({"max-stream-events": 1})
EXAMPLES = 3
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def staff(stack: Stack) -> list[tuple[Client, dict[str, str]]]:
    """Two organizations' callers holding every role, each with the path parameters of its own things."""
    callers = []
    for name in ("north", "south"):
        org = f"fuzz-{name}-{uuid.uuid4().hex[:6]}"
        seed_directory(stack, org, units={"01": None}, people={"clerk1": "01", "fuzz1": "01"})
        roles = [role.value for role in Role]
        token = issue_token(PlatformSettings(data_dir=stack.data_dir), user="clerk1", org=org, unit="01", roles=roles)
        caller = Client(stack, token, org)
        correspondent = caller.post("registry", "/organizations", {"name": f"ООО Контрагент {org}", "kind": "external"})
        assert correspondent.status_code == 201, correspondent.text
        known = {
            "document_id": caller.register()["id"],
            "organization_id": correspondent.json()["organization_id"],
            "org": org,
            "code": "01",
            "login": "fuzz1",
        }
        callers.append((caller, known))
    return callers


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_operation_answers_as_its_openapi_says(
    stack: Stack, staff: list[tuple[Client, dict[str, str]]], service: str
) -> None:
    base_url = stack.processes[service].url
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document, config=CONFIG)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation schemathesis cannot read is a failure too, never skipped
            failures.append(f"unreadable operation: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        for caller, known in staff:
            names = re.findall(r"{(\w+)}", operation.path)
            ours = {name: known[name] for name in names if name in known}
            runs: list[tuple[GenerationMode, dict[str, Any] | None]] = [(GenerationMode.POSITIVE, None)]
            if caller is staff[0][0]:  # invalid data is refused before whose it is matters: one organization
                runs.append((GenerationMode.NEGATIVE, None))
            if ours:
                runs.append((GenerationMode.POSITIVE, ours))
            for mode, path_parameters in runs:
                failures += _fuzz(operation, mode, path_parameters, base_url, caller)
    assert operations > 0
    assert not failures, f"{len(failures)} answers differ from {service}'s OpenAPI:\n\n" + "\n\n".join(failures)


def _fuzz(
    operation: Any, mode: GenerationMode, path_parameters: dict[str, Any] | None, base_url: str, caller: Client
) -> list[str]:
    """Every failing answer of `EXAMPLES` requests (each is checked; one failure does not stop the others)."""
    failures: list[str] = []

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @SETTINGS
    def run(case: Any) -> None:
        try:
            case.call_and_validate(base_url=base_url, headers=caller.headers, checks=CHECKS, timeout=30)
        except (AssertionError, BaseExceptionGroup) as failure:
            request = case.as_curl_command(headers={"Authorization": "Bearer …"})
            failures.append(
                f"{operation.method.upper()} {operation.path} ({caller.org}, {mode.value}): {failure}\n{request}"
            )

    run()
    return failures


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_boundary_values_of_every_operation_answer_as_its_openapi_says(
    stack: Stack, staff: list[tuple[Client, dict[str, str]]], service: str
) -> None:
    """schemathesis's coverage phase, valid data, the first organization with its own things for path parameters."""
    caller, known = staff[0]
    base_url = stack.processes[service].url
    config = schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            "headers": caller.headers,
            "workers": 1,
            "max-stream-events": 1,
            "request-timeout": 30,
            "parameters": known,
            "generation": {"mode": "positive", "deterministic": True},
            "checks": {"enabled": False, **{check.__name__: {"enabled": True} for check in CHECKS}},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": True, "unexpected-methods": []},
                "fuzzing": {"enabled": False},
                "stateful": {"enabled": False},
            },
        }
    )
    schema = schemathesis.openapi.from_dict(httpx.get(f"{base_url}/openapi.json", timeout=10).json(), config=config)
    failures: list[str] = []
    cases = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(f"{event.recorder.label}: {failure.title}\n{failure.message}")
                        failures.append(check.failure_info.code_sample)
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            failures.append(f"schemathesis: {event.exception!r}")
    assert cases > 0
    assert not failures, f"answers differ from {service}'s OpenAPI:\n\n" + "\n\n".join(dict.fromkeys(failures))
