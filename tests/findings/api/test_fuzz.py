"""Schemathesis fuzzes every operation of the OpenAPI document, as an administrator and as a
reviewer, with every check it has: no server error, and every answer (status, content type,
headers, body) as documented; what the document allows is accepted, what it refuses is refused.

In-process against the WSGI app and the test database, which holds a little of everything (an
account, a release cycle with items, findings) so that operations reach their happy paths.
Derandomized (the same cases every run) and bounded in examples: a regression net, not a
search that goes on forever; run it with more examples locally when changing the API.
"""

from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from accounts.tokens import create_token
from findings.api.endpoints import OPENAPI
from iamreview.wsgi import application
from tests.findings.api.test_api import make_finding, release_cycle
from tests.findings.detection.test_detect import make_account

# The document the API serves at /api/schema (test_openapi.py holds the two equal), read here
# rather than fetched so that nothing touches a database before the test's own exists.
schema = schemathesis.openapi.from_dict(
    OPENAPI,
    config=SchemathesisConfig.from_dict(
        {
            "seed": 10,
            # Every check is enabled by default; `database: none` writes no examples to disk.
            "generation": {
                "max-examples": 12,
                "deterministic": True,
                "database": "none",
                # The test sends the token itself (the ignored_auth check still calls without
                # it); generated Authorization headers would be overridden and mislead the checks.
                "with-security-parameters": False,
                # No string may hold a NUL anywhere (the input guard's documented 400, said in the
                # API's description): JSON Schema cannot say that once for every string.
                "allow-x00": False,
            },
        }
    ),
)
schema.app = application

# What exists in the test's database; the hooks below point generated requests at it.
existing: dict = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half of the well-formed ids name a cycle or item that exists: the happy paths."""
    choices = [st.just(path_parameters)]
    for name, value in (path_parameters or {}).items():
        ids = existing.get(name)
        if ids and isinstance(value, int) and not isinstance(value, bool):
            choices.append(
                st.sampled_from(ids).map(lambda id_, n=name: {**path_parameters, n: id_})
            )
    return st.one_of(choices)


def refer_to_what_exists(case) -> None:
    """What the document cannot say, in requests it says are valid: a release names at least
    one role iamreview knows, a delegate is an active reviewer, a risk expires within a year,
    a justification on a high item has 20 characters, a suggestion is asked for a principal
    iamreview knows."""
    positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
    if not positive:
        return
    if case.operation.path == "/api/principals/suggestion" and case.query:
        case.query["arn"] = existing["role_arn"]
    body = case.body if isinstance(case.body, dict) else {}
    if case.operation.path == "/api/releases" and body.get("role_arns"):
        body["role_arns"] = [*body["role_arns"][:-1], existing["role_arn"]]
    if case.operation.path == "/api/items/{item_id}/decisions":
        if isinstance(body.get("justification"), str):
            # Critical and high items need 20 characters, which the document describes.
            body["justification"] = (body["justification"].strip() or "x").ljust(20, "x")
        if body.get("delegate_to"):
            body["delegate_to"] = existing["delegate"]
        if body.get("expires_on"):
            body["expires_on"] = (timezone.localdate() + timedelta(days=30)).isoformat()


@pytest.fixture
def one_connection():
    """The test's database connection stays open between requests, as Django's test client
    keeps it (a WSGI request would close it at its end, and the test's transaction with it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def a_little_of_everything(one_connection, administrator, reviewer, second_reviewer, approver):
    account = make_account()
    cycle = release_cycle(account, administrator)
    make_finding(account, "arn:aws:iam::111122223333:role/legacy", severity="low")
    items = list(cycle.items.order_by("id"))
    existing.update(
        cycle_id=[cycle.pk],
        item_id=[item.pk for item in items],
        role_arn=items[0].subject_arn,
        delegate=second_reviewer.email,
    )
    yield
    existing.clear()


@pytest.mark.parametrize("persona", ["administrator", "reviewer"])
@schema.parametrize()
@hypothesis.settings(
    deadline=None,
    # The database fixtures are function-scoped on purpose: every example sees the same data.
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_the_api_behaves_as_its_openapi_document_says(
    case, persona, a_little_of_everything, request
):
    refer_to_what_exists(case)
    _, token = create_token(user=request.getfixturevalue(persona), name="schemathesis")
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
