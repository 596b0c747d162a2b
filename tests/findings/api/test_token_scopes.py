"""Token scopes: a release pipeline's token registers releases and reads, and nothing else.

A scope only narrows what the token's owner may do: the walk below gives the token to a person
holding every role, so that each refusal is the scope's, and checks every API route there is
(new ones included: closed to the pipeline unless declared open to it).
"""

import json
import re

import pytest

from accounts.models import ApiToken
from accounts.permissions import Role
from accounts.tokens import create_token
from findings.api.endpoints import OPENAPI
from findings.models import ReviewCycle
from tests.accounts.test_permissions import all_patterns, is_api
from tests.conftest import make_person
from tests.findings.api.test_api import Api, release_cycle
from tests.findings.detection.test_detect import iam_role, make_account

PIPELINE = ApiToken.Scope.RELEASE_PIPELINE
# What a release pipeline's token may call; every other route answers it 403.
PIPELINE_ROUTES = {
    "api-releases",
    "api-cycles",
    "api-cycle",
    "api-cycle-sign-off-summary",
    "api-findings",
    "api-principal-suggestion",
    "api-unknown",  # a 404 for any token: the path does not exist
}


@pytest.fixture
def account(db):
    return make_account()


def token_of(client, user, scope=PIPELINE) -> Api:
    _, raw = create_token(user=user, name="release pipeline", scope=scope)
    return Api(client, raw)


def everyone():
    return make_person("ci-bot@example.com", *Role)


def request_for(route: str, name: str, method: str, *, cycle, item, role_arn: str):
    """The path (real ids, so that an allowed call succeeds) and what the call sends."""
    path = "/" + route.replace("^", "").replace("$", "")
    path = re.sub(r"<int:cycle_id>", str(cycle.pk), path)
    path = re.sub(r"<int:item_id>", str(item.pk), path)
    path = re.sub(r"<(\w+:)?\w+>", "no-such-endpoint", path)
    assert "<" not in path, route
    sends = {
        "api-releases": {"application": "checkout", "version": "2.0.0", "role_arns": [role_arn]},
        "api-principal-suggestion": {"arn": role_arn},
        "api-item-decisions": {"decision": "keep", "justification": "the pipeline says so"},
    }
    return path, sends.get(name, {})


def call(api: Api, method: str, path: str, data: dict):
    if method == "GET":
        return api.get(path, data)
    return api.client.generic(
        method, path, json.dumps(data), "application/json", headers=api.headers
    )


@pytest.mark.django_db
def test_a_token_that_may_register_releases_cannot_also_decide_items(client, reviewer, account):
    """Least privilege for a pipeline (review r3): a Reviewer's token registered the release
    and could then decide the review of its own release."""
    arn = iam_role(account, "checkout-api").arn
    pipeline = token_of(client, reviewer)
    opened = pipeline.post(
        "/api/releases", {"application": "checkout", "version": "1", "role_arns": [arn]}
    )
    assert opened.status_code == 201
    item = ReviewCycle.objects.get(pk=opened.json()["cycle"]["id"]).items.get()
    decided = pipeline.decide(item, decision="keep", justification="the pipeline says so, fine")
    assert decided.status_code == 403, "the release pipeline's token decided its own review item"
    assert "release-pipeline" in decided.json()["error"]
    assert not item.decisions.exists()

    # Its owner's full token still decides: the scope narrowed the token, not the person.
    full = token_of(client, reviewer, scope=ApiToken.Scope.FULL)
    assert full.decide(item, decision="keep", justification="needed by checkout").status_code == 201


@pytest.mark.django_db
def test_a_pipeline_token_reaches_only_the_routes_meant_for_it(client, account):
    person = everyone()
    cycle = release_cycle(account, person)
    item = cycle.items.order_by("id").first()
    role_arn = item.subject_arn
    pipeline = token_of(client, person)
    walked = set()
    for route, pattern in all_patterns():
        if not is_api(pattern) or pattern.callback.api_public:
            continue
        walked.add(pattern.name)
        for method in pattern.callback.http_methods:
            path, data = request_for(
                route, pattern.name, method, cycle=cycle, item=item, role_arn=role_arn
            )
            response = call(pipeline, method, path, data)
            where = (method, path, response.status_code, response.content[:200])
            if pattern.name in PIPELINE_ROUTES:
                expected = {404} if pattern.name == "api-unknown" else {200, 201}
                assert response.status_code in expected, where
            else:
                assert response.status_code == 403, where
                assert response.json()["error"].startswith("Requires a token of the full"), where
    assert walked >= PIPELINE_ROUTES
    assert walked >= {"api-item-decisions", "api-cycle-sign-off", "api-cycle-evidence"}
    assert not item.decisions.exists()
    cycle.refresh_from_db()
    assert cycle.signed_off_at is None


@pytest.mark.django_db
def test_the_same_person_s_full_token_is_refused_nothing(client, account):
    """The walk's refusals are the scope's: a full token of the same person gets none."""
    person = everyone()
    cycle = release_cycle(account, person)
    item = cycle.items.order_by("id").first()
    full = token_of(client, person, scope=ApiToken.Scope.FULL)
    for route, pattern in all_patterns():
        if not is_api(pattern) or pattern.callback.api_public:
            continue
        for method in pattern.callback.http_methods:
            path, _ = request_for(
                route, pattern.name, method, cycle=cycle, item=item, role_arn=item.subject_arn
            )
            response = call(full, method, path, {})
            where = (method, path, response.content[:200])
            # 403 only for the cycle's own reasons (items still wait for a decision).
            assert response.status_code != 401, where
            if response.status_code == 403:
                assert not response.json()["error"].startswith("Requires"), where


@pytest.mark.django_db
def test_a_pipeline_token_never_does_more_than_its_owner(client, auditor, account):
    """An auditor may not register releases; their pipeline token may not either, and the
    evidence pack the auditor may read stays closed to it."""
    cycle = release_cycle(account, make_person("rita@example.com", Role.REVIEWER))
    pipeline = token_of(client, auditor)
    registered = pipeline.post(
        "/api/releases",
        {"application": "checkout", "version": "9", "role_arns": [iam_role(account, "x").arn]},
    )
    assert registered.status_code == 403
    assert registered.json()["error"].startswith("Requires the decide_review_items")
    assert pipeline.get(f"/api/cycles/{cycle.pk}/evidence").status_code == 403
    assert pipeline.get(f"/api/cycles/{cycle.pk}").status_code == 200


def test_the_openapi_document_lists_the_scopes_each_operation_takes():
    pipeline_operations = {
        "registerRelease",
        "listCycles",
        "getCycle",
        "getSignOffSummary",
        "listFindings",
        "getPolicySuggestion",
    }
    for operations in OPENAPI["paths"].values():
        for operation in operations.values():
            if "security" not in operation:
                assert "x-token-scopes" not in operation
                continue
            expected = ["full", "release-pipeline"]
            if operation["operationId"] not in pipeline_operations:
                expected = ["full"]
            assert operation["x-token-scopes"] == expected, operation["operationId"]
    assert "release-pipeline" in OPENAPI["info"]["description"]
    assert (
        "release-pipeline" in OPENAPI["components"]["securitySchemes"]["bearerAuth"]["description"]
    )
