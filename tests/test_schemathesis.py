"""schemathesis against the API, in-process (issue 23): every operation of the OpenAPI document, with valid and
with invalid data, as each role of the `world` fixture and with no token, answers no 5xx, only status codes the
document lists, and bodies that match its schemas. It runs on SQLite and, with TEM_DATABASE_URL set, on
PostgreSQL, where an id beyond INTEGER or a serial beyond BIGINT used to answer 500.

Fixed seed, bounded examples: a few minutes at most on a small machine."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import World
from tests.helpers import setup_packer

SEED = 23
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# None: no token (schemathesis then sends made-up ones too).
ROLES = ("packer", "ministry", "inspector", None)


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str], failures: list[str]) -> None:
    @seed(SEED)
    @hypothesis_settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first example found is reported
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def examples(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Failure, FailureGroup) as exc:  # every failure is collected, then reported together
            label = f"{operation.label} [{mode.value}, {'token' if 'Authorization' in headers else 'anonymous'}]"
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            failures.append(f"{label}: {response.status_code} {' | '.join(lines[:6])[:400]}")

    try:
        examples()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body): the positive run covers it
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_the_api_keeps_to_its_document_under_generated_input(world: World) -> None:
    setup_packer(world.client, world.packer)  # something to find: a product, an area, a household, a lot
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) > 40
    for index, operation in enumerate(operations):
        for number, mode in enumerate((GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):
            role = ROLES[(index + number) % len(ROLES)]  # each run meets one role, in turn; every role many runs
            headers = getattr(world, role) if role else {}
            # Its own client network (through the trusted proxy, as the test client is local): the bad tokens
            # schemathesis sends count against it, not against every later operation (identity.throttle).
            network = {"X-Forwarded-For": f"10.{index}.{number}.1"}
            _run(operation, mode, {**headers, **network}, failures)
    assert failures == [], "\n\n".join(sorted(set(failures)))
