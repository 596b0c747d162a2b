"""GET /api/principals/suggestion answers what `manage.py suggest_policy --format json` prints."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.tokens import create_token
from tests.findings.api.test_api import Api
from tests.findings.rightsizing.test_selectors import legacy_batch, production  # noqa: F401

pytestmark = pytest.mark.django_db


def api_for(client, user) -> Api:
    _, raw = create_token(user=user, name="tests")
    return Api(client, raw)


def test_an_auditor_gets_the_same_object_as_the_command(client, auditor, legacy_batch):  # noqa: F811
    response = api_for(client, auditor).get(
        "/api/principals/suggestion", {"arn": legacy_batch.arn, "unused_days": "30"}
    )
    assert response.status_code == 200
    out = StringIO()
    call_command(
        "suggest_policy",
        "--arn",
        legacy_batch.arn,
        "--unused-days",
        "30",
        "--format",
        "json",
        stdout=out,
    )
    printed = json.loads(out.getvalue())
    answered = response.json()
    assert answered["arn"] == legacy_batch.arn and answered["unused_days"] == 30
    assert answered["removed_services"] == printed["removed_services"]
    assert answered["changes"] == printed["changes"]


def test_an_unknown_principal_is_a_404(client, auditor, production):  # noqa: F811
    response = api_for(client, auditor).get(
        "/api/principals/suggestion", {"arn": "arn:aws:iam::111122223333:role/nobody"}
    )
    assert response.status_code == 404
    assert "No user or role" in response.json()["error"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "arn"),
        ({"arn": "not-an-arn"}, "arn"),
        ({"arn": "arn:aws:iam::1:role/x", "unused_days": "0"}, "unused_days"),
        ({"arn": "arn:aws:iam::1:role/x", "unused_days": "99999999999999999999999"}, "unused_days"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(client, auditor, params, field):
    response = api_for(client, auditor).get("/api/principals/suggestion", params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_people_without_a_role_get_no_suggestion(client, outsider):
    response = api_for(client, outsider).get(
        "/api/principals/suggestion", {"arn": "arn:aws:iam::1:role/x"}
    )
    assert response.status_code == 403
